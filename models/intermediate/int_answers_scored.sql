{{
    config(
        materialized='incremental',
        unique_key='answer_key',
        incremental_strategy='delete+insert',
        partition_by=('source_file' if target.type == 'spark' else none),
        on_schema_change='fail',
    )
}}

-- Every answer (CES and CSAT), resolved against the registries and placed on its scale.
-- An answer that cannot be placed gets exactly one reject_reason (first failing check
-- in the order below) and no position; accepted answers have reject_reason null.
--
-- Incremental: a run recomputes only the answers (answer_key) staged since the last run
-- (a new raw version), answers rejected as future_timestamp (time has passed since), and
-- (backfill) answers responded within vars reprocess_from / reprocess_to. When the
-- registries or a var that decides the result changed (registry_fingerprint), it
-- recomputes every answer. `--full-refresh` gives the same rows (tested).


with

scales as (

    select * from {{ ref('survey_scales') }}

),

labels as (

    select
        label_set,
        {{ normalise_label('label') }} as label_key,
        value
    from {{ ref('scale_labels') }}

),

touchpoints as (

    select touchpoint_id from {{ ref('touchpoints') }}

),

scale_fingerprints as (

    -- Changes when anything that decides a position changes (scale, polarity, labels):
    -- facts built with an older fingerprint are recomputed by incremental runs.
    select
        s.survey_id,
        md5(
            s.metric || '|' || cast(s.scale_min as {{ dbt.type_string() }})
            || '|' || cast(s.scale_max as {{ dbt.type_string() }})
            || '|' || cast(s.higher_is_better as {{ dbt.type_string() }})
            || '|' || coalesce(s.label_set, '')
            || '|' || coalesce(
                (
                    select {{ dbt.listagg("l.label_key || '=' || cast(l.value as " ~ dbt.type_string() ~ ")", "','", "order by l.label_key") }}
                    from labels as l
                    where l.label_set = s.label_set
                ),
                ''
            )
        ) as scale_fingerprint
    from scales as s

),

registry_state as (

    -- Everything besides the raw rows that decides a row of this model.
    select
        md5(
            coalesce((
                select {{ dbt.listagg(
                    "survey_id || '|' || metric || '|' || cast(scale_min as " ~ dbt.type_string() ~ ") || '|' || cast(scale_max as " ~ dbt.type_string() ~ ") || '|' || cast(higher_is_better as " ~ dbt.type_string() ~ ") || '|' || coalesce(label_set, '')",
                    "';'", "order by survey_id") }}
                from scales
            ), '')
            || '#' || coalesce((
                select {{ dbt.listagg(
                    "label_set || '|' || label_key || '=' || cast(value as " ~ dbt.type_string() ~ ")",
                    "';'", "order by label_set, label_key, value") }}
                from labels
            ), '')
            || '#' || coalesce((
                select {{ dbt.listagg("touchpoint_id", "';'", "order by touchpoint_id") }}
                from touchpoints
            ), '')
            || '#' || '{{ var("future_tolerance_minutes") }}'
            || '#' || {{ settings_fingerprint() }}
        ) as registry_fingerprint

),

answers as (

    select staged.* from {{ ref('stg_landing__survey_responses') }} as staged
    {% if is_incremental() %}
        where
            staged.loaded_at > (select max(built.loaded_at) from {{ this }} as built)
            or staged.answer_key in (
                select built.answer_key from {{ this }} as built
                where
                    built.reject_reason = 'future_timestamp'
                    or {{ in_reprocess_window('cast(built.responded_at as date)') }}
            )
            or not exists (
                select 1 from {{ this }} as built
                where built.registry_fingerprint = (
                    select r.registry_fingerprint from registry_state as r
                )
            )
    {% endif %}

),

resolved as (

    select
        a.*,
        s.metric,
        s.scale_min,
        s.scale_max,
        s.higher_is_better,
        s.label_set,
        f.scale_fingerprint,
        s.survey_id is not null as is_known_survey,
        t.touchpoint_id is not null as is_known_touchpoint,
        l.value as label_value,
        coalesce(a.answer_numeric, l.value) as answer_value
    from answers as a
    left join scales as s on a.survey_id = s.survey_id
    left join scale_fingerprints as f on a.survey_id = f.survey_id
    left join touchpoints as t on a.touchpoint_id = t.touchpoint_id
    left join labels as l
        on
            s.label_set = l.label_set
            and {{ normalise_label('a.answer_raw') }} = l.label_key

),

checked as (

    select
        *,
        case
            when response_id is null then 'missing_response_id'
            when survey_id is null then 'missing_survey_id'
            when not is_known_survey then 'unknown_survey'
            when touchpoint_id is null then 'missing_touchpoint'
            when not is_known_touchpoint then 'unknown_touchpoint'
            when nullif(trim(responded_at_raw), '') is null then 'missing_timestamp'
            when responded_at is null then 'unparseable_timestamp'
            when responded_at < cast('{{ var("earliest_plausible_date") }}' as timestamp)
                then 'implausible_timestamp'
            when responded_at > {{ dbt.dateadd('minute', var('future_tolerance_minutes'), clock_now_timestamp()) }}
                then 'future_timestamp'
            when nullif(trim(answer_raw), '') is null then 'missing_answer'
            when answer_value is null and label_set is not null then 'unknown_label'
            when answer_value is null then 'non_numeric_answer'
            when answer_value <> floor(answer_value) then 'fractional_answer'
            when answer_value < scale_min or answer_value > scale_max then 'out_of_range_answer'
        end as reject_reason
    from resolved

),

final as (

    select
        answer_key,
        response_id,
        survey_id,
        metric,
        customer_key,
        touchpoint_id,
        channel,
        interaction_id,
        responded_at,
        responded_at_raw,
        answer_raw,
        case when reject_reason is null then answer_value end as answer_value,
        scale_min,
        scale_max,
        higher_is_better,
        label_set,
        scale_fingerprint,
        case
            when reject_reason is null
                then {{ scale_position('answer_value', 'scale_min', 'scale_max', 'higher_is_better') }}
        end as scale_position,
        reject_reason,
        comment,
        language,
        times_received,
        source_file,
        source_line,
        loaded_at,
        (select r.registry_fingerprint from registry_state as r) as registry_fingerprint,
        {{ run_started_timestamp() }} as refreshed_at
    from checked

)

select * from final
