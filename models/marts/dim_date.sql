-- One row per calendar day from the first to the last day with an accepted answer or a
-- ticket, with the period starts the facts use (ISO week, month, quarter). Tickets dated
-- before var earliest_plausible_date or in the future (placeholders) do not stretch it.

with

bounds as (

    select
        min(d) as first_day,
        max(d) as last_day
    from (
        select response_date as d from {{ ref('fct_ces_responses') }}
        union all
        select response_date as d from {{ ref('fct_csat_responses') }}
        union all
        select cast(created_at as date) as d from {{ ref('int_tickets_enriched') }}
        where
            created_at >= cast('{{ var("earliest_plausible_date") }}' as timestamp)
            and created_at <= {{ dbt.dateadd('minute', var('future_tolerance_minutes'), clock_now_timestamp()) }}
    ) as days

),

digits as (

    select t.d from (
        values (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)
    ) as t (d)

),

offsets as (

    -- 0 .. 99,999 days: enough for 270 years of data
    select a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d as day_offset
    from digits as a
    cross join digits as b
    cross join digits as c
    cross join digits as e
    cross join digits as f

),

days as (

    select cast({{ dbt.dateadd('day', 'o.day_offset', 'b.first_day') }} as date) as date_day
    from offsets as o
    cross join bounds as b
    where o.day_offset <= {{ dbt.datediff('b.first_day', 'b.last_day', 'day') }}

),

final as (

    select
        date_day,
        cast({{ dbt.date_trunc('week', 'date_day') }} as date) as week_start,
        cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start,
        cast({{ dbt.date_trunc('quarter', 'date_day') }} as date) as quarter_start,
        cast({{ date_part_number('year', 'date_day') }} as integer) as year_number,
        cast({{ date_part_number('quarter', 'date_day') }} as integer) as quarter_number,
        cast({{ date_part_number('month', 'date_day') }} as integer) as month_number,
        cast({{ date_part_number('isodow', 'date_day') }} as integer) as iso_day_of_week,
        cast({{ date_part_number('isodow', 'date_day') }} as integer) >= 6 as is_weekend
    from days

)

select * from final
