-- One row per answer (answer_key): the latest landed version of each answer, typed.
-- Exact re-sends collapse to one row; a re-sent id with other values is an update.
-- Values that do not parse stay visible as their raw text and a null typed column;
-- the audit models list them with a reason. The SQL is in macros/staging.sql, because
-- the incremental run of int_answers_scored stages only the answers it recomputes.

{{ stage_survey_responses(source('landing', 'survey_responses')) }}
