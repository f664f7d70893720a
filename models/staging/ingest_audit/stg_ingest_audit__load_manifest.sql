-- The load manifest as ingestion wrote it (audit.load_manifest), one row per landing file
-- and content hash: the only reader of the source; marts read this view.

with

source as (

    select * from {{ source('ingest_audit', 'load_manifest') }}

),

renamed as (

    select
        load_id,
        stream,
        file_path,
        file_hash,
        file_size_bytes,
        file_format,
        encoding,
        rows_landed,
        rows_accepted,
        rows_rejected,
        status,
        warning,
        loaded_at,
        duration_ms,
        rows_skipped,
        skip_reasons
    from source

)

select * from renamed
