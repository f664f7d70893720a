-- What was kept out, by stage and reason: the data-quality panel of the CES report, and
-- the one table BI users may read about rejects (no raw text, no file names: counts only).
--   landing:        records rejected while loading a file (audit.rejected_rows), and
--                   records a vendor source config skipped on purpose (rows_skipped);
--   normalisation:  answers kept out of the facts (audit.audit_rejected_answers).
-- share_of_landed divides by every row landed in the stream's files, so the landing rows
-- of a stream add up with its loaded rows to 100 %.

with

landed as (

    select
        stream,
        cast(sum(rows_landed) as bigint) as n_rows_landed,
        cast(sum(rows_skipped) as bigint) as n_rows_skipped,
        max(loaded_at) as last_loaded_at
    from {{ ref('stg_ingest_audit__load_manifest') }}
    group by stream

),

landing_rejects as (

    select
        'landing' as stage,
        stream,
        error_type as reason,
        count(*) as n_rows,
        max(rejected_at) as last_seen_at
    from {{ ref('stg_ingest_audit__rejected_rows') }}
    group by stream, error_type

),

landing_skips as (

    select
        'landing' as stage,
        stream,
        'skipped_by_source_config' as reason,
        n_rows_skipped as n_rows,
        last_loaded_at as last_seen_at
    from landed
    where n_rows_skipped > 0

),

normalisation_rejects as (

    select
        'normalisation' as stage,
        'survey_responses' as stream,
        reject_reason as reason,
        count(*) as n_rows,
        max(loaded_at) as last_seen_at
    from {{ ref('audit_rejected_answers') }}
    group by reject_reason

),

kept_out as (

    select * from landing_rejects
    union all
    select * from landing_skips
    union all
    select * from normalisation_rejects

)

select
    k.stage,
    k.stream,
    k.reason,
    cast(k.n_rows as bigint) as n_rows,
    cast(coalesce(l.n_rows_landed, 0) as bigint) as n_rows_landed,
    case
        when l.n_rows_landed > 0 then cast(k.n_rows as {{ type_double() }}) / l.n_rows_landed
    end as share_of_landed,
    cast(k.last_seen_at as {{ dbt.type_timestamp() }}) as last_seen_at
from kept_out as k
left join landed as l on k.stream = l.stream
