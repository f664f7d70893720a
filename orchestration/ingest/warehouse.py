"""Connections to the warehouse and the raw/audit DDL owned by ingestion.

dbt owns every other schema; ingestion owns `raw` (one table per landing stream) and
`audit` (load manifest and structural rejects). The engines (orchestration/engines/) open
their sessions with these.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from orchestration.ingest import pseudonym
from orchestration.ingest.contract import STREAMS
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
    """Create the raw and audit schemas and tables if they do not exist yet, and key the
    raw rows' customer pseudonyms with the current key (pseudonym.py)."""
    for statement in schema_ddl():
        conn.execute(statement)
    conn.execute("begin transaction")
    try:
        _rekey(
            lambda sql, params=(): conn.execute(sql, list(params)).fetchall(),
            "?",
            pseudonym.duckdb_sql,
        )
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise


def _rekey(query, placeholder: str, hmac_sql) -> None:
    """Recompute raw `_customer_key` when audit.pseudonym_key names another key than the
    current one (a new key, or raw rows from before keyed pseudonyms: the column is added
    to them, and no key is recorded yet). The key's pads are bound parameters. `query`
    runs one statement and returns its rows, in the caller's transaction."""
    query(PSEUDONYM_KEY_DDL)
    for stream in STREAMS.values():
        query(f"alter table {stream.qualified_table} add column if not exists _customer_key text")
    current = pseudonym.fingerprint()
    if [tuple(row) for row in query("select fingerprint from audit.pseudonym_key")] == [(current,)]:
        return
    sql, params = hmac_sql("customer_id")
    for stream in STREAMS.values():
        query(f"update {stream.qualified_table} set _customer_key = {sql}", params)
    query("delete from audit.pseudonym_key")
    query(f"insert into audit.pseudonym_key values ({placeholder})", [current])


PSEUDONYM_KEY_DDL = "create table if not exists audit.pseudonym_key (fingerprint text)"


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

        def query(sql: str, params=()) -> list[tuple]:
            cursor.execute(sql, list(params))
            return cursor.fetchall() if cursor.description else []

        _rekey(query, "%s", pseudonym.postgres_sql)
    pg.commit()
