{{
    config(
        materialized='incremental',
        unique_key='response_id',
        incremental_strategy='delete+insert',
        partition_by=('response_date' if target.type == 'spark' else none),
        on_schema_change='fail',
        post_hook=[
            "{{ delete_answers_no_longer_accepted('csat') }}"
        ],
    )
}}

{%- set watermark = refreshed_watermark() %}
{%- set recomputed -%}
    (
        refreshed_at > {{ watermark }}
        or interaction_id in (
            select t.ticket_id from {{ ref('int_tickets_enriched') }} as t
            where t.refreshed_at > {{ watermark }}
        )
    )
{%- endset %}

-- One row per accepted CSAT answer (latest version of each response_id), with its
-- satisfaction on the common 5-point scale and the linked ticket's effort drivers.
-- Incremental: a run reprocesses the answers that int_answers_scored recomputed since this
-- table was last written and the answers about a ticket recomputed since; a post-hook
-- removes answers whose latest version is now rejected. `--full-refresh` rebuilds the
-- same rows.

with

answers as (

    select * from {{ ref('int_answers_scored') }}
    where
        metric = 'csat'
        and reject_reason is null
        and {{ recomputed if is_incremental() else 'true' }}

),

tickets as (

    select * from {{ ref('int_tickets_enriched') }}

),

final as (

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
        a.scale_position,
        1 + 4 * a.scale_position as csat_5pt,
        {{ is_satisfied('a.scale_position') }} as is_satisfied,
        t.ticket_id,
        t.reopen_count as ticket_reopen_count,
        t.transfer_count as ticket_transfer_count,
        t.hours_to_resolution as ticket_hours_to_resolution,
        a.comment,
        a.language,
        a.times_received,
        a.loaded_at,
        {{ run_started_timestamp() }} as refreshed_at
    from answers as a
    left join tickets as t on a.interaction_id = t.ticket_id

)

select * from final
