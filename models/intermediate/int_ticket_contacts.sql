{%- set days = var('repeat_contact_days') | int -%}
-- Gartner's repeat-contact and channel-switching drivers, per ticket: the other tickets of
-- the same customer created within var repeat_contact_days (default 7) days before or
-- after this one, and the channels of this ticket and those. Both tickets of a pair are
-- repeat contacts: an answer about either comes from a customer who needed more than one
-- contact. Null for a ticket without a customer (or a creation time): unknown, not 0.
--
-- A table rebuilt by every run (a ticket that arrives today changes the counts of the
-- customer's tickets of the last week): one self-join of the tickets on the customer.

with

tickets as (

    select
        ticket_id,
        customer_key,
        channel,
        created_at
    from {{ ref('int_tickets_enriched') }}

),

known as (

    select * from tickets
    where customer_key is not null and created_at is not null

),

pairs as (

    select
        t.ticket_id,
        o.channel as other_channel
    from known as t
    inner join known as o
        on
            t.customer_key = o.customer_key
            and t.ticket_id <> o.ticket_id
            and abs({{ dbt.datediff('t.created_at', 'o.created_at', 'second') }}) <= {{ days * 86400 }}

),

channels as (

    select
        ticket_id,
        channel
    from known
    union all
    select
        ticket_id,
        other_channel as channel
    from pairs

),

repeat_counts as (

    select
        ticket_id,
        count(*) as repeat_contact_count
    from pairs
    group by 1

),

channel_counts as (

    select
        ticket_id,
        count(distinct channel) as window_channel_count
    from channels
    group by 1

),

final as (

    select
        t.ticket_id,
        case when k.ticket_id is not null then cast(coalesce(r.repeat_contact_count, 0) as integer) end
            as repeat_contact_count,
        case when k.ticket_id is not null then cast(coalesce(c.window_channel_count, 0) as integer) end
            as window_channel_count,
        cast({{ days }} as integer) as repeat_contact_days
    from tickets as t
    left join known as k on t.ticket_id = k.ticket_id
    left join repeat_counts as r on t.ticket_id = r.ticket_id
    left join channel_counts as c on t.ticket_id = c.ticket_id

)

select * from final
