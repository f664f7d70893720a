{%- set days = var('followup_days') | int -%}
-- The closed loop: the most recent very difficult CES answers (ease_7pt at most var
-- followup_max_ease_7pt, default 2: the lowest answers of their scale) of the last var
-- followup_days (14) days up to the as-of date that leave support something to act on:
-- a comment or a linked ticket. Identified by response id, ticket id and the customer
-- pseudonym only, no contact data: support looks the customer up in its help desk.
-- Most recent first (queue_rank 1).

with

build_info as (

    select as_of_date from {{ ref('rpt_build_info') }}

),

answers as (

    select
        r.*,
        b.as_of_date
    from {{ ref('fct_ces_responses') }} as r
    cross join build_info as b
    where
        r.ease_7pt <= {{ var('followup_max_ease_7pt') }}
        and r.response_date <= b.as_of_date
        and r.response_date > cast({{ dbt.dateadd('day', -days, 'b.as_of_date') }} as date)
        and (nullif(trim(r.comment), '') is not null or r.ticket_id is not null)

),

final as (

    select
        cast(row_number() over (order by a.responded_at desc, a.response_id asc) as integer)
            as queue_rank,
        a.response_id,
        a.ticket_id,
        a.customer_key,
        a.responded_at,
        a.response_date,
        cast({{ dbt.datediff('a.response_date', 'a.as_of_date', 'day') }} as integer)
            as days_since_answer,
        a.touchpoint_id,
        tp.touchpoint_name,
        a.survey_id,
        a.channel,
        a.language,
        a.answer_raw,
        a.ease_7pt,
        a.effort_bucket,
        nullif(trim(a.comment), '') is not null as has_comment,
        a.comment,
        t.status as ticket_status,
        t.is_resolved as is_ticket_resolved,
        t.reopen_count as ticket_reopen_count,
        t.transfer_count as ticket_transfer_count,
        t.is_repeat_contact,
        a.as_of_date
    from answers as a
    left join {{ ref('fct_ticket_effort') }} as t on a.ticket_id = t.ticket_id
    left join {{ ref('dim_touchpoint') }} as tp on a.touchpoint_id = tp.touchpoint_id

)

select * from final
