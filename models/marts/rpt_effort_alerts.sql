{%- set baseline_days = var('ces_alert_baseline_days') | int -%}
{%- set threshold = var('ces_alert_below_7pt', none) -%}
{%- set min_answers = var('ces_alert_min_answers') | int -%}
{#- grain: (days in the period, its label) -#}
{%- set grains = {'day': 1, 'week': 7} -%}
-- Effort alerts: per touchpoint, the latest complete day (the day before the as-of date)
-- and the latest 7 days, each against its baseline, the var ces_alert_baseline_days (28)
-- days before it. An alert when the period is significantly worse than its baseline
-- (Welch's test, Holm-corrected across the grain's touchpoints, two-sided 5 %) or, with
-- at least var ces_alert_min_answers answers, its mean ease is below var
-- ces_alert_below_7pt. One row per touchpoint and grain with answers in the period or the
-- baseline, alert or not (is_alert); the build writes the alerts to warehouse/alerts.json
-- and raises them as a WARN asset check. Defined in docs/metrics.md.

with

build_info as (

    select as_of_date from {{ ref('rpt_build_info') }}

),

windows as (

    {% for grain, days in grains.items() %}
        select
            '{{ grain }}' as period_grain,
            cast({{ dbt.dateadd('day', -days, 'as_of_date') }} as date) as period_start,
            cast({{ dbt.dateadd('day', -1, 'as_of_date') }} as date) as period_end,
            cast({{ dbt.dateadd('day', -(days + baseline_days), 'as_of_date') }} as date) as baseline_start,
            cast({{ dbt.dateadd('day', -(days + 1), 'as_of_date') }} as date) as baseline_end,
            as_of_date
        from build_info
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

answers as (

    select
        w.period_grain,
        r.touchpoint_id,
        r.ease_7pt,
        r.response_date >= w.period_start as is_period
    from {{ ref('fct_ces_responses') }} as r
    inner join windows as w
        on r.response_date >= w.baseline_start and r.response_date <= w.period_end

),

groups as (

    select
        period_grain,
        touchpoint_id,
        {{ two_group_moments('is_period', 'ease_7pt', 'period', 'baseline') }}
    from answers
    group by 1, 2

),

tested as (

    select
        *,
        {{ welch_test('mean_period', 'var_period', 'n_period', 'mean_baseline', 'var_baseline', 'n_baseline') }}
    from groups

),

with_p as (

    select
        *,
        {{ t_p_value('welch_t', 'welch_df') }} as welch_p_value
    from tested

),

holm_ordered as (

    select
        *,
        {{ holm_order('welch_p_value', 'period_grain', 'touchpoint_id') }}
    from with_p

),

flagged as (

    select
        *,
        {{ holm_adjusted_p('welch_p_value', 'period_grain', 'touchpoint_id') }} as holm_p_value
    from holm_ordered

),

final as (

    select
        f.touchpoint_id,
        tp.touchpoint_name,
        f.period_grain,
        w.period_start,
        w.period_end,
        w.baseline_start,
        w.baseline_end,
        cast(f.n_period as bigint) as n_responses,
        f.mean_period as ces_mean_7pt,
        cast(f.n_baseline as bigint) as baseline_n_responses,
        f.mean_baseline as baseline_ces_mean_7pt,
        f.mean_period - f.mean_baseline as ces_mean_7pt_change,
        f.welch_t,
        f.welch_df,
        f.welch_p_value,
        f.holm_p_value,
        coalesce(f.holm_p_value < 0.05 and f.welch_t < 0, false) as is_significantly_worse,
        {% if threshold is not none %}
            coalesce(f.n_period >= {{ min_answers }} and f.mean_period < {{ threshold }}, false)
        {% else %}
            false
        {% endif %} as is_below_threshold,
        {% if threshold is not none %}cast({{ threshold }} as {{ type_double() }}){% else %}cast(null as {{ type_double() }}){% endif %}
            as threshold_7pt,
        w.as_of_date
    from flagged as f
    inner join windows as w on f.period_grain = w.period_grain
    left join {{ ref('dim_touchpoint') }} as tp on f.touchpoint_id = tp.touchpoint_id

)

select
    *,
    is_significantly_worse or is_below_threshold as is_alert,
    cast(case
        when is_significantly_worse and is_below_threshold
            then 'significantly worse than the baseline and below the threshold'
        when is_significantly_worse then 'significantly worse than the baseline'
        when is_below_threshold then 'below the threshold'
    end as {{ dbt.type_string() }}) as alert_reason
from final
