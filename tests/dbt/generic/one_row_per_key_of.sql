{#-
    The model has exactly one row per distinct non-blank key of the source, plus one row per
    source row whose key is blank: deduplication merges versions, and never drops a row.
    With blank_keys_kept=false the model leaves out rows with a blank key, so it has exactly
    one row per distinct non-blank key.
-#}
{% test one_row_per_key_of(model, source_relation, source_key, blank_keys_kept=true) %}

with

expected as (

    select
        count(distinct nullif(trim({{ source_key }}), ''))
        {%- if blank_keys_kept %}
        + sum(case when nullif(trim({{ source_key }}), '') is null then 1 else 0 end)
        {%- endif %}
            as row_count
    from {{ source_relation }}

),

actual as (

    select count(*) as row_count from {{ model }}

)

select
    expected.row_count as expected_rows,
    actual.row_count as actual_rows
from expected
cross join actual
where coalesce(expected.row_count, 0) <> actual.row_count

{% endtest %}
