{{
    config(
        materialized='incremental',
        unique_key='ticket_key',
        incremental_strategy='delete+insert',
        partition_by=('source_file' if target.type == 'spark' else none),
        on_schema_change='fail',
    )
}}

-- One row per ticket (ticket_key): the latest landed state of each ticket, typed. Counts
-- that are not whole numbers and timestamps that do not parse become null next to their
-- raw text.
--
-- Incremental (delete+insert on ticket_key): a run restages only the tickets with a raw
-- state landed since the last run, reading every state of those tickets (filtered before
-- the versioning window); every ticket when the pseudonym salt changed
-- (settings_fingerprint). `--full-refresh` gives the same rows (tested).

with

landed as (

    {{ landed_versions(source('landing', 'tickets'), 'tickets', "nullif(trim(ticket_id), '')", 'ticket_key') }}

),

renamed as (

    select
        ticket_key,
        {{ mask_identifier("nullif(trim(ticket_id), '')") }} as ticket_id,
        _customer_key as customer_key,
        lower(nullif(trim(touchpoint), '')) as touchpoint_id,
        lower({{ mask_personal_data("nullif(trim(channel), '')") }}) as channel,
        created_at as created_at_raw,
        {{ parse_timestamp_utc('created_at') }} as created_at,
        solved_at as solved_at_raw,
        {{ parse_timestamp_utc('solved_at') }} as solved_at,
        lower({{ mask_personal_data("nullif(trim(status), '')") }}) as status,
        lower({{ mask_personal_data("nullif(trim(priority), '')") }}) as priority,
        {{ parse_integer('reply_count') }} as reply_count,
        {{ parse_integer('reopen_count') }} as reopen_count,
        {{ parse_integer('transfer_count') }} as transfer_count,
        _source_file as source_file,
        _source_line as source_line,
        _loaded_at as loaded_at
    from landed

),

versioned as (

    select
        *,
        {{ version_columns('ticket_key') }}
    from renamed

),

final as (

    select
        ticket_key,
        ticket_id,
        customer_key,
        touchpoint_id,
        channel,
        created_at_raw,
        created_at,
        solved_at_raw,
        solved_at,
        status,
        priority,
        reply_count,
        reopen_count,
        transfer_count,
        times_received,
        source_file,
        source_line,
        loaded_at,
        {{ settings_fingerprint() }} as settings_fingerprint
    from versioned
    where version_rank = 1

)

select * from final
