-- One row per support ticket with its effort drivers and the CES / CSAT answers linked
-- to it by interaction_id.

with

tickets as (

    select * from {{ ref('int_tickets_enriched') }}

),

ces as (

    select
        interaction_id,
        count(*) as n_ces_responses,
        avg(ease_7pt) as ces_mean_7pt
    from {{ ref('fct_ces_responses') }}
    where interaction_id is not null
    group by 1

),

csat as (

    select
        interaction_id,
        csat_5pt,
        is_satisfied,
        row_number() over (
            partition by interaction_id order by responded_at desc, response_id desc
        ) as recency_rank
    from {{ ref('fct_csat_responses') }}
    where interaction_id is not null

),

final as (

    select
        t.ticket_id,
        t.customer_key,
        t.touchpoint_id,
        t.channel,
        t.priority,
        t.status,
        t.created_at,
        t.solved_at,
        t.is_resolved,
        t.is_resolved_before_created,
        t.hours_to_resolution,
        t.reply_count,
        t.reopen_count,
        t.transfer_count,
        coalesce(c.n_ces_responses, 0) as n_ces_responses,
        c.ces_mean_7pt,
        s.csat_5pt,
        s.is_satisfied
    from tickets as t
    left join ces as c on t.ticket_id = c.interaction_id
    left join csat as s on t.ticket_id = s.interaction_id and s.recency_rank = 1

)

select * from final
