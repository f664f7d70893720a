{#-
    Checks that scale with what a build changed (issue 21).

    `ces build` passes the var ces_check_scope: `changed` on a daily build, `all` with
    `ces build --full-checks`. Without the var (a plain `dbt build` or `dbt test`) every
    test reads whole tables and nothing is recorded.

    audit.check_watermark holds the start time of every `ces build` dbt run whose data
    tests all passed. In the `changed` scope, a data test on an incremental model with a
    refreshed_at column reads only the rows written after the last such run started
    (refreshed_at > it; that run's own rows, refreshed_at = it, passed its tests): older
    rows passed the same test when they were written, and a row is never changed without
    being rewritten. A run with a failing test records nothing, so the
    next run checks its rows again. Per test kind:

    - row by row (columns_not_null, not_null, value_in_range, accepted_values,
      accepted_xor_rejected): the rows written since;
    - unique, unique_combination_of_columns: every row whose key is a key written since
      (a duplicate always involves a row written since, because older rows were unique);
    - one_row_per_key_of: every key landed since has its row (tests/dbt/generic);
    - relationships and row_count_is read whole tables: the parent of a relationship is
      rebuilt in full, so an old row can lose its parent without being rewritten.

    Corruption of old rows by hand is found only by a full check: `ces build
    --full-checks` (also run by the scheduled weekly job, orchestration/schedules.py).
-#}

{% macro ces_checked_since() -%}
    {#- The SQL of the watermark (a scalar subquery), or none when this run checks whole tables. -#}
    {%- if var('ces_check_scope', none) == 'changed' and not flags.FULL_REFRESH -%}
        {{ return("(select coalesce(max(run_started_at), " ~ ces_epoch() ~ ") from audit.check_watermark)") }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}

{% macro ces_epoch() -%}
    cast('1900-01-01 00:00:00' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro ces_scoped_test_node(test_node) -%}
    {#- The model a data test is attached to when its tests are scoped (ces_scoped_model). -#}
    {%- set attached = graph.nodes.get(test_node.attached_node) if test_node.attached_node else none -%}
    {{ return(ces_scoped_model(attached)) }}
{%- endmacro %}

{% macro ces_scoped_model_of(relation) -%}
    {#- The same for a test macro, which sees only the relation it tests. -#}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and node.alias == relation.identifier
            and node.schema == relation.schema -%}
            {{ return(ces_scoped_model(node)) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}

{% macro ces_scoped_model(node) -%}
    {#- The model when it is incremental with a refreshed_at column, else none. -#}
    {{ return(node if node is not none and node.config.materialized == 'incremental'
        and 'refreshed_at' in node.columns else none) }}
{%- endmacro %}

{#- dbt calls this for the `{{ model }}` of every generic test (dbt's own where config). -#}
{% macro get_where_subquery(relation) -%}
    {%- set since = ces_checked_since() -%}
    {%- set kind = (model.test_metadata or {}).get('name') if execute else none -%}
    {%- if since is none or kind is none or ces_scoped_test_node(model) is none -%}
        {{ return(adapter.dispatch('get_where_subquery', 'dbt')(relation)) }}
    {%- endif -%}
    {%- set kwargs = model.test_metadata.kwargs -%}
    {%- if kind in ('columns_not_null', 'not_null', 'value_in_range', 'accepted_values', 'accepted_xor_rejected') -%}
        {{ return("(select * from " ~ relation ~ " where refreshed_at > " ~ since ~ ") dbt_subquery") }}
    {%- elif kind in ('unique', 'unique_combination_of_columns') -%}
        {%- set keys = [kwargs.column_name] if kind == 'unique' else kwargs.combination_of_columns -%}
        {%- set matches = [] -%}
        {%- for key in keys -%}
            {%- do matches.append("written." ~ key ~ " = tested." ~ key) -%}
        {%- endfor -%}
        {#- a join on the distinct keys written since: a correlated `exists` was planned as a
            duplicate-eliminating join over every row (13-15 s at 10 M, the whole-table
            test 2 s), this one probes the table with a few thousand keys -#}
        {{ return(
            "(select tested.* from " ~ relation ~ " as tested inner join (select distinct "
            ~ keys | join(", ") ~ " from " ~ relation ~ " where refreshed_at > " ~ since
            ~ ") as written on " ~ matches | join(" and ") ~ ") dbt_subquery"
        ) }}
    {%- endif -%}
    {{ return(adapter.dispatch('get_where_subquery', 'dbt')(relation)) }}
{%- endmacro %}

{#- on-run-start (after `create schema if not exists audit`): the watermark table. -#}
{% macro create_check_watermark() -%}
    create table if not exists audit.check_watermark (
        run_started_at {{ dbt.type_timestamp() }},
        check_scope {{ dbt.type_string() }},
        invocation_id {{ dbt.type_string() }}
    ) {{ adapter.dispatch('check_watermark_table_options')() }}
{%- endmacro %}

{% macro default__check_watermark_table_options() %}{% endmacro %}

{% macro spark__check_watermark_table_options() %}using parquet{% endmacro %}

{#- on-run-end: record this run when it was given a check scope (`ces build` gives one),
    selected every node (dagster-dbt selects `fqn:*`) and every node succeeded. -#}
{% macro record_check_watermark(results) -%}
    {%- set scope = var('ces_check_scope', none) -%}
    {%- set selected = (invocation_args_dict.get('select') or []) | list -%}
    {%- set scope = scope if selected in ([], ['fqn:*']) and not invocation_args_dict.get('exclude') else none -%}
    {%- set failed = results | rejectattr('status', 'in', ['success', 'pass', 'warn']) | list -%}
    {%- set tests = results | selectattr('node.resource_type', 'equalto', 'test') | list -%}
    {%- if execute and scope in ('changed', 'all') and not failed and tests -%}
        insert into audit.check_watermark (run_started_at, check_scope, invocation_id)
        values (
            {{ run_started_timestamp() }},
            '{{ "full refresh" if flags.FULL_REFRESH else scope }}',
            '{{ invocation_id }}'
        )
    {%- else -%}
        select 1 as nothing_recorded
    {%- endif -%}
{%- endmacro %}
