{{ config(materialized='view') }}

-- The content of every touchpoint x period at the four grains, from the day states: CES
-- answers and the checksum of the period's source rows (docs/architecture.md,
-- "Incremental runs"). A period whose checksum differs from the one stored with its
-- metrics is recomputed.

with

day_state as (

    select * from {{ ref('int_touchpoint_day_state') }}

),

final as (

    {% for grain in ['day', 'week', 'month', 'quarter'] %}
        select
            touchpoint_id,
            '{{ grain }}' as period_grain,
            cast({{ dbt.date_trunc(grain, 'source_day') }} as date) as period_start,
            sum(n_ces) as n_ces,
            {{ checksum_fold('sum(hash_total)') }} as source_checksum
        from day_state
        group by 1, 2, 3
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from final
