{#-
    The versioning rule of the staging models, written once: the latest landed version of
    each key wins (latest load, then file, then line), and rows without a key are never
    merged with each other (each is its own "key": file hash + line).
-#}

{#- The identity a version belongs to: the key, or file hash + line when the key is blank. -#}
{% macro version_identity(key, file_hash='file_hash', source_line='source_line') -%}
    coalesce({{ key }}, {{ file_hash }} || ':' || cast({{ source_line }} as {{ dbt.type_string() }}))
{%- endmacro %}

{#- The columns version_rank (1 = the version kept) and times_received (versions landed). -#}
{% macro version_columns(identity) -%}
    row_number() over (
        partition by {{ identity }}
        order by loaded_at desc, source_file desc, source_line desc
    ) as version_rank,
    count(*) over (partition by {{ identity }}) as times_received
{%- endmacro %}

{#-
    The content hashes of the `stream`'s files whose load committed: a manifest row that is
    not `failed`. On DuckDB and PostgreSQL a file's rows and its manifest row commit in one
    transaction, so this is every loaded file; on Spark (no transactions) the manifest row
    is written last and is the commit record: rows of an interrupted load are not read.
-#}
{% macro committed_loads(stream) -%}
    select file_hash from {{ source('ingest_audit', 'load_manifest') }}
    where stream = '{{ stream }}' and status <> 'failed'
{%- endmacro %}

{#-
    The landed rows a staging model versions, with their identity (`identity`: the key
    `raw_key`, or file hash + line): the rows of committed loads of `relation` (the landing
    source of `stream`), or in an
    incremental run every version of the identities with a version landed since the
    model's last run (all of them when the model was built with another pseudonym salt,
    column settings_fingerprint). The filter comes before the versioning window, which a
    filter on a view cannot do (DuckDB does not push a filter on the partition key
    through a window), so a daily run reads the versions of the keys that changed and
    nothing else.
-#}
{% macro landed_versions(relation, stream, raw_key, identity) -%}
    {%- set raw_identity = version_identity(raw_key, '_file_hash', '_source_line') -%}
    select
        *,
        {{ raw_identity }} as {{ identity }}
    from {{ relation }}
    where _file_hash in ({{ committed_loads(stream) }})
    {%- if is_incremental() %}
        and {{ raw_identity }} in (
            select {{ raw_identity }}
            from {{ relation }}
            where
                _loaded_at > (select max(built.loaded_at) from {{ this }} as built)
                or not exists (
                    select 1 from {{ this }} as built
                    where built.settings_fingerprint = {{ settings_fingerprint() }}
                )
        )
    {%- endif %}
{%- endmacro %}
