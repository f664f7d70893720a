{#-
    PostgreSQL access for BI users. The marts carry `grants: select: [bi_reader]`
    (dbt_project.yml); these hooks create the role and open the marts schema to it. The
    role can log in, but has no password until an administrator sets one
    (`alter role bi_reader password '…'`) or grants it to BI users' own roles. It gets no
    access to raw, audit, staging or intermediate. DuckDB has no roles: BI users read the
    separate serving copy instead, so both hooks do nothing there.
-#}

{% macro create_bi_reader_role() -%}
    {{ return(adapter.dispatch('create_bi_reader_role', 'ces_warehouse')()) }}
{%- endmacro %}

{% macro duckdb__create_bi_reader_role() -%}
    select 1
{%- endmacro %}

{#- Plain Spark has no roles or grants (access control is the cluster's: Ranger, Unity
    Catalog ...); BI users reach the marts through the Thrift endpoint. -#}
{% macro spark__create_bi_reader_role() -%}
    select 1
{%- endmacro %}

{% macro default__create_bi_reader_role() -%}
    do $$
    begin
        if not exists (select 1 from pg_roles where rolname = 'bi_reader') then
            create role bi_reader login;
        end if;
    end
    $$
{%- endmacro %}

{% macro grant_marts_schema_usage() -%}
    {{ return(adapter.dispatch('grant_marts_schema_usage', 'ces_warehouse')()) }}
{%- endmacro %}

{% macro duckdb__grant_marts_schema_usage() -%}
    select 1
{%- endmacro %}

{% macro spark__grant_marts_schema_usage() -%}
    select 1
{%- endmacro %}

{% macro default__grant_marts_schema_usage() -%}
    do $$
    begin
        if exists (select 1 from pg_namespace where nspname = 'marts') then
            grant usage on schema marts to bi_reader;
        end if;
    end
    $$
{%- endmacro %}
