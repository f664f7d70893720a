{#-
    Parsing text from raw into types. Raw keeps every landed field as text; staging uses
    these macros so that a value that does not parse becomes null (and is reported by the
    audit models) instead of failing the build. Dialect-specific SQL lives only here.
-#}

{#- A timestamp as UTC (no time zone). Text with an offset is converted to UTC; text
    without an offset is taken as UTC (the landing contract says so). -#}
{% macro parse_timestamp_utc(expr) -%}
    {{ return(adapter.dispatch('parse_timestamp_utc', 'ces_warehouse')(expr)) }}
{%- endmacro %}

{% macro duckdb__parse_timestamp_utc(expr) -%}
    (try_cast(trim({{ expr }}) as timestamptz) at time zone 'UTC')
{%- endmacro %}

{#- Spark 4 casts with ANSI mode on (a bad value raises): try_cast gives null instead.
    With the session time zone UTC, text with an offset converts to UTC and text without
    one is taken as UTC. -#}
{% macro spark__parse_timestamp_utc(expr) -%}
    try_cast(trim({{ expr }}) as timestamp)
{%- endmacro %}

{#- PostgreSQL has no try_cast: ces_parse_timestamp_utc (created by
    create_parsing_functions) returns null for text it cannot cast. -#}
{% macro default__parse_timestamp_utc(expr) -%}
    {{ target.schema }}.ces_parse_timestamp_utc({{ expr }})
{%- endmacro %}

{#- on-run-start: the helper functions the default (PostgreSQL) parsers call. -#}
{% macro create_parsing_functions() -%}
    {{ return(adapter.dispatch('create_parsing_functions', 'ces_warehouse')()) }}
{%- endmacro %}

{% macro duckdb__create_parsing_functions() -%}
    select 1
{%- endmacro %}

{#- Spark, like DuckDB, parses with built-in functions (try_cast): nothing to create. -#}
{% macro spark__create_parsing_functions() -%}
    select 1
{%- endmacro %}

{% macro default__create_parsing_functions() -%}
    create or replace function {{ target.schema }}.ces_parse_timestamp_utc(value text)
    returns timestamp
    language plpgsql immutable
    as $$
    declare
        cleaned text := trim(value);
    begin
        if cleaned !~ '^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$' then
            return null;
        end if;
        -- an offset (only after a time of day) converts to UTC; no offset means UTC
        if cleaned ~ '[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$' then
            return cast(cast(cleaned as timestamptz) at time zone 'UTC' as timestamp);
        end if;
        return cast(cleaned as timestamp);
    exception when others then
        return null;
    end
    $$
{%- endmacro %}

{#- A whole number, or null when the text is not one. -#}
{% macro parse_integer(expr) -%}
    {{ return(adapter.dispatch('parse_integer', 'ces_warehouse')(expr)) }}
{%- endmacro %}

{% macro duckdb__parse_integer(expr) -%}
    try_cast(trim({{ expr }}) as bigint)
{%- endmacro %}

{#- (Spark's try_cast makes "1.5" a 1: only whole-number text is cast.) -#}
{% macro spark__parse_integer(expr) -%}
    (case when {{ regex_full_match('trim(' ~ expr ~ ')', '^[+-]?[0-9]{1,18}$') }} then cast(trim({{ expr }}) as bigint) end)
{%- endmacro %}

{% macro default__parse_integer(expr) -%}
    (case when trim({{ expr }}) ~ '^[+-]?\d{1,18}$' then cast(trim({{ expr }}) as bigint) end)
{%- endmacro %}

{#- A decimal number written with a dot ("6", "6.0", "-1.5"); "6,5" and "banana" are null. -#}
{% macro parse_decimal(expr) -%}
    (case
        when {{ regex_full_match(expr, '^\s*[+-]?[0-9]+(\.[0-9]+)?\s*$') }}
        then cast(trim({{ expr }}) as {{ type_double() }})
    end)
{%- endmacro %}

{% macro regex_full_match(expr, pattern) -%}
    {{ return(adapter.dispatch('regex_full_match', 'ces_warehouse')(expr, pattern)) }}
{%- endmacro %}

{% macro duckdb__regex_full_match(expr, pattern) -%}
    regexp_full_match({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{#- Spark string literals read a backslash as an escape: the pattern's are doubled. -#}
{% macro spark__regex_full_match(expr, pattern) -%}
    ({{ expr }} rlike '{{ pattern | replace("\\", "\\\\") }}')
{%- endmacro %}

{% macro default__regex_full_match(expr, pattern) -%}
    ({{ expr }} ~ '{{ pattern }}')
{%- endmacro %}

{#- Does text contain a match of a regular expression held in a column (a registry's)? -#}
{% macro regex_search(expr, pattern_expr) -%}
    {{ return(adapter.dispatch('regex_search', 'ces_warehouse')(expr, pattern_expr)) }}
{%- endmacro %}

{% macro duckdb__regex_search(expr, pattern_expr) -%}
    regexp_matches({{ expr }}, {{ pattern_expr }})
{%- endmacro %}

{% macro spark__regex_search(expr, pattern_expr) -%}
    ({{ expr }} rlike {{ pattern_expr }})
{%- endmacro %}

{% macro default__regex_search(expr, pattern_expr) -%}
    ({{ expr }} ~ {{ pattern_expr }})
{%- endmacro %}
