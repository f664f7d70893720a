{{
    config(
        materialized='incremental',
        unique_key='ticket_id',
        incremental_strategy='delete+insert',
        partition_by=('refreshed_at' if target.type == 'spark' else none),
        on_schema_change='fail',
    )
}}

{%- set watermark = refreshed_watermark() %}

-- One row per support ticket with its effort drivers (reopens, transfers, resolution
-- time, repeat contact and channel switching from int_ticket_contacts) and the CES /
-- CSAT answers linked to it by interaction_id (int_ticket_answers).
-- Incremental: a run rewrites the tickets that int_tickets_enriched recomputed since this
-- table was last written, and the tickets whose linked answers no longer give the stored
-- count, mean or CSAT, or whose repeat-contact counts changed (a new ticket of the same
-- customer within the window). int_ticket_answers is rebuilt in full on every run, so a
-- ticket an answer moved away from, or whose answer is now rejected, is found without
-- keeping the answer's previous link. `--full-refresh` rebuilds the same rows.

with

tickets as (

    select * from {{ ref('int_tickets_enriched') }}

),

answers as (

    select * from {{ ref('int_ticket_answers') }}

),

contacts as (

    select * from {{ ref('int_ticket_contacts') }}

),

{% if is_incremental() %}

changed_links as (

    select built.ticket_id
    from {{ this }} as built
    left join answers as a on built.ticket_id = a.ticket_id
    left join contacts as k on built.ticket_id = k.ticket_id
    where
        built.n_ces_responses <> coalesce(a.n_ces_responses, 0)
        -- means recomputed in another summation order may differ in the last bits
        or (built.ces_mean_7pt is null) <> (a.ces_mean_7pt is null)
        or abs(built.ces_mean_7pt - a.ces_mean_7pt) > 1e-9
        or built.csat_5pt is distinct from a.csat_5pt
        or built.is_satisfied is distinct from a.is_satisfied
        or built.repeat_contact_count is distinct from k.repeat_contact_count
        or built.window_channel_count is distinct from k.window_channel_count

),

{% endif %}

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
        k.repeat_contact_count,
        k.repeat_contact_count > 0 as is_repeat_contact,
        k.window_channel_count,
        k.window_channel_count > 1 as is_channel_switch,
        coalesce(a.n_ces_responses, 0) as n_ces_responses,
        a.ces_mean_7pt,
        a.csat_5pt,
        a.is_satisfied,
        {{ run_started_timestamp() }} as refreshed_at
    from tickets as t
    left join answers as a on t.ticket_id = a.ticket_id
    left join contacts as k on t.ticket_id = k.ticket_id
    where
        {{ '(t.refreshed_at > ' ~ watermark ~ ' or t.ticket_id in (select l.ticket_id from changed_links as l))' if is_incremental() else 'true' }}

)

select * from final
