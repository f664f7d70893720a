{%- set grains = ['day', 'week', 'month', 'quarter'] -%}
{%- set segments = ['channel', 'journey_stage', 'language'] -%}
-- CES by segment: the channel of the interaction, the journey stage of the touchpoint
-- (seeds/touchpoints.csv) and the survey language, across all touchpoints, at the four
-- period grains of fct_ces_touchpoint_period and with its metrics, intervals and
-- low-sample flag (docs/metrics.md). A missing segment value is 'unknown'. Computed in
-- two steps: one pass over the answers to day totals per segment value, then every grain
-- from those (sums and sums of squares; a rebuilt table of a few thousand rows).

with

answers as (

    select
        r.responded_at,
        r.ease_7pt,
        r.ease_0_100,
        r.effort_bucket,
        coalesce(r.channel, 'unknown') as channel,
        coalesce(tp.journey_stage, 'unknown') as journey_stage,
        coalesce(r.language, 'unknown') as language
    from {{ ref('fct_ces_responses') }} as r
    left join {{ ref('dim_touchpoint') }} as tp on r.touchpoint_id = tp.touchpoint_id

),

days as (

    {% for name in segments %}
        select
            '{{ name }}' as segment_type,
            {{ name }} as segment_value,
            cast(responded_at as date) as response_date,
            count(*) as n,
            sum(ease_7pt) as sum_ease,
            sum(ease_7pt * ease_7pt) as sum_sq_ease,
            sum(ease_0_100) as sum_index,
            sum(case when effort_bucket = 'easy' then 1 else 0 end) as n_easy,
            sum(case when effort_bucket = 'neutral' then 1 else 0 end) as n_neutral,
            sum(case when effort_bucket = 'difficult' then 1 else 0 end) as n_difficult
        from answers
        group by 1, 2, 3
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

periods as (

    {% for grain in grains %}
        select
            segment_type,
            segment_value,
            '{{ grain }}' as period_grain,
            cast({{ dbt.date_trunc(grain, 'response_date') }} as date) as period_start,
            sum(n) as n_responses,
            sum(sum_ease) as sum_ease,
            sum(sum_sq_ease) as sum_sq_ease,
            sum(sum_index) as sum_index,
            sum(n_easy) as n_easy,
            sum(n_neutral) as n_neutral,
            sum(n_difficult) as n_difficult
        from days
        group by 1, 2, 3, 4
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

moments as (

    select
        *,
        sum_ease / n_responses as ces_mean_7pt,
        case
            when n_responses > 1
                then sqrt(greatest(
                    cast(0 as {{ type_double() }}),
                    (sum_sq_ease - sum_ease * sum_ease / n_responses) / (n_responses - 1)
                ))
        end as ces_sd_7pt,
        sum_index / n_responses as ces_index
    from periods

),

final as (

    select
        segment_type,
        segment_value,
        period_grain,
        period_start,
        cast(n_responses as bigint) as n_responses,
        ces_mean_7pt,
        ces_sd_7pt,
        ces_index,
        cast(n_easy as {{ type_double() }}) / n_responses as pct_easy,
        cast(n_neutral as {{ type_double() }}) / n_responses as pct_neutral,
        cast(n_difficult as {{ type_double() }}) / n_responses as pct_difficult,
        100 * cast(n_easy - n_difficult as {{ type_double() }}) / n_responses as net_easy_score,
        {{ mean_ci95('ces_mean_7pt', 'ces_sd_7pt', 'n_responses', 'low') }} as ces_ci95_low,
        {{ mean_ci95('ces_mean_7pt', 'ces_sd_7pt', 'n_responses', 'high') }} as ces_ci95_high,
        {{ mean_ci95('ces_index', 'ces_sd_7pt * 100.0 / 6', 'n_responses', 'low') }} as ces_index_ci95_low,
        {{ mean_ci95('ces_index', 'ces_sd_7pt * 100.0 / 6', 'n_responses', 'high') }} as ces_index_ci95_high,
        {{ wilson_interval('n_easy', 'n_responses', 'low') }} as pct_easy_ci95_low,
        {{ wilson_interval('n_easy', 'n_responses', 'high') }} as pct_easy_ci95_high,
        n_responses < 30 as is_low_sample
    from moments

)

select * from final
