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
