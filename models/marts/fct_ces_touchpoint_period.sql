{%- set grains = ['day', 'week', 'month', 'quarter'] -%}
-- Effort per touchpoint and period, for four period grains in one table
-- (grain: touchpoint_id x period_grain x period_start). Periods are taken from the UTC
-- answer time; weeks are ISO weeks (Monday start). Every metric is defined in
-- docs/metrics.md; the change columns compare with the immediately preceding period of
-- the same grain (null when that period has no answers).

with

ces as (

    select
        touchpoint_id,
        responded_at,
        ease_7pt,
        ease_0_100,
        effort_bucket,
        csat_5pt
    from {{ ref('fct_ces_responses') }}

),

csat as (

    select
        touchpoint_id,
        responded_at,
        csat_5pt,
        is_satisfied
    from {{ ref('fct_csat_responses') }}

),

tickets as (

    select
        touchpoint_id,
        created_at,
        reopen_count,
        transfer_count,
        hours_to_resolution
    from {{ ref('int_tickets_enriched') }}
    where created_at is not null and touchpoint_id is not null

),

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
            100.0 * avg(case when is_satisfied then 1.0 else 0.0 end) as csat_pct_satisfied
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
        case c.period_grain
            {% for grain in grains %}
                when '{{ grain }}'
                    then cast({{ dbt.dateadd(grain, -1, 'c.period_start') }} as date)
            {% endfor %}
        end as previous_period_start,
        c.n_responses,
        c.ces_mean_7pt,
        c.ces_sd_7pt,
        c.ces_index,
        cast(c.n_easy as double precision) / c.n_responses as pct_easy,
        cast(c.n_neutral as double precision) / c.n_responses as pct_neutral,
        cast(c.n_difficult as double precision) / c.n_responses as pct_difficult,
        100.0 * (c.n_easy - c.n_difficult) / c.n_responses as net_easy_score,
        {{ mean_ci95('c.ces_mean_7pt', 'c.ces_sd_7pt', 'c.n_responses', 'low') }} as ces_ci95_low,
        {{ mean_ci95('c.ces_mean_7pt', 'c.ces_sd_7pt', 'c.n_responses', 'high') }} as ces_ci95_high,
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
        m.csat_pct_satisfied - p.csat_pct_satisfied as csat_pct_satisfied_change
    from metrics as m
    left join metrics as p
        on
            m.touchpoint_id = p.touchpoint_id
            and m.period_grain = p.period_grain
            and m.previous_period_start = p.period_start

)

select * from final
