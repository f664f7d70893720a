{{ config(materialized='table') }}

-- One row per support ticket that has CES or CSAT answers linked to it by interaction_id:
-- how many accepted CES answers, their mean ease, and the latest CSAT answer.
-- Its own table (issue 21) so that fct_ticket_effort joins two narrow per-ticket tables
-- instead of three aggregates in one statement: at 30 M answers that statement held every
-- hash table at once and ran out of DuckDB's 1 GB buffer. Rebuilt in full on every run (a
-- column scan of the two response facts), so a ticket an answer moved away from, or whose
-- answer is now rejected, loses it without keeping the answer's previous link.

with

ces as (

    select
        interaction_id,
        count(*) as n_ces_responses,
        avg(ease_7pt) as ces_mean_7pt
    from {{ ref('fct_ces_responses') }}
    where interaction_id is not null
    group by 1

),

csat as (

    select
        interaction_id,
        csat_5pt,
        is_satisfied,
        row_number() over (
            partition by interaction_id order by responded_at desc, response_id desc
        ) as recency_rank
    from {{ ref('fct_csat_responses') }}
    where interaction_id is not null

),

latest_csat as (

    select * from csat
    where recency_rank = 1

),

linked as (

    select
        coalesce(c.interaction_id, s.interaction_id) as ticket_id,
        coalesce(c.n_ces_responses, 0) as n_ces_responses,
        c.ces_mean_7pt,
        s.csat_5pt,
        s.is_satisfied
    from ces as c
    full outer join latest_csat as s on c.interaction_id = s.interaction_id

)

select * from linked
where ticket_id in (select t.ticket_id from {{ ref('int_tickets_enriched') }} as t)
