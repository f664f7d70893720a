{#-
    Backfill: true for a date within vars reprocess_from / reprocess_to (either bound may be
    left out), false when neither var is set. `ces build --from D --to D` sets them.
-#}
{% macro in_reprocess_window(date_expr) -%}
    {%- set reprocess_from = var('reprocess_from', none) -%}
    {%- set reprocess_to = var('reprocess_to', none) -%}
    {%- if reprocess_from is none and reprocess_to is none -%}
        false
    {%- else -%}
        (
            true
            {%- if reprocess_from is not none %}
            and {{ date_expr }} >= cast('{{ reprocess_from }}' as date)
            {%- endif %}
            {%- if reprocess_to is not none %}
            and {{ date_expr }} <= cast('{{ reprocess_to }}' as date)
            {%- endif %}
        )
    {%- endif -%}
{%- endmacro %}

{#- The start of this dbt run (UTC), the value of every `refreshed_at` the run writes. -#}
{% macro run_started_timestamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#-
    The newest refreshed_at of this incremental model, the watermark of its upstream
    changes (a date long past when the table is empty).
-#}
{% macro refreshed_watermark() -%}
    coalesce((select max(refreshed_at) from {{ this }}), cast('1900-01-01' as {{ dbt.type_timestamp() }}))
{%- endmacro %}

{#-
    Post-hook of an incremental response fact: remove the answers whose latest version is
    no longer an accepted answer of `metric`.
-#}
{% macro delete_answers_no_longer_accepted(metric) -%}
    {% if is_incremental() %}
        delete from {{ this }}
        where response_id in (
            select response_id from {{ ref('int_answers_scored') }}
            where reject_reason is not null or metric <> '{{ metric }}'
        )
    {% endif %}
{%- endmacro %}
