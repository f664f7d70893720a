-- Effort per touchpoint and period, for four period grains in one table
-- (grain: touchpoint_id x period_grain x period_start): each period's own metrics
-- (int_touchpoint_period_metrics) next to the immediately preceding period of the same
-- grain, and the change between them (null when that period has no answers). Every
-- metric is defined in docs/metrics.md.
--
-- A table rebuilt by every run from the period metrics (one row per touchpoint and
-- period: thousands of rows, however many answers). refreshed_at is the run that last
-- changed the row's values: the later of the run that recomputed the period and the run
-- that recomputed (or removed) the period before it.

with

periods as (

    select * from {{ ref('int_touchpoint_period_metrics') }}

),

compared as (

    select
        m.*,
        {{ shifted_period_start('m.period_grain', 'm.period_start', -1) }} as previous_period_start
    from periods as m
    where m.n_responses is not null

),

final as (

    select
        m.touchpoint_id,
        m.period_grain,
        m.period_start,
        {%- for column in period_metric_columns() %}
            m.{{ column }},
        {%- endfor %}
        m.previous_period_start,
        p.n_responses as previous_n_responses,
        p.ces_mean_7pt as previous_ces_mean_7pt,
        m.ces_mean_7pt - p.ces_mean_7pt as ces_mean_7pt_change,
        m.ces_index - p.ces_index as ces_index_change,
        m.pct_easy - p.pct_easy as pct_easy_change,
        m.net_easy_score - p.net_easy_score as net_easy_score_change,
        m.csat_mean_5pt - p.csat_mean_5pt as csat_mean_5pt_change,
        m.csat_pct_satisfied - p.csat_pct_satisfied as csat_pct_satisfied_change,
        m.source_checksum,
        case
            when p.refreshed_at > m.refreshed_at then p.refreshed_at
            else m.refreshed_at
        end as refreshed_at
    from compared as m
    left join periods as p
        on
            m.touchpoint_id = p.touchpoint_id
            and m.period_grain = p.period_grain
            and m.previous_period_start = p.period_start

)

select * from final
