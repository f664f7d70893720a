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
    The project's now (UTC): var clock_now when the clock is pinned (CES_NOW, passed by the
    dbt step), else the start of this dbt run. What "now" means for the data: the
    future-timestamp check and the default as-of date. Bookkeeping (refreshed_at) always
    uses run_started_timestamp(), so incremental watermarks keep moving forward.
-#}
{% macro clock_now_timestamp() -%}
    {%- if var('clock_now', none) -%}
        cast('{{ var("clock_now") }}' as {{ dbt.type_timestamp() }})
    {%- else -%}
        {{ run_started_timestamp() }}
    {%- endif -%}
{%- endmacro %}

{#- The as-of date of the reports: var as_of_date, else the UTC date of the project's now. -#}
{% macro as_of_date() -%}
    {%- if var('as_of_date', none) -%}
        cast('{{ var("as_of_date") }}' as date)
    {%- else -%}
        cast({{ clock_now_timestamp() }} as date)
    {%- endif -%}
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
    {% if is_incremental() and execute %}
        {%- set condition -%}
            response_id in (
                select response_id from {{ ref('int_answers_scored') }}
                where reject_reason is not null or metric <> '{{ metric }}'
            )
        {%- endset -%}
        {{ delete_where(this, condition) }}
    {% endif %}
{%- endmacro %}

{#- DELETE … WHERE (`condition` on the table's columns, alias t on Spark); Spark's parquet
    tables have none (spark_rewrite_partitions, macros/spark.sql). -#}
{% macro delete_where(relation, condition) -%}
    {{ return(adapter.dispatch('delete_where', 'ces_warehouse')(relation, condition)) }}
{%- endmacro %}

{% macro default__delete_where(relation, condition) -%}
    delete from {{ relation }} where {{ condition }}
{%- endmacro %}

{% macro spark__delete_where(relation, condition) -%}
    {{ spark_rewrite_partitions(relation, condition) }}
{%- endmacro %}
