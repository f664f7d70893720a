{#-
    The model has exactly one row per distinct non-blank key of the source, plus one row per
    source row whose key is blank: deduplication merges versions, and never drops a row.
    With blank_keys_kept=false the model leaves out rows with a blank key, so it has exactly
    one row per distinct non-blank key.
-#}
{% test one_row_per_key_of(model, source_relation, source_key, blank_keys_kept=true) %}
{%- set since = ces_checked_since() %}
{%- set since = since if since is not none and ces_scoped_model_of(model) is not none else none %}
{%- if since is not none %}
{#- The `changed` check scope (macros/check_scope.sql): every non-blank key landed since the
    last checked run has its row, rewritten since (a new version is always restaged); the
    unique test on the key proves there is only one. Blank keys and rows without a source
    row are checked by the whole-table form (ces build --full-checks). #}
with
landed as (
    {#- as staging writes the key: an id holding personal data becomes its pseudonym -#}
    select distinct {{ mask_identifier("nullif(trim(" ~ source_key ~ "), '')") }} as landed_key
    from {{ source_relation }}
    where _loaded_at >= {{ since }} and nullif(trim({{ source_key }}), '') is not null
),
written as (
    select {{ source_key }} as written_key
    from {{ model }}
    where refreshed_at > {{ since }}
)
select landed.landed_key as key_without_row
from landed
left join written on landed.landed_key = written.written_key
where written.written_key is null
{%- else %}

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
{%- endif %}

{% endtest %}
