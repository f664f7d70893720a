-- How much of each period the CES answers cover, so no reader takes a sliver of a month for
-- a month (grain: period_grain x period_start, periods with at least one accepted CES answer).
-- A period is fully covered when it ended before the as-of date, the warehouse's answers
-- span it (the first answer is on or before its first day, the newest on or after its last
-- day) and answers fall on at least var coverage_min_answer_day_share of its days.
-- Otherwise coverage_gap says why, the first that applies of: in_progress,
-- data_starts_later, data_ends_earlier, few_answer_days. Coverage is the feed's, over all
-- touchpoints: one touchpoint without answers does not make a month partial.
{%- set grains = ['day', 'week', 'month', 'quarter'] %}

with

answer_days as (

    select
        response_date,
        count(*) as n_responses,
        min(responded_at) as first_answer_at,
        max(responded_at) as last_answer_at
    from {{ ref('fct_ces_responses') }}
    group by response_date

),

span as (

    select
        min(response_date) as first_answer_date,
        max(response_date) as last_answer_date
    from answer_days

),

periods as (
    {% for grain in grains %}
        select
            '{{ grain }}' as period_grain,
            cast({{ dbt.date_trunc(grain, 'response_date') }} as date) as period_start,
            count(*) as answer_days,
            sum(n_responses) as n_responses,
            min(first_answer_at) as first_answer_at,
            max(last_answer_at) as last_answer_at
        from answer_days
        group by period_grain, period_start
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

bounded as (

    select
        *,
        {{ shifted_period_start('period_grain', 'period_start', 1) }} as next_period_start
    from periods

),

measured as (

    select
        b.period_grain,
        b.period_start,
        cast({{ dbt.dateadd('day', -1, 'b.next_period_start') }} as date) as period_end,
        cast({{ dbt.datediff('b.period_start', 'b.next_period_start', 'day') }} as integer)
            as days_in_period,
        cast(b.answer_days as integer) as answer_days,
        cast(b.n_responses as bigint) as n_responses,
        b.first_answer_at,
        b.last_answer_at,
        s.first_answer_date,
        s.last_answer_date,
        {{ as_of_date() }} as as_of_date
    from bounded as b
    cross join span as s

),

final as (

    select
        *,
        period_end < as_of_date as is_complete,
        case
            when period_end >= as_of_date then 'in_progress'
            when first_answer_date > period_start then 'data_starts_later'
            when last_answer_date < period_end then 'data_ends_earlier'
            when answer_days < {{ var('coverage_min_answer_day_share') }} * days_in_period
                then 'few_answer_days'
        end as coverage_gap
    from measured

)

select
    period_grain,
    period_start,
    period_end,
    days_in_period,
    answer_days,
    n_responses,
    first_answer_at,
    last_answer_at,
    as_of_date,
    is_complete,
    coverage_gap is null as is_fully_covered,
    cast(coverage_gap as {{ dbt.type_string() }}) as coverage_gap
from final
