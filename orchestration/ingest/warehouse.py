"""The warehouse: connections and the raw/audit DDL owned by ingestion.

dbt owns every other schema; ingestion owns `raw` (one table per landing stream) and
`audit` (load manifest and structural rejects).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from orchestration.ingest.sinks import schema_ddl
from orchestration.settings import duckdb_memory_limit, postgres_connection_settings


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
    for statement in schema_ddl():
        conn.execute(statement)


def connect_postgres(**overrides):
    """A psycopg2 connection to the PostgreSQL warehouse (CES_PG_*), its clock in UTC."""
    import psycopg2

    settings = {**postgres_connection_settings(), **overrides}
    return psycopg2.connect(**settings, options="-c timezone=UTC")


def ensure_schema_postgres(pg) -> None:
    """The raw and audit schemas and tables in PostgreSQL, if they do not exist yet."""
    with pg.cursor() as cursor:
        for statement in schema_ddl():
            cursor.execute(statement)
    pg.commit()
