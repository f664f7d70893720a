-- Ticket-side drivers of effort: how easy customers found it, by how often their ticket
-- was reopened and how often it was transferred. One row per driver and bucket (0, 1, 2,
-- 3 or more), over every CES answer linked to a ticket. The CES report's driver charts
-- read this table as it is.

with

linked as (

    select
        ticket_id,
        ease_7pt,
        effort_bucket,
        ticket_reopen_count,
        ticket_transfer_count
    from {{ ref('fct_ces_responses') }}
    where ticket_id is not null

),

by_driver as (

    select
        'reopen_count' as driver,
        'Times the ticket was reopened' as driver_label,
        ticket_reopen_count as driver_count,
        ticket_id,
        ease_7pt,
        effort_bucket
    from linked
    where ticket_reopen_count is not null

    union all

    select
        'transfer_count' as driver,
        'Times the ticket was transferred' as driver_label,
        ticket_transfer_count as driver_count,
        ticket_id,
        ease_7pt,
        effort_bucket
    from linked
    where ticket_transfer_count is not null

),

bucketed as (

    select
        driver,
        driver_label,
        case when driver_count >= 3 then 3 else driver_count end as bucket_order,
        ticket_id,
        ease_7pt,
        effort_bucket
    from by_driver

),

aggregated as (

    select
        driver,
        driver_label,
        bucket_order,
        count(distinct ticket_id) as n_tickets,
        count(*) as n_responses,
        avg(ease_7pt) as ces_mean_7pt,
        stddev_samp(ease_7pt) as ces_sd_7pt,
        sum(case when effort_bucket = 'easy' then 1 else 0 end) as n_easy,
        sum(case when effort_bucket = 'difficult' then 1 else 0 end) as n_difficult
    from bucketed
    group by driver, driver_label, bucket_order

)

select
    driver,
    driver_label,
    case when bucket_order = 3 then '3+' else cast(bucket_order as {{ dbt.type_string() }}) end
        as bucket,
    cast(bucket_order as integer) as bucket_order,
    n_tickets,
    n_responses,
    ces_mean_7pt,
    {{ mean_ci95('ces_mean_7pt', 'ces_sd_7pt', 'n_responses', 'low') }} as ces_ci95_low,
    {{ mean_ci95('ces_mean_7pt', 'ces_sd_7pt', 'n_responses', 'high') }} as ces_ci95_high,
    cast(n_easy as {{ type_double() }}) / n_responses as pct_easy,
    cast(n_difficult as {{ type_double() }}) / n_responses as pct_difficult,
    n_responses < 30 as is_low_sample
from aggregated
