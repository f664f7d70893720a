"""The warehouse: connections and the raw/audit DDL owned by ingestion.

dbt owns every other schema; ingestion owns `raw` (one table per landing stream) and
`audit` (load manifest and structural rejects).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from orchestration.ingest.sinks import DuckDBSink, PostgresSink, Sink, schema_ddl
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


@contextmanager
def ingesting(engine: str, path: Path) -> Iterator[tuple[duckdb.DuckDBPyConnection, Sink]]:
    """What ingestion needs, schemas created: the DuckDB connection that reads and stages
    the landing files, and the sink that receives their rows (orchestration/ingest/sinks.py).

    On DuckDB both are the warehouse file at `path`. On PostgreSQL the stage is an in-memory
    DuckDB (spilling beside `path` past the memory limit) and the sink copies into the
    server; `path` itself is not created.
    """
    if engine == "postgres":
        path.parent.mkdir(parents=True, exist_ok=True)
        pg = connect_postgres()
        stage = duckdb.connect(
            config={
                "memory_limit": duckdb_memory_limit(),
                "temp_directory": str(path.parent / "ingest_stage.tmp"),
            }
        )
        try:
            ensure_schema_postgres(pg)
            stage.execute("set TimeZone = 'UTC'")
            yield stage, PostgresSink(pg)
        finally:
            stage.close()
            pg.close()
    else:
        conn = connect(path)
        try:
            ensure_schema(conn)
            yield conn, DuckDBSink(conn)
        finally:
            conn.close()


@contextmanager
def reading(engine: str, path: Path) -> Iterator[Sink]:
    """Read-only queries on the warehouse (`execute(sql, params)` with `?` placeholders,
    returning every row): the PostgreSQL warehouse in a read-only session, or the DuckDB
    file at `path`, attached read-only to a fresh in-memory database as its default
    catalog. Attaching, unlike `connect(path, read_only=True)`, never conflicts with
    another connection to the same file in this process, whatever its settings (DuckDB
    refuses a second in-process connection to a file with other settings)."""
    if engine == "postgres":
        pg = connect_postgres()
        try:
            pg.set_session(readonly=True, autocommit=True)
            yield PostgresSink(pg)
        finally:
            pg.close()
    else:
        from orchestration.ingest.loader import sql_identifier, sql_literal

        conn = duckdb.connect(
            config={"memory_limit": duckdb_memory_limit(), "temp_directory": f"{path}.tmp"}
        )
        try:
            conn.execute("set TimeZone = 'UTC'")
            # under the file's own name, as a direct connection would: dbt's views name it
            conn.execute(f"attach {sql_literal(str(path))} (read_only)")
            conn.execute(f"use {sql_identifier(path.stem)}")
            yield DuckDBSink(conn)
        finally:
            conn.close()
