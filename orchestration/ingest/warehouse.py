"""The warehouse file: connections and the raw/audit DDL owned by ingestion.

dbt owns every other schema; ingestion owns `raw` (one table per landing stream) and
`audit` (load manifest and structural rejects).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from orchestration.ingest.contract import LINEAGE_COLUMNS, STREAMS
from orchestration.settings import duckdb_memory_limit

AUDIT_DDL = (
    """
    create table if not exists audit.load_manifest (
        load_id varchar not null,
        stream varchar not null,
        file_path varchar not null,
        file_hash varchar not null,
        file_size_bytes bigint not null,
        file_format varchar not null,
        encoding varchar,
        rows_landed bigint not null,
        rows_accepted bigint not null,
        rows_rejected bigint not null,
        status varchar not null,
        warning varchar,
        loaded_at timestamp not null,
        duration_ms bigint not null,
        rows_skipped bigint not null default 0,
        skip_reasons varchar,
        primary key (stream, file_path, file_hash)
    )
    """,
    # warehouses created before vendor sources: the columns added since
    "alter table audit.load_manifest add column if not exists rows_skipped bigint default 0",
    "alter table audit.load_manifest add column if not exists skip_reasons varchar",
    """
    create table if not exists audit.rejected_rows (
        load_id varchar not null,
        stream varchar not null,
        file_path varchar not null,
        file_hash varchar not null,
        line bigint,
        error_type varchar not null,
        reason varchar not null,
        raw_text varchar,
        rejected_at timestamp not null
    )
    """,
)


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse with the session settings every writer must share (UTC clock,
    memory limit)."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(
        str(path), read_only=read_only, config={"memory_limit": duckdb_memory_limit()}
    )
    conn.execute("set TimeZone = 'UTC'")
    return conn


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the raw and audit schemas and tables if they do not exist yet."""
    conn.execute("create schema if not exists raw")
    conn.execute("create schema if not exists audit")
    for ddl in AUDIT_DDL:
        conn.execute(ddl)
    for stream in STREAMS.values():
        columns = [f"{name} varchar" for name in stream.columns]
        columns += [f"{name} {sql_type}" for name, sql_type in LINEAGE_COLUMNS]
        conn.execute(
            f"create table if not exists {stream.qualified_table} (\n    "
            + ",\n    ".join(columns)
            + "\n)"
        )
