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
