-- Ticket-side drivers of effort: how easy customers found it, by how often their ticket
-- was reopened, how often it was transferred, how many other tickets the customer opened
-- within var repeat_contact_days (repeat contact) and how many other channels those came
-- through (channel switching; fct_ticket_effort). One row per driver and bucket (0, 1, 2,
-- 3 or more), over every CES answer linked to a ticket. The CES report's driver charts
-- read this table as it is; rpt_effort_driver_ranking ranks the drivers by what they cost.

with

linked as (

    select
        r.ticket_id,
        r.ease_7pt,
        r.effort_bucket,
        r.ticket_reopen_count,
        r.ticket_transfer_count,
        t.repeat_contact_count,
        t.window_channel_count - 1 as other_channel_count
    from {{ ref('fct_ces_responses') }} as r
    left join {{ ref('fct_ticket_effort') }} as t on r.ticket_id = t.ticket_id
    where r.ticket_id is not null

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

    union all

    select
        'repeat_contact_count' as driver,
        'Other tickets of the customer within {{ var("repeat_contact_days") }} days' as driver_label,
        repeat_contact_count as driver_count,
        ticket_id,
        ease_7pt,
        effort_bucket
    from linked
    where repeat_contact_count is not null

    union all

    select
        'channel_switch_count' as driver,
        'Other channels the customer used within {{ var("repeat_contact_days") }} days' as driver_label,
        other_channel_count as driver_count,
        ticket_id,
        ease_7pt,
        effort_bucket
    from linked
    where other_channel_count is not null

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
