-- What became of each landing file's records, per stream: landed, rejected while loading,
-- rejected in normalisation (answers), and kept. A file none of whose records was kept,
-- though it had records to keep, is `is_fully_rejected`: a whole export in a date format
-- or on a scale the warehouse does not read. The build's WARN check
-- no_fully_rejected_files names those files with their reasons. Only the latest load of
-- each path counts (a corrected file landed again replaces it); quarantined files have
-- their own check (no_quarantined_files).

with

latest_loads as (

    select
        load_id,
        stream,
        file_path,
        status,
        rows_landed,
        rows_accepted,
        rows_rejected,
        rows_skipped,
        loaded_at,
        row_number() over (partition by stream, file_path order by loaded_at desc, load_id asc) as recency
    from {{ ref('stg_ingest_audit__load_manifest') }}
    where status in ('loaded', 'loaded_with_rejects', 'rejected')

),

scored as (

    select
        source_file,
        count(*) as n_scored,
        sum(case when reject_reason is not null then 1 else 0 end) as n_rejected_in_normalisation
    from {{ ref('int_answers_scored') }}
    group by source_file

),

outcomes as (

    select
        loads.load_id,
        loads.stream,
        loads.file_path,
        loads.status,
        loads.loaded_at,
        loads.rows_landed,
        loads.rows_skipped,
        loads.rows_rejected as rows_rejected_at_landing,
        loads.rows_accepted as rows_loaded,
        case
            when loads.stream = 'survey_responses' then coalesce(scored.n_rejected_in_normalisation, 0)
            else 0
        end as rows_rejected_in_normalisation
    from latest_loads as loads
    left join scored
        on
            loads.stream = 'survey_responses'
            and loads.file_path = scored.source_file
    where loads.recency = 1

)

select
    load_id,
    stream,
    file_path,
    status,
    loaded_at,
    cast(rows_landed as bigint) as rows_landed,
    cast(rows_skipped as bigint) as rows_skipped,
    cast(rows_rejected_at_landing as bigint) as rows_rejected_at_landing,
    cast(rows_rejected_in_normalisation as bigint) as rows_rejected_in_normalisation,
    cast(rows_loaded - rows_rejected_in_normalisation as bigint) as rows_kept,
    (
        rows_landed - rows_skipped > 0
        and rows_loaded = rows_rejected_in_normalisation
    ) as is_fully_rejected
from outcomes
