{#-
    Custom schemas are used as-is (`staging`, `marts` ...) instead of dbt's default
    `<target_schema>_<custom>`, so the warehouse has exactly the schemas the design names.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
