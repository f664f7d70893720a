{%- set grains = ['day', 'week', 'month', 'quarter'] -%}
{%- set keys = ['touchpoint_id', 'period_grain', 'period_start'] -%}
{%- set reprocess_from = var('reprocess_from', none) -%}
{%- set reprocess_to = var('reprocess_to', none) -%}
{{
    config(
        materialized='incremental',
        unique_key=keys,
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook=[
            "{% if is_incremental() %}delete from {{ this }} where n_responses is null{% endif %}"
        ],
    )
}}
-- Effort per touchpoint and period, for four period grains in one table
-- (grain: touchpoint_id x period_grain x period_start). Periods are taken from the UTC
-- answer time; weeks are ISO weeks (Monday start). Every metric is defined in
-- docs/metrics.md; the change columns compare with the immediately preceding period of
-- the same grain (null when that period has no answers).
--
-- Incremental: every row stores a checksum of its source rows (CES answers, CSAT answers,
-- tickets of the touchpoint and period). A run recomputes only the periods whose checksum
-- changed (new, re-sent, late, re-scored or removed rows), the periods right after them
-- (their change columns refer back) and, with vars reprocess_from / reprocess_to, every
-- period overlapping that date range. Periods left without CES answers are removed through
-- a tombstone row (all metrics null) that the post-hook deletes.

-- The *_source CTEs are read twice (all rows for the checksums, the needed days for the
-- metrics). Not materialized: holding 10 M hashed rows in memory made the query spill,
-- and two scans of the fact are cheaper.

with

ces_source as not materialized (

    select
        touchpoint_id,
        responded_at,
        cast(responded_at as date) as source_day,
        ease_7pt,
        ease_0_100,
        effort_bucket,
        csat_5pt,
        {{ row_hash(["'ces'", 'response_id', 'responded_at', 'ease_7pt', 'ease_0_100', 'effort_bucket', 'csat_5pt']) }} as row_hash
    from {{ ref('fct_ces_responses') }}

),

csat_source as not materialized (

    select
        touchpoint_id,
        responded_at,
        cast(responded_at as date) as source_day,
        csat_5pt,
        is_satisfied,
        {{ row_hash(["'csat'", 'response_id', 'responded_at', 'csat_5pt', 'is_satisfied']) }} as row_hash
    from {{ ref('fct_csat_responses') }}

),

tickets_source as not materialized (

    select
        touchpoint_id,
        created_at,
        cast(created_at as date) as source_day,
        reopen_count,
        transfer_count,
        hours_to_resolution,
        {{ row_hash(["'ticket'", 'ticket_id', 'created_at', 'reopen_count', 'transfer_count', 'hours_to_resolution']) }} as row_hash
    from {{ ref('int_tickets_enriched') }}
    where created_at is not null and touchpoint_id is not null

),

-- Content of every touchpoint-day: CES answers and a sum of all source row hashes.
day_state as (

    select
        touchpoint_id,
        source_day,
        sum(n_ces) as n_ces,
        sum(hash_total) as hash_total
    from (
        {% for name in ['ces', 'csat', 'tickets'] %}
            select
                touchpoint_id,
                source_day,
                {{ 'count(*)' if name == 'ces' else '0' }} as n_ces,
                {{ hash_sum('row_hash') }} as hash_total
            from {{ name }}_source
            group by 1, 2
            {% if not loop.last %}union all{% endif %}
        {% endfor %}
    ) as per_source
    group by 1, 2

),

