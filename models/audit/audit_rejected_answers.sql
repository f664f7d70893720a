-- Answers kept out of the facts, one reason each, with where they came from.
-- Fixing a registry (a seed row) brings an answer back on the next build.

with

rejected as (

    select * from {{ ref('int_answers_scored') }}
    where reject_reason is not null

),

final as (

    select
        response_id,
        survey_id,
        touchpoint_id,
        responded_at_raw,
        answer_raw,
        reject_reason,
        case reject_reason
            when 'missing_response_id' then 'response_id is empty'
            when 'missing_survey_id' then 'survey_id is empty'
            when 'unknown_survey' then 'survey ' || survey_id || ' is not in seeds/survey_scales.csv'
            when 'missing_touchpoint' then 'touchpoint is empty'
            when 'unknown_touchpoint' then 'touchpoint ' || touchpoint_id || ' is not in seeds/touchpoints.csv'
            when 'missing_timestamp' then 'responded_at is empty'
            when 'unparseable_timestamp' then 'responded_at "' || responded_at_raw || '" is not an ISO-8601 timestamp'
            when 'implausible_timestamp' then 'responded_at ' || responded_at_raw || ' is before {{ var("earliest_plausible_date") }} (var earliest_plausible_date): a placeholder date'
            when 'future_timestamp' then 'responded_at ' || responded_at_raw || ' is after the build started'
            when 'missing_answer' then 'answer is empty'
            when 'unknown_label' then 'answer "' || answer_raw || '" is not a label of set ' || label_set
            when 'non_numeric_answer' then 'answer "' || answer_raw || '" is not a number (use a dot for decimals)'
            when 'fractional_answer' then 'answer ' || answer_raw || ' is not a whole point of the scale'
            when 'out_of_range_answer'
                then
                    'answer ' || answer_raw || ' is outside ' || cast(scale_min as {{ dbt.type_string() }})
                    || '-' || cast(scale_max as {{ dbt.type_string() }}) || ' of survey ' || survey_id
        end as reason_detail,
        source_file,
        source_line,
        loaded_at
    from rejected

)

select * from final
