{#- The model has exactly `expected` rows (a one-row summary table, say). -#}
{% test row_count_is(model, expected) %}

select count(*) as row_count
from {{ model }}
having count(*) <> {{ expected }}

{% endtest %}
