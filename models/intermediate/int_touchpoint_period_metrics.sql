{%- set grains = ['day', 'week', 'month', 'quarter'] -%}
{%- set reprocess_from = var('reprocess_from', none) -%}
{%- set reprocess_to = var('reprocess_to', none) -%}
{#- name: (model, time column, columns the metrics read) -#}
{%- set sources = {
    'ces': ('fct_ces_responses', 'responded_at', ['ease_7pt', 'ease_0_100', 'effort_bucket', 'csat_5pt']),
    'csat': ('fct_csat_responses', 'responded_at', ['csat_5pt', 'is_satisfied']),
    'tickets': ('int_tickets_enriched', 'created_at', ['reopen_count', 'transfer_count', 'hours_to_resolution']),
} -%}
{{
    config(
        materialized='incremental',
        unique_key=['touchpoint_id', 'period_grain', 'period_start'],
        incremental_strategy='delete+insert',
        partition_by=('period_grain' if target.type == 'spark' else none),
        on_schema_change='fail',
    )
}}
-- The metrics of each touchpoint x period at four grains, computed from that period's
-- own rows (the comparison with the previous period is fct_ces_touchpoint_period's).
-- Periods are taken from the UTC answer time; weeks are ISO weeks (Monday start). Every
-- metric is defined in docs/metrics.md.
--
-- Incremental: a run recomputes only the periods whose source_checksum differs from the
-- stored one (new, re-sent, late, re-scored or removed rows; int_touchpoint_period_state)
-- and, with vars reprocess_from / reprocess_to, every period overlapping that date range.
-- A period left without CES answers keeps a removal row (metrics null, refreshed_at = the
-- run that removed it), so the period after it knows its comparison changed;
-- fct_ces_touchpoint_period leaves removal rows out. `--full-refresh` gives the same
-- periods (tested).
-- depends_on: {{ ref('int_touchpoint_day_state') }}

with

period_state as (

    select * from {{ ref('int_touchpoint_period_state') }}
    where n_ces > 0

),

{% if is_incremental() %}

    -- Periods whose content differs from the stored rows (or that appear or disappear).
    changed_periods as (

        select
            coalesce(n.touchpoint_id, o.touchpoint_id) as touchpoint_id,
            coalesce(n.period_grain, o.period_grain) as period_grain,
            coalesce(n.period_start, o.period_start) as period_start,
            n.touchpoint_id is null as is_removed
        from period_state as n
        full outer join {{ this }} as o
            on
                n.touchpoint_id = o.touchpoint_id
                and n.period_grain = o.period_grain
                and n.period_start = o.period_start
        where
            -- removed: stored with answers, none now (a removal row stays as it is)
            (n.touchpoint_id is null and o.n_responses is not null)
            -- new, changed, or back after a removal (whose checksum is null)
            or (
                n.touchpoint_id is not null
                and n.source_checksum is distinct from o.source_checksum
            )
        {% if reprocess_from is not none or reprocess_to is not none %}
            or (
                n.touchpoint_id is not null
                {% if reprocess_to is not none %}
                    and n.period_start <= cast('{{ reprocess_to }}' as date)
                {% endif %}
                {% if reprocess_from is not none %}
                    and {{ shifted_period_start('n.period_grain', 'n.period_start', 1) }}
                    > cast('{{ reprocess_from }}' as date)
                {% endif %}
            )
        {% endif %}

    ),

    -- The days whose rows the recomputed periods are computed from.
    needed_days as (

        select distinct d.touchpoint_id, d.source_day
        from {{ ref('int_touchpoint_day_state') }} as d
        inner join changed_periods as p
            on
                d.touchpoint_id = p.touchpoint_id
                and d.source_day >= p.period_start
                and d.source_day < {{ shifted_period_start('p.period_grain', 'p.period_start', 1) }}
        where not p.is_removed

    ),

{% endif %}

-- The source rows the metrics are computed from (in an incremental run: of the needed days).
{% for name, spec in sources.items() %}
    {%- set model, time_column, columns = spec %}
    {{ name }} as (

        select
            s.touchpoint_id,
            s.{{ time_column }},
            s.{{ columns | join(', s.') }}
        from {{ ref(model) }} as s
        {% if is_incremental() %}
            inner join needed_days as d
                on
                    s.touchpoint_id = d.touchpoint_id
                    and cast(s.{{ time_column }} as date) = d.source_day
        {% endif %}
        where s.{{ time_column }} is not null and s.touchpoint_id is not null

    ),
{% endfor %}

{% for grain in grains %}
    ces_by_{{ grain }} as (

        select
            touchpoint_id,
            '{{ grain }}' as period_grain,
            cast({{ dbt.date_trunc(grain, 'responded_at') }} as date) as period_start,
            count(*) as n_responses,
            avg(ease_7pt) as ces_mean_7pt,
            stddev_samp(ease_7pt) as ces_sd_7pt,
            avg(ease_0_100) as ces_index,
            sum(case when effort_bucket = 'easy' then 1 else 0 end) as n_easy,
            sum(case when effort_bucket = 'neutral' then 1 else 0 end) as n_neutral,
            sum(case when effort_bucket = 'difficult' then 1 else 0 end) as n_difficult,
            count(csat_5pt) as n_linked_pairs,
            {{ pearson_correlation('ease_7pt', 'csat_5pt') }} as ces_csat_corr
        from ces
        group by 1, 2, 3

    ),

    csat_by_{{ grain }} as (

        select
            touchpoint_id,
            '{{ grain }}' as period_grain,
            cast({{ dbt.date_trunc(grain, 'responded_at') }} as date) as period_start,
            count(*) as n_csat_responses,
            avg(csat_5pt) as csat_mean_5pt,
            100 * avg(cast(case when is_satisfied then 1 else 0 end as {{ type_double() }}))
                as csat_pct_satisfied
        from csat
        group by 1, 2, 3

    ),

    tickets_by_{{ grain }} as (

        select
            touchpoint_id,
            '{{ grain }}' as period_grain,
            cast({{ dbt.date_trunc(grain, 'created_at') }} as date) as period_start,
            count(*) as n_tickets,
            avg(cast(reopen_count as {{ type_double() }})) as avg_reopen_count,
            avg(cast(transfer_count as {{ type_double() }})) as avg_transfer_count,
            {{ median('hours_to_resolution') }} as median_hours_to_resolution
        from tickets
        group by 1, 2, 3

    ),

{% endfor %}

{% for name in ['ces', 'csat', 'tickets'] %}
    {{ name }}_groups as (
        {% for grain in grains %}
            select * from {{ name }}_by_{{ grain }}
            {% if not loop.last %}union all{% endif %}
        {% endfor %}
    ),
{% endfor %}

metrics as (

    select
        c.touchpoint_id,
        c.period_grain,
        c.period_start,
        c.n_responses,
        c.ces_mean_7pt,
        c.ces_sd_7pt,
        c.ces_index,
        cast(c.n_easy as {{ type_double() }}) / c.n_responses as pct_easy,
        cast(c.n_neutral as {{ type_double() }}) / c.n_responses as pct_neutral,
        cast(c.n_difficult as {{ type_double() }}) / c.n_responses as pct_difficult,
        100 * cast(c.n_easy - c.n_difficult as {{ type_double() }}) / c.n_responses as net_easy_score,
        {{ mean_ci95('c.ces_mean_7pt', 'c.ces_sd_7pt', 'c.n_responses', 'low') }} as ces_ci95_low,
        {{ mean_ci95('c.ces_mean_7pt', 'c.ces_sd_7pt', 'c.n_responses', 'high') }} as ces_ci95_high,
        {#- the same interval on the 0-100 scale: ease_0_100 = (ease_7pt - 1) * 100 / 6 -#}
        {{ mean_ci95('c.ces_index', 'c.ces_sd_7pt * 100.0 / 6', 'c.n_responses', 'low') }} as ces_index_ci95_low,
        {{ mean_ci95('c.ces_index', 'c.ces_sd_7pt * 100.0 / 6', 'c.n_responses', 'high') }} as ces_index_ci95_high,
        {{ wilson_interval('c.n_easy', 'c.n_responses', 'low') }} as pct_easy_ci95_low,
        {{ wilson_interval('c.n_easy', 'c.n_responses', 'high') }} as pct_easy_ci95_high,
        c.n_responses < 30 as is_low_sample,
        coalesce(s.n_csat_responses, 0) as n_csat_responses,
        s.csat_mean_5pt,
        s.csat_pct_satisfied,
        c.n_linked_pairs,
        c.ces_csat_corr,
        coalesce(t.n_tickets, 0) as n_tickets,
        t.avg_reopen_count,
        t.avg_transfer_count,
        t.median_hours_to_resolution
    from ces_groups as c
    left join csat_groups as s
        on
            c.touchpoint_id = s.touchpoint_id
            and c.period_grain = s.period_grain
            and c.period_start = s.period_start
    left join tickets_groups as t
        on
            c.touchpoint_id = t.touchpoint_id
            and c.period_grain = t.period_grain
            and c.period_start = t.period_start

),

-- The periods this run writes: every period with CES answers, or (incremental) the
-- changed ones, removed periods included (their metrics and checksum are null).
written as (

    select
        touchpoint_id,
        period_grain,
        period_start
    from {{ 'changed_periods' if is_incremental() else 'ces_groups' }}

),

final as (

    select
        w.touchpoint_id,
        w.period_grain,
        w.period_start,
        {%- for column in period_metric_columns() %}
            m.{{ column }},
        {%- endfor %}
        st.source_checksum,
        {{ run_started_timestamp() }} as refreshed_at
    from written as w
    left join metrics as m
        on
            w.touchpoint_id = m.touchpoint_id
            and w.period_grain = m.period_grain
            and w.period_start = m.period_start
    left join period_state as st
        on
            w.touchpoint_id = st.touchpoint_id
            and w.period_grain = st.period_grain
            and w.period_start = st.period_start

)

select * from final
