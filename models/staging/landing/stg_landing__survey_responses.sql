-- One row per response_id: the latest landed version of each answer, typed.
-- Exact re-sends collapse to one row; a re-sent id with other values is an update.
-- Values that do not parse stay visible as their raw text and a null typed column;
-- the audit models list them with a reason.

with

source as (

    select * from {{ source('landing', 'survey_responses') }}

),

renamed as (

    select
        nullif(trim(response_id), '') as response_id,
        nullif(trim(survey_id), '') as survey_id,
        {{ pseudonymise('customer_id') }} as customer_key,
        lower(nullif(trim(touchpoint), '')) as touchpoint_id,
        lower(nullif(trim(channel), '')) as channel,
        nullif(trim(interaction_id), '') as interaction_id,
        responded_at as responded_at_raw,
        {{ parse_timestamp_utc('responded_at') }} as responded_at,
        answer as answer_raw,
        {{ parse_decimal('answer') }} as answer_numeric,
        {{ mask_personal_data('comment') }} as comment,
        lower(nullif(trim(language), '')) as language,
        _source_file as source_file,
        _source_line as source_line,
        _loaded_at as loaded_at,
        _file_hash as file_hash
    from source

),

versioned as (

    select
        *,
        {{ version_columns('response_id') }}
    from renamed

),

final as (

    select
        response_id,
        survey_id,
        customer_key,
        touchpoint_id,
        channel,
        interaction_id,
        responded_at_raw,
        responded_at,
        answer_raw,
        answer_numeric,
        comment,
        language,
        times_received,
        source_file,
        source_line,
        loaded_at
    from versioned
    where version_rank = 1

)

select * from final
