{#-
    Apache Spark (plain parquet tables, no Delta or Iceberg): what the models need that
    dbt-spark does not give. The Spark versions of the project's dialect macros sit beside
    their DuckDB and PostgreSQL versions (parsing.sql, privacy.sql, metrics.sql,
    checksums.sql); this file holds the incremental strategy and the contract types.
-#}

{#-
    delete+insert on Spark. Parquet tables have no DELETE or MERGE, so an incremental model
    on Spark is partitioned (config partition_by: one column, never null) and a run rewrites
    only the partitions it touches (spark_rewrite_partitions below): the old rows whose key
    is among the new rows go, the new rows come in. The result equals DuckDB's
    delete+insert (the parity test, tests/test_spark.py).
-#}
{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) %}
    {%- if raw_strategy == 'delete+insert' -%}
        {%- if not config.get('partition_by') or not config.get('unique_key') -%}
            {% do exceptions.raise_compiler_error(
                "delete+insert on Spark needs unique_key and partition_by (macros/spark.sql)") %}
        {%- endif -%}
        {% do return(raw_strategy) %}
    {%- endif -%}
    {% do return(dbt_spark.dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format)) %}
{% endmacro %}

{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) %}
    {%- if strategy != 'delete+insert' -%}
        {{ return(dbt_spark.dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates)) }}
    {%- endif -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- set new_keys = '(select distinct ' ~ keys | join(', ') ~ ' from ' ~ source ~ ')' -%}
    {%- set replaced -%}
        exists (select 1 from {{ new_keys }} as s where
            {%- for key in keys %} s.{{ key }} = t.{{ key }}{% if not loop.last %} and{% endif %}{% endfor %})
    {%- endset -%}
    {#- the new rows are a view on the model's SQL, read four times below: computed once -#}
    {% do run_query("cache table " ~ source) %}
    {%- if run_query("select count(*) from " ~ source).columns[0].values()[0] == 0 -%}
        {% do run_query("uncache table if exists " ~ source) %}
        {{ return("select 'nothing new: no partition rewritten' as outcome") }}
    {%- endif -%}
    {{ return(spark_rewrite_partitions(target, replaced, source)) }}
{% endmacro %}

{#-
    The one way rows leave an incremental Spark table: the rows of `relation` (alias t)
    matching `removed` go, and the rows of `added` (a relation with the same columns, or
    none) come in. Every partition that holds a removed row or an added one is rewritten
    in one `insert overwrite` in dynamic partition mode; a partition whose rows are all
    removed and that gains none would have nothing to write and keep its rows, so those are
    dropped first. delete+insert (above) and delete_where (macros/reprocess.sql) use it.
-#}
{% macro spark_rewrite_partitions(relation, removed, added=none) -%}
    {%- set partition = config.get('partition_by') -%}
    {%- set partition = partition[0] if partition is not string else partition -%}
    {%- set columns = adapter.get_columns_in_relation(relation) | map(attribute='quoted') | join(', ') -%}
    {% do run_query("set spark.sql.sources.partitionOverwriteMode = DYNAMIC") %}
    {%- set emptied_sql -%}
        select t.{{ partition }}
        from {{ relation }} as t
        {%- if added is not none %}
        where t.{{ partition }} not in (select {{ partition }} from {{ added }})
        {%- endif %}
        group by t.{{ partition }}
        having count(case when {{ removed }} then 1 end) = count(*)
    {%- endset -%}
    {% do spark_drop_partitions(relation, partition, emptied_sql) %}
    insert overwrite table {{ relation }} partition ({{ partition }})
    select {{ columns }} from {{ relation }} as t
    where t.{{ partition }} in (
            select t.{{ partition }} from {{ relation }} as t where {{ removed }}
            {%- if added is not none %}
            union
            select {{ partition }} from {{ added }}
            {%- endif %}
        )
        and not coalesce({{ removed }}, false)
    {%- if added is not none %}
    union all
    select {{ columns }} from {{ added }}
    {%- endif %}
{%- endmacro %}

{#- Drop the partitions of `relation` whose values of column `partition` the query
    `values_sql` returns. -#}
{% macro spark_drop_partitions(relation, partition, values_sql) -%}
    {%- for value in run_query(values_sql).columns[0].values() %}
        {% do run_query("alter table " ~ relation ~ " drop if exists partition (" ~ partition ~ " = " ~ spark_partition_literal(value) ~ ")") %}
    {%- endfor %}
{%- endmacro %}

{#- A partition value (from run_query) as a Spark literal. -#}
{% macro spark_partition_literal(value) -%}
    {%- if value is none -%}null
    {%- elif value is number -%}{{ value }}
    {%- else -%}'{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}

{#-
    Contracts declare the portable types (text, double precision); Spark calls them string
    and double. dbt compares a contract with the model by the types the engine reports for
    both, so naming the Spark types in the empty-schema query is enough.
-#}
{% macro spark__get_empty_schema_sql(columns) %}
    {%- set spark_types = {'text': 'string', 'double precision': 'double'} -%}
    {%- set translated = {} -%}
    {%- for name in columns -%}
        {%- set col = columns[name].copy() if columns[name] is mapping else columns[name] -%}
        {%- if col['data_type'] is defined and col['data_type'] | lower in spark_types -%}
            {%- do col.update({'data_type': spark_types[col['data_type'] | lower]}) -%}
        {%- endif -%}
        {%- do translated.update({name: col}) -%}
    {%- endfor -%}
    {{ return(dbt.default__get_empty_schema_sql(translated)) }}
{% endmacro %}

{#- The double-precision float type (Spark calls it double). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'ces_warehouse')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}

{#- dbt-spark's listagg ignores the order (collect_list has none); the fingerprints of
    the registry need it: the values are sorted by the order-by columns first. -#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if not order_by_clause -%}
        {{ return(dbt_spark.spark__listagg(measure, delimiter_text, order_by_clause, limit_num)) }}
    {%- endif -%}
    {%- set keys = (order_by_clause | replace('order by', '') | trim).split(',') -%}
    {%- set fields -%}
        {%- for key in keys %}{{ key | trim }} as k{{ loop.index }}, {% endfor -%}
        {{ measure }} as v
    {%- endset -%}
    {%- do return('array_join(transform(array_sort(collect_list(struct(' ~ fields ~ '))), x -> x.v), ' ~ delimiter_text ~ ')') -%}
{%- endmacro %}
