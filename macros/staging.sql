{#-
    The staging of survey answers, written once for two callers:
    - the view stg_landing__survey_responses (every landed row);
    - the incremental run of int_answers_scored, which stages only the answers a run must
      recompute. `only_keys` is a query returning their answer_key values; it filters the
      raw rows before the deduplication window, which a filter on the view cannot do
      (DuckDB does not push a filter on the partition key through a window).
    One row per answer_key: the latest landed version of each answer, typed. Exact re-sends
    collapse to one row; a re-sent id with other values is an update. Values that do not
    parse stay visible as their raw text and a null typed column.
-#}
{% macro stage_survey_responses(relation, only_keys=none) %}

with

landed as (

    select
        *,
        {{ version_identity("nullif(trim(response_id), '')", '_file_hash', '_source_line') }}
            as answer_key
    from {{ relation }}

),

{% if only_keys is not none %}
scoped as (

    select * from landed
    where answer_key in ({{ only_keys }})

),
{% endif %}

renamed as (

    select
        answer_key,
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
        _loaded_at as loaded_at
    from {{ 'scoped' if only_keys is not none else 'landed' }}

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
        loaded_at
    from versioned
    where version_rank = 1

)

select * from final

{% endmacro %}
