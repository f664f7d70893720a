-- One row per ticket_id: the latest landed state of each ticket, typed.

with

source as (

    select * from {{ source('landing', 'tickets') }}

),

renamed as (

    select
        nullif(trim(ticket_id), '') as ticket_id,
        {{ pseudonymise('customer_id') }} as customer_key,
        lower(nullif(trim(touchpoint), '')) as touchpoint_id,
        lower(nullif(trim(channel), '')) as channel,
        created_at as created_at_raw,
        {{ parse_timestamp_utc('created_at') }} as created_at,
        solved_at as solved_at_raw,
        {{ parse_timestamp_utc('solved_at') }} as solved_at,
        lower(nullif(trim(status), '')) as status,
        lower(nullif(trim(priority), '')) as priority,
        {{ parse_integer('reply_count') }} as reply_count,
        {{ parse_integer('reopen_count') }} as reopen_count,
        {{ parse_integer('transfer_count') }} as transfer_count,
        _source_file as source_file,
        _source_line as source_line,
        _loaded_at as loaded_at,
        _file_hash as file_hash
    from source

),

versioned as (

    select
        *,
        {{ version_columns(version_identity('ticket_id')) }}
    from renamed

),

final as (

    select
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
        loaded_at
    from versioned
    where version_rank = 1

)

select * from final
