{#-
    Order-independent content checksums, used by the incremental period table to find the
    periods whose source rows changed (docs/architecture.md, "Incremental runs").

    row_hash(columns)      a 64-bit hash of one row's values (nulls included)
    hash_sum(expression)   the exact sum of row hashes (a wide integer; sums of sums stay exact)
    checksum_fold(expr)    a hash_sum folded to a bigint, the value stored in the table
-#}
{% macro row_hash(columns) -%}
    {{ return(adapter.dispatch('row_hash')(columns)) }}
{%- endmacro %}

{% macro duckdb__row_hash(columns) -%}
    hash({{ columns | join(', ') }})
{%- endmacro %}

{#- Spark's xxhash64 skips null arguments, so (a, null) and (null, a) would hash alike:
    it hashes the values joined with nulls marked, as the default does. -#}
{% macro spark__row_hash(columns) -%}
    xxhash64(concat_ws('|',
        {%- for column in columns %}
            coalesce(cast({{ column }} as string), '<null>'){% if not loop.last %},{% endif %}
        {%- endfor %}
    ))
{%- endmacro %}

{% macro default__row_hash(columns) -%}
    ('x' || substr(md5(concat_ws('|',
        {%- for column in columns %}
            coalesce(cast({{ column }} as {{ dbt.type_string() }}), '<null>'){% if not loop.last %},{% endif %}
        {%- endfor %}
    )), 1, 15))::bit(60)::bigint
{%- endmacro %}

{% macro hash_sum(expression) -%}
    {{ return(adapter.dispatch('hash_sum')(expression)) }}
{%- endmacro %}

{% macro duckdb__hash_sum(expression) -%}
    sum(cast({{ expression }} as hugeint))
{%- endmacro %}

{% macro spark__hash_sum(expression) -%}
    sum(cast({{ expression }} as decimal(38, 0)))
{%- endmacro %}

{% macro default__hash_sum(expression) -%}
    sum(cast({{ expression }} as numeric))
{%- endmacro %}

{% macro checksum_fold(expression) -%}
    cast(({{ expression }}) % 9223372036854775783 as bigint)
{%- endmacro %}
