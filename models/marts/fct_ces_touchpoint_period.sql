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

joined as (

    select
        m.*,
        p.n_responses as previous_n_responses,
        p.ces_mean_7pt as previous_ces_mean_7pt,
        p.ces_sd_7pt as previous_ces_sd_7pt,
        p.ces_index as previous_ces_index,
        p.pct_easy as previous_pct_easy,
        p.net_easy_score as previous_net_easy_score,
        p.csat_mean_5pt as previous_csat_mean_5pt,
        p.csat_pct_satisfied as previous_csat_pct_satisfied,
        p.refreshed_at as previous_refreshed_at,
        m.ces_sd_7pt * m.ces_sd_7pt as ces_var_7pt,
        p.ces_sd_7pt * p.ces_sd_7pt as previous_ces_var_7pt
    from compared as m
    left join periods as p
        on
            m.touchpoint_id = p.touchpoint_id
            and m.period_grain = p.period_grain
            and m.previous_period_start = p.period_start

),

-- Is the change real? Welch's test of this period's ease against the previous period's
-- (macros/statistics.sql), and the change in pooled standard deviations.
tested as (

    select
        *,
        {{ welch_test('ces_mean_7pt', 'ces_var_7pt', 'n_responses', 'previous_ces_mean_7pt', 'previous_ces_var_7pt', 'previous_n_responses', prefix='change_') }},
        {{ hedges_g('ces_mean_7pt', 'ces_var_7pt', 'n_responses', 'previous_ces_mean_7pt', 'previous_ces_var_7pt', 'previous_n_responses') }}
            as change_hedges_g
    from joined

),

with_p as (

    select
        *,
        {{ t_p_value('change_welch_t', 'change_welch_df') }} as change_p_value
    from tested

),

final as (

    select
        touchpoint_id,
        period_grain,
        period_start,
        {%- for column in period_metric_columns() %}
            {{ column }},
        {%- endfor %}
        previous_period_start,
        previous_n_responses,
        previous_ces_mean_7pt,
        previous_ces_sd_7pt,
        ces_mean_7pt - previous_ces_mean_7pt as ces_mean_7pt_change,
        ces_index - previous_ces_index as ces_index_change,
        pct_easy - previous_pct_easy as pct_easy_change,
        net_easy_score - previous_net_easy_score as net_easy_score_change,
        csat_mean_5pt - previous_csat_mean_5pt as csat_mean_5pt_change,
        csat_pct_satisfied - previous_csat_pct_satisfied as csat_pct_satisfied_change,
        change_welch_t,
        change_welch_df,
        change_p_value,
        coalesce(change_p_value < 0.05, false) as is_change_significant,
        change_hedges_g,
        source_checksum,
        case
            when previous_refreshed_at > refreshed_at then previous_refreshed_at
            else refreshed_at
        end as refreshed_at
    from with_p

)

select * from final
