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

touchpoints as (

    select distinct touchpoint_id from month_answers

),

-- Each touchpoint against every other touchpoint of the month ("others"), every answer of
-- the month read once per touchpoint. Variances by var_samp, not from summed squares:
-- subtracting sums of squares leaves rounding noise (about 1e-14) where the answers are
-- all the same, and a test against that "spread" found any difference significant.
compared as (

    select
        tp.touchpoint_id,
        a.month_start,
        {{ two_group_moments('a.touchpoint_id = tp.touchpoint_id', 'a.ease_7pt', 'tp', 'others') }}
    from touchpoints as tp
    cross join month_answers as a
    group by tp.touchpoint_id, a.month_start

),

welch as (

    select
        *,
        {{ welch_test('mean_tp', 'var_tp', 'n_tp', 'mean_others', 'var_others', 'n_others') }}
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
        cast(rank() over (order by w.mean_tp asc) as integer) as effort_rank,
        cast(w.n_tp as {{ dbt.type_bigint() }}) as n_responses,
        w.mean_tp as ces_mean_7pt,
        m.ces_index,
        m.pct_difficult,
        m.net_easy_score,
        m.ces_mean_7pt_change,
        m.change_p_value as ces_mean_7pt_change_p_value,
        m.is_change_significant,
        m.csat_mean_5pt,
        m.csat_mean_5pt_change,
        m.is_low_sample,
        cast(w.n_others as {{ dbt.type_bigint() }}) as others_n_responses,
        w.mean_others as others_ces_mean_7pt,
        w.mean_tp - w.mean_others as mean_difference_7pt,
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
