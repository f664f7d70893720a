-- Touchpoints ranked by effort for the latest complete month, each compared with all
-- other touchpoints of that month by Welch's two-sample t-test on ease_7pt (two-sided,
-- alpha 0.05), its p-value corrected by Holm's method across the month's touchpoints
-- (both shown; `comparison` reads the corrected one). Tests in macros/statistics.sql.
-- The month is rpt_build_info.hotspot_month: the latest complete month before the as-of
-- date that the answers fully cover (rpt_period_coverage), else the latest complete month
-- with answers; each row says how much of the month the answers cover and whether a more
-- recent complete month was passed over as partial.

with

answers as (

    select
        touchpoint_id,
        cast({{ dbt.date_trunc('month', 'responded_at') }} as date) as month_start,
        ease_7pt
    from {{ ref('fct_ces_responses') }}

),

build_info as (

    select * from {{ ref('rpt_build_info') }}

),

latest_month as (

    select hotspot_month as month_start from build_info

),

month_answers as (

    select a.*
    from answers as a
    inner join latest_month as l on a.month_start = l.month_start

),

by_touchpoint as (

    select
        touchpoint_id,
        month_start,
        count(*) as n,
        sum(ease_7pt) as sum_ease,
        sum(ease_7pt * ease_7pt) as sum_sq_ease
    from month_answers
    group by 1, 2

),

month_totals as (

    select
        count(*) as n,
        sum(ease_7pt) as sum_ease,
        sum(ease_7pt * ease_7pt) as sum_sq_ease
    from month_answers

),

compared as (

    -- "others" = every other touchpoint of the month, from the month totals
    select
        b.touchpoint_id,
        b.month_start,
        b.n as n_responses,
        b.sum_ease / b.n as mean_7pt,
        case
            when b.n > 1
                then (b.sum_sq_ease - b.sum_ease * b.sum_ease / b.n) / (b.n - 1)
        end as var_7pt,
        t.n - b.n as others_n,
        case when t.n > b.n then (t.sum_ease - b.sum_ease) / (t.n - b.n) end as others_mean_7pt,
        case
            when t.n - b.n > 1
                then (
                    (t.sum_sq_ease - b.sum_sq_ease)
                    - (t.sum_ease - b.sum_ease) * (t.sum_ease - b.sum_ease) / (t.n - b.n)
                ) / (t.n - b.n - 1)
        end as others_var_7pt
    from by_touchpoint as b
    cross join month_totals as t

),

welch as (

    select
        *,
        {{ welch_test('mean_7pt', 'var_7pt', 'n_responses', 'others_mean_7pt', 'others_var_7pt', 'others_n') }}
    from compared

),

tested as (

    select
        *,
        {{ t_p_value('welch_t', 'welch_df') }} as welch_p_value
    from welch

),

-- Holm's correction across the month's tested touchpoints (macros/statistics.sql).
holm_ordered as (

    select
        *,
        {{ holm_order('welch_p_value', 'month_start', 'touchpoint_id') }}
    from tested

),

with_holm as (

    select
        *,
        {{ holm_adjusted_p('welch_p_value', 'month_start', 'touchpoint_id') }} as holm_p_value
    from holm_ordered

),

coverage as (

    select * from {{ ref('rpt_period_coverage') }}
    where period_grain = 'month'

),

period_metrics as (

    select * from {{ ref('fct_ces_touchpoint_period') }}
    where period_grain = 'month'

),

final as (

    select
        w.month_start as period_start,
        w.touchpoint_id,
        tp.touchpoint_name,
        cast(rank() over (order by w.mean_7pt asc) as integer) as effort_rank,
        w.n_responses,
        w.mean_7pt as ces_mean_7pt,
        m.ces_index,
        m.pct_difficult,
        m.net_easy_score,
        m.ces_mean_7pt_change,
        m.change_p_value as ces_mean_7pt_change_p_value,
        m.is_change_significant,
        m.csat_mean_5pt,
        m.csat_mean_5pt_change,
        m.is_low_sample,
        w.others_n as others_n_responses,
        w.others_mean_7pt as others_ces_mean_7pt,
        w.mean_7pt - w.others_mean_7pt as mean_difference_7pt,
        w.welch_t,
        w.welch_df,
        w.welch_p_value,
        coalesce(w.welch_p_value < 0.05, false) as is_significant,
        w.holm_p_value,
        coalesce(w.holm_p_value < 0.05, false) as is_significant_holm,
        case
            when w.holm_p_value < 0.05 and w.welch_t < 0 then 'harder than the rest'
            when w.holm_p_value < 0.05 and w.welch_t > 0 then 'easier than the rest'
            when w.welch_p_value is null then 'not tested (too few answers or no variance)'
            else 'not significantly different'
        end as comparison,
        cast('Welch two-sample t-test of ease_7pt against all other touchpoints of the month, two-sided, alpha 0.05, Holm-corrected across the month''s touchpoints' as {{ dbt.type_string() }}) as test_method,
        cv.answer_days as period_answer_days,
        cv.days_in_period as period_days,
        cv.is_fully_covered as is_period_fully_covered,
        bi.latest_complete_month,
        bi.is_hotspot_month_fallback as is_fallback_month,
        bi.as_of_date,
        bi.newest_answer_at
    from with_holm as w
    cross join build_info as bi
    left join coverage as cv on w.month_start = cv.period_start
    left join {{ ref('dim_touchpoint') }} as tp on w.touchpoint_id = tp.touchpoint_id
    left join period_metrics as m
        on w.touchpoint_id = m.touchpoint_id and w.month_start = m.period_start

)

select * from final
