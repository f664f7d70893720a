-- Comment themes per touchpoint and month: of the CES answers with a comment, the share
-- that mention each theme (fct_comment_themes) with its Wilson interval, the mean ease of
-- those answers against the touchpoint-month's other comments, and the theme's share of
-- the difficult answers' comments (what difficult answers talk about). One row per theme
-- x touchpoint x month with at least one mention. Defined in docs/metrics.md.

with

comments as (

    select
        touchpoint_id,
        cast({{ dbt.date_trunc('month', 'responded_at') }} as date) as month_start,
        count(*) as n_comments,
        sum(ease_7pt) as sum_ease,
        sum(case when effort_bucket = 'difficult' then 1 else 0 end) as n_difficult_comments
    from {{ ref('fct_ces_responses') }}
    where nullif(trim(comment), '') is not null
    group by 1, 2

),

mentions as (

    select
        theme_id,
        min(theme_label) as theme_label,
        touchpoint_id,
        cast({{ dbt.date_trunc('month', 'responded_at') }} as date) as month_start,
        count(*) as n_mentions,
        sum(ease_7pt) as sum_ease,
        avg(ease_7pt) as ces_mean_7pt,
        stddev_samp(ease_7pt) as ces_sd_7pt,
        sum(case when effort_bucket = 'difficult' then 1 else 0 end) as n_difficult_mentions
    from {{ ref('fct_comment_themes') }}
    group by 1, 3, 4

),

final as (

    select
        m.theme_id,
        m.theme_label,
        m.touchpoint_id,
        m.month_start as period_start,
        cast(c.n_comments as bigint) as n_comments,
        cast(m.n_mentions as bigint) as n_mentions,
        cast(m.n_mentions as {{ type_double() }}) / c.n_comments as share_of_comments,
        {{ wilson_interval('m.n_mentions', 'c.n_comments', 'low') }} as share_ci95_low,
        {{ wilson_interval('m.n_mentions', 'c.n_comments', 'high') }} as share_ci95_high,
        m.ces_mean_7pt,
        {{ mean_ci95('m.ces_mean_7pt', 'm.ces_sd_7pt', 'm.n_mentions', 'low') }} as ces_ci95_low,
        {{ mean_ci95('m.ces_mean_7pt', 'm.ces_sd_7pt', 'm.n_mentions', 'high') }} as ces_ci95_high,
        case
            when c.n_comments > m.n_mentions
                then (c.sum_ease - m.sum_ease) / (c.n_comments - m.n_mentions)
        end as other_comments_ces_mean_7pt,
        cast(c.n_difficult_comments as bigint) as n_difficult_comments,
        cast(m.n_difficult_mentions as bigint) as n_difficult_mentions,
        case
            when c.n_difficult_comments > 0
                then cast(m.n_difficult_mentions as {{ type_double() }}) / c.n_difficult_comments
        end as share_of_difficult_comments,
        c.n_comments < 30 as is_low_sample
    from mentions as m
    inner join comments as c
        on m.touchpoint_id = c.touchpoint_id and m.month_start = c.month_start

)

select * from final
