{%- set months = var('ces_trend_months') | int -%}
-- Is effort improving? Per touchpoint, a least-squares line through the monthly CES index
-- of the last var ces_trend_months complete months ending at the hotspot month
-- (rpt_build_info), over the months with at least 30 answers (a low-sample month's index
-- moves too much to carry a trend). The slope's 95 % interval uses Student's t with
-- n - 2 degrees of freedom (macros/statistics.sql), so a trend needs five such months:
-- "improving" / "worsening" when the interval lies above / below zero, "no clear trend"
-- when it spans zero, "not enough months" with fewer. Defined in docs/metrics.md.

with

build_info as (

    select
        as_of_date,
        hotspot_month as window_end,
        cast({{ dbt.dateadd('month', 1 - months, 'hotspot_month') }} as date) as window_start
    from {{ ref('rpt_build_info') }}

),

months as (

    select
        m.touchpoint_id,
        m.period_start,
        m.n_responses,
        m.ces_index,
        m.is_low_sample,
        cast(
            ({{ date_part_number('year', 'm.period_start') }} - {{ date_part_number('year', 'b.window_start') }}) * 12
            + {{ date_part_number('month', 'm.period_start') }} - {{ date_part_number('month', 'b.window_start') }}
            as {{ type_double() }}
        ) as month_number
    from {{ ref('fct_ces_touchpoint_period') }} as m
    inner join build_info as b
        on m.period_start >= b.window_start and m.period_start <= b.window_end
    where m.period_grain = 'month'

),

window_months as (

    select
        touchpoint_id,
        count(*) as n_months_with_answers,
        sum(n_responses) as n_responses_in_window,
        sum(case when is_low_sample then 0 else 1 end) as n_months_fitted,
        sum(case when is_low_sample then 0 else n_responses end) as n_responses_fitted
    from months
    group by 1

),

-- The months a line is fitted to: those with at least 30 answers, of the touchpoints
-- with five of them (fewer leave the interval under three degrees of freedom).
fitted_months as (

    select m.*
    from months as m
    inner join window_months as w on m.touchpoint_id = w.touchpoint_id
    where not m.is_low_sample and w.n_months_fitted >= 5

),

means as (

    select
        touchpoint_id,
        count(*) as n_months,
        avg(month_number) as mean_x,
        avg(ces_index) as mean_y
    from fitted_months
    group by 1

),

sums as (

    select
        m.touchpoint_id,
        m.n_months,
        m.mean_x,
        m.mean_y,
        sum((f.month_number - m.mean_x) * (f.month_number - m.mean_x)) as sxx,
        sum((f.month_number - m.mean_x) * (f.ces_index - m.mean_y)) as sxy
    from means as m
    inner join fitted_months as f on m.touchpoint_id = f.touchpoint_id
    group by 1, 2, 3, 4

),

-- (five distinct months: sxx > 0)
slopes as (

    select
        *,
        sxy / sxx as slope
    from sums

),

residuals as (

    select
        s.touchpoint_id,
        sum(
            (f.ces_index - (s.mean_y + s.slope * (f.month_number - s.mean_x)))
            * (f.ces_index - (s.mean_y + s.slope * (f.month_number - s.mean_x)))
        ) as sse
    from slopes as s
    inner join fitted_months as f on s.touchpoint_id = f.touchpoint_id
    group by 1

),

fit as (

    select
        s.*,
        cast(s.n_months - 2 as {{ type_double() }}) as residual_df,
        sqrt(r.sse / (s.n_months - 2) / s.sxx) as slope_se
    from slopes as s
    inner join residuals as r on s.touchpoint_id = r.touchpoint_id

),

tested as (

    select
        *,
        {{ t_quantile_975('residual_df') }} * slope_se as slope_ci95_half_width,
        -- null for an exact fit (no residual): its interval is the slope itself
        case when slope_se > 0 then slope / slope_se end as slope_t
    from fit

),

intervals as (

    select
        *,
        slope - slope_ci95_half_width as slope_ci95_low,
        slope + slope_ci95_half_width as slope_ci95_high,
        {{ t_p_value('slope_t', 'residual_df') }} as slope_p_value
    from tested

),

final as (

    select
        w.touchpoint_id,
        tp.touchpoint_name,
        b.window_start,
        b.window_end,
        cast({{ months }} as integer) as window_months,
        cast(w.n_months_with_answers as integer) as n_months_with_answers,
        cast(w.n_months_fitted as integer) as n_months_fitted,
        cast(w.n_responses_in_window as bigint) as n_responses_in_window,
        cast(w.n_responses_fitted as bigint) as n_responses_fitted,
        i.mean_y + i.slope * (0 - i.mean_x) as fitted_ces_index_at_start,
        i.mean_y + i.slope * ({{ months - 1 }} - i.mean_x) as fitted_ces_index_at_end,
        i.slope as slope_per_month,
        i.slope_ci95_low,
        i.slope_ci95_high,
        i.slope_p_value,
        cast(case
            when i.touchpoint_id is null then 'not enough months'
            when i.slope_ci95_low > 0 then 'improving'
            when i.slope_ci95_high < 0 then 'worsening'
            else 'no clear trend'
        end as {{ dbt.type_string() }}) as trend,
        cast('least-squares slope of the monthly CES index (months with at least 30 answers), 95% interval from Student''s t with n - 2 degrees of freedom' as {{ dbt.type_string() }}) as trend_method,
        b.as_of_date
    from window_months as w
    cross join build_info as b
    left join intervals as i on w.touchpoint_id = i.touchpoint_id
    left join {{ ref('dim_touchpoint') }} as tp on w.touchpoint_id = tp.touchpoint_id

)

select * from final
