-- The survey registry (seeds/survey_scales.csv) as a dimension, with how each scale is
-- read: its polarity, its labels, and the fingerprint the facts were built with.

with

scales as (

    select * from {{ ref('survey_scales') }}

),

label_counts as (

    select
        label_set,
        count(*) as n_labels
    from {{ ref('scale_labels') }}
    group by 1

),

fingerprints as (

    select distinct
        survey_id,
        scale_fingerprint
    from {{ ref('int_answers_scored') }}
    where scale_fingerprint is not null

),

final as (

    select
        s.survey_id,
        s.metric,
        s.scale_min,
        s.scale_max,
        s.scale_max - s.scale_min + 1 as scale_points,
        s.higher_is_better,
        s.label_set,
        coalesce(l.n_labels, 0) as n_labels,
        s.question_text,
        s.language,
        f.scale_fingerprint
    from scales as s
    left join label_counts as l on s.label_set = l.label_set
    left join fingerprints as f on s.survey_id = f.survey_id

)

select * from final
