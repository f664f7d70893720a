-- The touchpoint registry (seeds/touchpoints.csv) as a dimension.

with

touchpoints as (

    select * from {{ ref('touchpoints') }}

),

final as (

    select
        touchpoint_id,
        touchpoint_name,
        journey_stage,
        report_color
    from touchpoints

)

select * from final
