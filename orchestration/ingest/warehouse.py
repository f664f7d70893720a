"""Connections to the warehouse and the raw/audit DDL owned by ingestion.

dbt owns every other schema; ingestion owns `raw` (one table per landing stream) and
`audit` (load manifest and structural rejects). The engines (orchestration/engines/) open
their sessions with these.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from orchestration.ingest.sinks import schema_ddl
from orchestration.settings import DEFAULT_DUCKDB_MEMORY_LIMIT, PostgresConnection


def connect(
    path: Path, read_only: bool = False, memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse with the session settings every writer must share (UTC clock,
    memory limit)."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(path), read_only=read_only, config={"memory_limit": memory_limit})
    conn.execute("set TimeZone = 'UTC'")
    return conn


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the raw and audit schemas and tables if they do not exist yet."""
    for statement in schema_ddl():
        conn.execute(statement)


def connect_postgres(connection: PostgresConnection, **overrides):
    """A psycopg2 connection to the PostgreSQL warehouse, its clock in UTC; `overrides`
    replace connection fields (another user, another database)."""
    import psycopg2

    return psycopg2.connect(**connection.connect_kwargs(**overrides), options="-c timezone=UTC")


def ensure_schema_postgres(pg) -> None:
    """The raw and audit schemas and tables in PostgreSQL, if they do not exist yet."""
    with pg.cursor() as cursor:
        for statement in schema_ddl():
            cursor.execute(statement)
    pg.commit()
