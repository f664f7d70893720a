-- Tickets with their effort drivers derived once: resolution time and quality flags.

with

tickets as (

    select * from {{ ref('stg_landing__tickets') }}

),

final as (

    select
        ticket_id,
        customer_key,
        touchpoint_id,
        channel,
        created_at,
        solved_at,
        status,
        priority,
        reply_count,
        reopen_count,
        transfer_count,
        solved_at is not null and status in ('solved', 'closed') as is_resolved,
        coalesce(solved_at < created_at, false) as is_resolved_before_created,
        case
            when solved_at >= created_at then {{ hours_between('created_at', 'solved_at') }}
        end as hours_to_resolution,
        times_received,
        source_file,
        source_line,
        loaded_at
    from tickets
    where ticket_id is not null

)

select * from final
