{{
    config(
        materialized='incremental',
        unique_key='response_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook=[
            "{% if is_incremental() %}delete from {{ this }} where response_id in (select response_id from {{ ref('int_answers_scored') }} where reject_reason is not null or metric <> 'ces'){% endif %}"
        ],
    )
}}

-- One row per accepted CES answer (latest version of each response_id), with its ease on
-- the common scales, the linked CSAT answer and the linked ticket's effort drivers.
-- Incremental: a run reprocesses answers whose own row, linked CSAT answer or ticket landed
-- since the last run, answers not in the table yet (e.g. back after a registry fix), and
-- every answer of a survey whose scale registration changed, and (backfill) every answer
-- responded within vars reprocess_from / reprocess_to. `--full-refresh` rebuilds the same
-- rows.

with

answers as (

    select * from {{ ref('int_answers_scored') }}
    where metric = 'ces' and reject_reason is null

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
    where metric = 'csat' and reject_reason is null and interaction_id is not null

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
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp) as refreshed_at
    from joined
    {% if is_incremental() %}
        where
            source_loaded_at > (select max(source_loaded_at) from {{ this }})
            or not exists (
                select 1 from {{ this }} as existing
                where existing.response_id = joined.response_id
            )
            or not exists (
                select 1
                from (select distinct survey_id, scale_fingerprint from {{ this }}) as built
                where
                    built.survey_id = joined.survey_id
                    and built.scale_fingerprint = joined.scale_fingerprint
            )
            {% if var('reprocess_from', none) is not none or var('reprocess_to', none) is not none %}
                or (
                    true
                    {% if var('reprocess_from', none) is not none %}
                        and response_date >= cast('{{ var("reprocess_from") }}' as date)
                    {% endif %}
                    {% if var('reprocess_to', none) is not none %}
                        and response_date <= cast('{{ var("reprocess_to") }}' as date)
                    {% endif %}
                )
            {% endif %}
    {% endif %}

)

select * from final
