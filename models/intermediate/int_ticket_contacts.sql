{{
    config(
        materialized='incremental',
        unique_key='ticket_id',
        incremental_strategy='delete+insert',
        partition_by=('refreshed_at' if target.type == 'spark' else none),
        on_schema_change='fail',
    )
}}

{%- set days = var('repeat_contact_days') | int -%}
{%- set watermark = refreshed_watermark() %}
-- Gartner's repeat-contact and channel-switching drivers, per ticket: the other tickets of
-- the same customer created within var repeat_contact_days (default 7) days before or
-- after this one, and the channels of this ticket and those. Both tickets of a pair are
-- repeat contacts: an answer about either comes from a customer who needed more than one
-- contact. Null for a ticket without a customer (or a creation time): unknown, not 0.
--
-- One self-join of the tickets on the customer. Incremental (issue 21: 8 s of a 10 M-answer
-- daily build): a ticket that arrives today changes the counts of the customer's tickets
-- of the last week, so a run recomputes every ticket of each customer with a ticket
-- int_tickets_enriched recomputed since this table was last written (under its new and
-- its previous customer key), and every ticket when var repeat_contact_days changed.
-- `--full-refresh` gives the same rows (tested).

with

{% if is_incremental() %}

changed_tickets as (

    select
        ticket_id,
        customer_key
    from {{ ref('int_tickets_enriched') }}
    where refreshed_at > {{ watermark }}

),

affected_customers as (

    select customer_key from changed_tickets
    union
    select b.customer_key
    from {{ this }} as b
    inner join changed_tickets as c on b.ticket_id = c.ticket_id

),

{% endif %}

tickets as (

    select
        ticket_id,
        customer_key,
        channel,
        created_at
    from {{ ref('int_tickets_enriched') }}
    {%- if is_incremental() %}
    where
        customer_key in (select a.customer_key from affected_customers as a)
        or ticket_id in (select c.ticket_id from changed_tickets as c)
        or exists (select 1 from {{ this }} where repeat_contact_days <> {{ days }})
    {%- endif %}

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
        t.customer_key,
        case when k.ticket_id is not null then cast(coalesce(r.repeat_contact_count, 0) as integer) end
            as repeat_contact_count,
        case when k.ticket_id is not null then cast(coalesce(c.window_channel_count, 0) as integer) end
            as window_channel_count,
        cast({{ days }} as integer) as repeat_contact_days,
        {{ run_started_timestamp() }} as refreshed_at
    from tickets as t
    left join known as k on t.ticket_id = k.ticket_id
    left join repeat_counts as r on t.ticket_id = r.ticket_id
    left join channel_counts as c on t.ticket_id = c.ticket_id

)

select * from final
