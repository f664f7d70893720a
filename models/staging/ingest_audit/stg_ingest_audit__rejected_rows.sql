-- The records rejected while loading (audit.rejected_rows), with file, line and reason:
-- the only reader of the source; marts read this view. raw_text may hold personal data,
-- so nothing under marts selects it.

with

source as (

    select * from {{ source('ingest_audit', 'rejected_rows') }}

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
