{#- Every listed column is non-null on every row, in one scan of the model instead of one
    test per column (issue 21: 188 single-column tests were most of the build's nodes).
    A failure is one row with the number of null rows per column (`<column>_null_rows`),
    so the failing column is named in the stored failure and in `dbt test` output. -#}
{% test columns_not_null(model, column_names) %}

select
    {%- for column in column_names %}
        sum(case when {{ column }} is null then 1 else 0 end) as {{ column }}_null_rows
        {{- "," if not loop.last }}
    {%- endfor %}
from {{ model }}
having
    {%- for column in column_names %}
        {{ "or " if not loop.first }}sum(case when {{ column }} is null then 1 else 0 end) > 0
    {%- endfor %}

{% endtest %}
