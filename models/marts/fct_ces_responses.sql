{{
    config(
        materialized='incremental',
        unique_key='response_id',
        incremental_strategy='delete+insert',
        partition_by=('response_date' if target.type == 'spark' else none),
        on_schema_change='fail',
        post_hook=[
            "{{ delete_answers_no_longer_accepted('ces') }}"
        ],
    )
}}

{%- set watermark = refreshed_watermark() %}

-- One row per accepted CES answer (latest version of each response_id), with its ease on
-- the common scales, the linked CSAT answer and the linked ticket's effort drivers.
-- Incremental: a run reprocesses the answers that int_answers_scored recomputed since this
-- table was last written (which covers new versions, registry changes and backfills), the
-- answers of an interaction whose CSAT answer or ticket was recomputed since, and the
-- answers linked to a CSAT answer that was recomputed (it may have moved to another
-- interaction or been rejected). `--full-refresh` rebuilds the same rows.

with

{% if is_incremental() %}

-- Recomputed upstream since this table was last written.
changed_answers as (

    select response_id, metric, interaction_id
    from {{ ref('int_answers_scored') }}
    where refreshed_at > {{ watermark }}

),

changed_interactions as (

    select interaction_id from changed_answers
    where metric = 'csat' and interaction_id is not null
    union
    select ticket_id from {{ ref('int_tickets_enriched') }}
    where refreshed_at > {{ watermark }}

),

affected as (

    select response_id from changed_answers
    where metric = 'ces' and response_id is not null
    union
    select response_id from {{ ref('int_answers_scored') }}
    where interaction_id in (select c.interaction_id from changed_interactions as c)
    union
    select response_id from {{ this }}
    where
        linked_csat_response_id in (
            select c.response_id from changed_answers as c where c.metric = 'csat'
        )

),

{% endif %}

answers as (

    select * from {{ ref('int_answers_scored') }}
    where
        metric = 'ces'
        and reject_reason is null
        and {{ 'response_id in (select a.response_id from affected as a)' if is_incremental() else 'true' }}

),

csat_by_interaction as (

    select
        interaction_id,
        response_id,
        scale_position,
        loaded_at,
        row_number() over (
            partition by interaction_id
            order by responded_at desc, response_id desc
        ) as recency_rank
    from {{ ref('int_answers_scored') }}
    where
        metric = 'csat'
        and reject_reason is null
        and interaction_id is not null
        and {{ 'interaction_id in (select a.interaction_id from answers as a)' if is_incremental() else 'true' }}

),

latest_csat as (

    select * from csat_by_interaction
    where recency_rank = 1

),

tickets as (

    select * from {{ ref('int_tickets_enriched') }}

),

joined as (

    select
        a.response_id,
        a.survey_id,
        a.customer_key,
        a.touchpoint_id,
        a.channel,
        a.interaction_id,
        a.responded_at,
        cast(a.responded_at as date) as response_date,
        a.answer_raw,
        a.answer_value,
        a.scale_min,
        a.scale_max,
        a.higher_is_better,
        a.scale_fingerprint,
        a.scale_position,
        100 * a.scale_position as ease_0_100,
        1 + 6 * a.scale_position as ease_7pt,
        {{ effort_bucket('a.scale_position') }} as effort_bucket,
        c.response_id as linked_csat_response_id,
        1 + 4 * c.scale_position as csat_5pt,
        {{ is_satisfied('c.scale_position') }} as is_satisfied,
        t.ticket_id,
        t.reopen_count as ticket_reopen_count,
        t.transfer_count as ticket_transfer_count,
        t.hours_to_resolution as ticket_hours_to_resolution,
        a.comment,
        a.language,
        a.times_received,
        case
            when c.loaded_at > a.loaded_at and c.loaded_at >= coalesce(t.loaded_at, c.loaded_at)
                then c.loaded_at
            when t.loaded_at > a.loaded_at then t.loaded_at
            else a.loaded_at
        end as source_loaded_at
    from answers as a
    left join latest_csat as c on a.interaction_id = c.interaction_id
    left join tickets as t on a.interaction_id = t.ticket_id

),

final as (

    select
        response_id,
        survey_id,
        customer_key,
        touchpoint_id,
        channel,
        interaction_id,
        responded_at,
        response_date,
        answer_raw,
        answer_value,
        scale_min,
        scale_max,
        higher_is_better,
        scale_fingerprint,
        scale_position,
        ease_0_100,
        ease_7pt,
        effort_bucket,
        linked_csat_response_id,
        csat_5pt,
        is_satisfied,
        ticket_id,
        ticket_reopen_count,
        ticket_transfer_count,
        ticket_hours_to_resolution,
        comment,
        language,
        times_received,
        source_loaded_at,
        {{ run_started_timestamp() }} as refreshed_at
    from joined

)

select * from final
