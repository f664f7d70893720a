{{
    config(
        materialized='incremental',
        unique_key='answer_key',
        incremental_strategy='delete+insert',
        partition_by=('source_file' if target.type == 'spark' else none),
        on_schema_change='fail',
    )
}}

-- One row per answer (answer_key): the latest landed version of each answer, typed.
-- Exact re-sends collapse to one row; a re-sent id with other values is an update.
-- Values that do not parse stay visible as their raw text and a null typed column;
-- the audit models list them with a reason.
--
-- Incremental (delete+insert on answer_key): a run restages only the answers with a raw
-- version landed since the last run, reading every version of those answers (filtered
-- before the versioning window); every answer when the pseudonym salt changed
-- (settings_fingerprint). `--full-refresh` gives the same rows (tested).

with

landed as (

    {{ landed_versions(source('landing', 'survey_responses'), 'survey_responses', "nullif(trim(response_id), '')", 'answer_key') }}

),

renamed as (

    select
        answer_key,
        {{ mask_identifier("nullif(trim(response_id), '')") }} as response_id,
        nullif(trim(survey_id), '') as survey_id,
        _customer_key as customer_key,
        lower(nullif(trim(touchpoint), '')) as touchpoint_id,
        lower({{ mask_personal_data("nullif(trim(channel), '')") }}) as channel,
        {{ mask_identifier("nullif(trim(interaction_id), '')") }} as interaction_id,
        responded_at as responded_at_raw,
        {{ parse_timestamp_utc('responded_at') }} as responded_at,
        {{ mask_personal_data('answer') }} as answer_raw,
        {{ parse_decimal('answer') }} as answer_numeric,
        {{ mask_personal_data('comment') }} as comment,
        lower({{ mask_personal_data("nullif(trim(language), '')") }}) as language,
        _source_file as source_file,
        _source_line as source_line,
        _loaded_at as loaded_at
    from landed

),

versioned as (

    select
        *,
        {{ version_columns('answer_key') }}
    from renamed

),

final as (

    select
        answer_key,
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
        loaded_at,
        {{ settings_fingerprint() }} as settings_fingerprint
    from versioned
    where version_rank = 1

)

select * from final
