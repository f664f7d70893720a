-- One row: what the marts of this build cover and as of when, so a stale feed is seen
-- rather than read as a change in effort. The latest complete month is the month before
-- the as-of date's month, whether or not it has answers; the hotspot month is the latest
-- complete month that is fully covered (rpt_period_coverage), or, when no complete month
-- is, the latest complete month with answers (then flagged partial).

with

clock as (

    select
        {{ as_of_date() }} as as_of_date,
        {{ clock_now_timestamp() }} as clock_at,
        {{ run_started_timestamp() }} as built_at,
        {{ 'true' if var('clock_now', none) else 'false' }} as is_clock_pinned

),

answers as (

    select
        count(*) as n_ces_answers,
        min(responded_at) as oldest_answer_at,
        max(responded_at) as newest_answer_at,
        max(source_loaded_at) as newest_answer_loaded_at
    from {{ ref('fct_ces_responses') }}

),

months as (

    select * from {{ ref('rpt_period_coverage') }}
    where period_grain = 'month'

),

latest_complete as (

    select
        cast({{ dbt.dateadd('month', -1, dbt.date_trunc('month', 'as_of_date')) }} as date)
            as month_start
    from clock

),

hotspot as (

    select
        coalesce(
            max(case when is_complete and is_fully_covered then period_start end),
            max(case when is_complete then period_start end)
        ) as month_start
    from months

),

final as (

    select
        c.as_of_date,
        c.clock_at,
        c.is_clock_pinned,
        c.built_at,
        cast(a.n_ces_answers as bigint) as n_ces_answers,
        a.oldest_answer_at,
        a.newest_answer_at,
        a.newest_answer_loaded_at,
        cast(
            {{ dbt.datediff('cast(a.newest_answer_at as date)', 'c.as_of_date', 'day') }}
            as integer
        ) as days_since_newest_answer,
        l.month_start as latest_complete_month,
        cast(
            {{ dbt.datediff('l.month_start', dbt.dateadd('month', 1, 'l.month_start'), 'day') }}
            as integer
        ) as latest_complete_month_days,
        cast(coalesce(lm.answer_days, 0) as integer) as latest_complete_month_answer_days,
        coalesce(lm.is_fully_covered, false) as latest_complete_month_is_fully_covered,
        cast(
            coalesce(lm.coverage_gap, case when lm.period_start is null then 'no_answers' end)
            as {{ dbt.type_string() }}
        ) as latest_complete_month_coverage_gap,
        h.month_start as hotspot_month,
        hm.is_fully_covered as hotspot_month_is_fully_covered,
        coalesce(h.month_start <> l.month_start, false) as is_hotspot_month_fallback
    from clock as c
    cross join answers as a
    cross join latest_complete as l
    cross join hotspot as h
    left join months as lm on l.month_start = lm.period_start
    left join months as hm on h.month_start = hm.period_start

)

select
    as_of_date,
    clock_at,
    is_clock_pinned,
    built_at,
    n_ces_answers,
    oldest_answer_at,
    newest_answer_at,
    newest_answer_loaded_at,
    days_since_newest_answer,
    latest_complete_month,
    latest_complete_month_days,
    latest_complete_month_answer_days,
    latest_complete_month_is_fully_covered,
    latest_complete_month_coverage_gap,
    hotspot_month,
    hotspot_month_is_fully_covered,
    is_hotspot_month_fallback
from final
