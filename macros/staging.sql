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

{#-
    The answer_key values an incremental run of int_answers_scored (`built`) recomputes:
    answers with a raw version landed since the last run, answers rejected as
    future_timestamp, answers responded within vars reprocess_from / reprocess_to, and
    every landed answer when the registry fingerprint changed. The query reads the CTE
    registry_state of int_answers_scored.
-#}
{% macro survey_answers_to_recompute(relation, built) -%}
    {%- set answer_key = version_identity("nullif(trim(response_id), '')", '_file_hash', '_source_line') %}
    select {{ answer_key }}
    from {{ relation }}
    where
        _loaded_at > (select max(loaded_at) from {{ built }})
        or not exists (
            select 1 from {{ built }} as built
            where built.registry_fingerprint = (
                select r.registry_fingerprint from registry_state as r
            )
        )
    union
    select answer_key from {{ built }}
    where
        reject_reason = 'future_timestamp'
        or {{ in_reprocess_window('cast(responded_at as date)') }}
{%- endmacro %}

{#-
    The staging of tickets, for the view stg_landing__tickets (every landed row) and for
    the incremental run of int_tickets_enriched (`only_keys`: a query returning the
    ticket ids to recompute). One row per ticket_id: the latest landed state, typed.
-#}
{% macro stage_tickets(relation, only_keys=none) %}

with

landed as (

    select * from {{ relation }}

),

{% if only_keys is not none %}
scoped as (

    select * from landed
    where nullif(trim(ticket_id), '') in ({{ only_keys }})

),
{% endif %}

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
    from {{ 'scoped' if only_keys is not none else 'landed' }}

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

{% endmacro %}

{#-
    The ticket ids an incremental run of int_tickets_enriched (`built`) recomputes:
    tickets with a raw state landed since the last run, tickets created within vars
    reprocess_from / reprocess_to, and every landed ticket when the settings fingerprint
    changed. The query reads the CTE settings_state of int_tickets_enriched.
-#}
{% macro tickets_to_recompute(relation, built) -%}
    select nullif(trim(ticket_id), '')
    from {{ relation }}
    where
        _loaded_at > (select max(loaded_at) from {{ built }})
        or not exists (
            select 1 from {{ built }} as built
            where built.settings_fingerprint = (
                select s.settings_fingerprint from settings_state as s
            )
        )
    union
    select ticket_id from {{ built }}
    where {{ in_reprocess_window('cast(created_at as date)') }}
{%- endmacro %}
