-- The records rejected while loading (audit.rejected_rows), with file, line and reason:
-- the only reader of the source; marts read this view. raw_text may hold personal data,
-- so nothing under marts selects it. Only rejects of committed loads (a manifest row that
-- is not `failed`; on Spark the manifest row is a load's commit record).

with

source as (

    select rejected.*
    from {{ source('ingest_audit', 'rejected_rows') }} as rejected
    where exists (
        select 1
        from {{ source('ingest_audit', 'load_manifest') }} as manifest
        where
            manifest.stream = rejected.stream
            and manifest.file_hash = rejected.file_hash
            and manifest.status <> 'failed'
    )

),

renamed as (

    select
        load_id,
        stream,
        file_path,
        file_hash,
        line,
        error_type,
        reason,
        raw_text,
        rejected_at
    from source

)

select * from renamed