period_state as (
    {% for grain in grains %}
        select
            touchpoint_id,
            '{{ grain }}' as period_grain,
            cast({{ dbt.date_trunc(grain, 'source_day') }} as date) as period_start,
            sum(n_ces) as n_ces,
            {{ checksum_fold('sum(hash_total)') }} as source_checksum
        from day_state
        group by 1, 2, 3
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

{% if is_incremental() %}

    -- Periods whose content differs from the stored rows (or that appear or disappear).
    changed_periods as (

        select
            coalesce(n.touchpoint_id, o.touchpoint_id) as touchpoint_id,
            coalesce(n.period_grain, o.period_grain) as period_grain,
            coalesce(n.period_start, o.period_start) as period_start,
            n.touchpoint_id is null as is_removed
        from (select * from period_state where n_ces > 0) as n
        full outer join {{ this }} as o
            on
                n.touchpoint_id = o.touchpoint_id
                and n.period_grain = o.period_grain
                and n.period_start = o.period_start
        where
            n.touchpoint_id is null
            or o.touchpoint_id is null
            or n.source_checksum <> o.source_checksum
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

    -- Recomputed: the changed periods and the period after each (its change columns).
    target_periods as (

        select touchpoint_id, period_grain, period_start
        from changed_periods
        where not is_removed
        union
        select c.touchpoint_id, c.period_grain, n.period_start
        from changed_periods as c
        inner join period_state as n
            on
                c.touchpoint_id = n.touchpoint_id
                and c.period_grain = n.period_grain
                and n.period_start = {{ shifted_period_start('c.period_grain', 'c.period_start', 1) }}
        where n.n_ces > 0

    ),

    -- Read in full: the target periods and the period before each.
    needed_periods as (

        select
            touchpoint_id,
            period_grain,
            period_start,
            {{ shifted_period_start('period_grain', 'period_start', 1) }} as period_end
        from (
            select touchpoint_id, period_grain, period_start from target_periods
            union
            select
                touchpoint_id,
                period_grain,
                {{ shifted_period_start('period_grain', 'period_start', -1) }}
            from target_periods
        ) as periods

    ),

    needed_days as (

        select distinct d.touchpoint_id, d.source_day
        from day_state as d
        inner join needed_periods as p
            on
                d.touchpoint_id = p.touchpoint_id
                and d.source_day >= p.period_start
                and d.source_day < p.period_end

    ),

{% endif %}

-- The source rows the metrics are computed from (in an incremental run: of the needed days).
{% for name in ['ces', 'csat', 'tickets'] %}
    {{ name }} as (

        select s.* from {{ name }}_source as s
        {% if is_incremental() %}
            inner join needed_days as d
                on s.touchpoint_id = d.touchpoint_id and s.source_day = d.source_day
        {% endif %}

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
            100 * avg(cast(case when is_satisfied then 1 else 0 end as double precision))
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
            avg(cast(reopen_count as double precision)) as avg_reopen_count,
            avg(cast(transfer_count as double precision)) as avg_transfer_count,
            {{ median('hours_to_resolution') }} as median_hours_to_resolution
        from tickets
        group by 1, 2, 3

    ),

{% endfor %}

ces_groups as (
    {% for grain in grains %}
        select * from ces_by_{{ grain }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

csat_groups as (
    {% for grain in grains %}
        select * from csat_by_{{ grain }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

ticket_groups as (
    {% for grain in grains %}
        select * from tickets_by_{{ grain }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

metrics as (

    select
        c.touchpoint_id,
        c.period_grain,
        c.period_start,
        {{ shifted_period_start('c.period_grain', 'c.period_start', -1) }} as previous_period_start,
        c.n_responses,
        c.ces_mean_7pt,
        c.ces_sd_7pt,
        c.ces_index,
        cast(c.n_easy as double precision) / c.n_responses as pct_easy,
        cast(c.n_neutral as double precision) / c.n_responses as pct_neutral,
        cast(c.n_difficult as double precision) / c.n_responses as pct_difficult,
        100 * cast(c.n_easy - c.n_difficult as double precision) / c.n_responses as net_easy_score,
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
    left join ticket_groups as t
        on
            c.touchpoint_id = t.touchpoint_id
            and c.period_grain = t.period_grain
            and c.period_start = t.period_start

),

final as (

    select
        m.touchpoint_id,
        m.period_grain,
        m.period_start,
        m.n_responses,
        m.ces_mean_7pt,
        m.ces_sd_7pt,
        m.ces_index,
        m.pct_easy,
        m.pct_neutral,
        m.pct_difficult,
        m.net_easy_score,
        m.ces_ci95_low,
        m.ces_ci95_high,
        m.ces_index_ci95_low,
        m.ces_index_ci95_high,
        m.pct_easy_ci95_low,
        m.pct_easy_ci95_high,
        m.is_low_sample,
        m.n_csat_responses,
        m.csat_mean_5pt,
        m.csat_pct_satisfied,
        m.n_linked_pairs,
        m.ces_csat_corr,
        m.n_tickets,
        m.avg_reopen_count,
        m.avg_transfer_count,
        m.median_hours_to_resolution,
        m.previous_period_start,
        p.n_responses as previous_n_responses,
        p.ces_mean_7pt as previous_ces_mean_7pt,
        m.ces_mean_7pt - p.ces_mean_7pt as ces_mean_7pt_change,
        m.ces_index - p.ces_index as ces_index_change,
        m.pct_easy - p.pct_easy as pct_easy_change,
        m.net_easy_score - p.net_easy_score as net_easy_score_change,
        m.csat_mean_5pt - p.csat_mean_5pt as csat_mean_5pt_change,
        m.csat_pct_satisfied - p.csat_pct_satisfied as csat_pct_satisfied_change,
        st.source_checksum,
        {{ run_started_timestamp() }} as refreshed_at
    from metrics as m
    inner join period_state as st
        on
            m.touchpoint_id = st.touchpoint_id
            and m.period_grain = st.period_grain
            and m.period_start = st.period_start
    {% if is_incremental() %}
        inner join target_periods as tp
            on
                m.touchpoint_id = tp.touchpoint_id
                and m.period_grain = tp.period_grain
                and m.period_start = tp.period_start
    {% endif %}
    left join metrics as p
        on
            m.touchpoint_id = p.touchpoint_id
            and m.period_grain = p.period_grain
            and m.previous_period_start = p.period_start

)

select * from final
{% if is_incremental() %}
    -- Tombstones: periods left without CES answers (deleted again by the post-hook).
    union all
    select
        touchpoint_id,
        period_grain,
        period_start,
        {#- every contract column but the three keys and the last two is null -#}
        {%- for _ in range(model.columns | length - 5) %}
            null,
        {%- endfor %}
        cast(null as bigint),
        cast(null as timestamp)
    from changed_periods
    where is_removed
{% endif %}
