-- The content of every touchpoint-day the period metrics are computed from: how many CES
-- answers it has and the exact sum of the row hashes of its source rows (CES answers,
-- CSAT answers, tickets created that day). int_touchpoint_period_metrics folds these into
-- one checksum per period and recomputes only the periods whose checksum changed.
--
-- A table rebuilt by every run: one pass over the three fact sources, grouped to one row
-- per touchpoint and day (thousands of rows, however many answers).

with

ces_rows as (

    select
        touchpoint_id,
        cast(responded_at as date) as source_day,
        {{ row_hash(["'ces'", 'response_id', 'responded_at', 'ease_7pt', 'ease_0_100', 'effort_bucket', 'csat_5pt']) }} as row_hash
    from {{ ref('fct_ces_responses') }}

),

csat_rows as (

    select
        touchpoint_id,
        cast(responded_at as date) as source_day,
        {{ row_hash(["'csat'", 'response_id', 'responded_at', 'csat_5pt', 'is_satisfied']) }} as row_hash
    from {{ ref('fct_csat_responses') }}

),

ticket_rows as (

    select
        touchpoint_id,
        cast(created_at as date) as source_day,
        {{ row_hash(["'ticket'", 'ticket_id', 'created_at', 'reopen_count', 'transfer_count', 'hours_to_resolution']) }} as row_hash
    from {{ ref('int_tickets_enriched') }}
    where created_at is not null and touchpoint_id is not null

),

per_source as (

    {% for name in ['ces', 'csat', 'ticket'] %}
        select
            touchpoint_id,
            source_day,
            {{ 'count(*)' if name == 'ces' else '0' }} as n_ces,
            {{ hash_sum('row_hash') }} as hash_total
        from {{ name }}_rows
        group by 1, 2
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        touchpoint_id,
        source_day,
        sum(n_ces) as n_ces,
        sum(hash_total) as hash_total
    from per_source
    group by 1, 2

)

select * from final
