"""Where ingestion writes: the raw tables, `audit.rejected_rows` and `audit.load_manifest`.

Files are always read and staged by DuckDB (the `_stage` / `_stage_rejects` temporary
tables of orchestration/ingest/loader.py). A sink takes the staged rows into the warehouse:

- `DuckDBSink`: the warehouse is the DuckDB file the stage lives in; the loader's own
  transaction on that connection covers staging and writing.
- `PostgresSink`: the stage lives in an in-memory DuckDB; each file's rows are copied into
  PostgreSQL with `COPY … FROM STDIN` in one PostgreSQL transaction per file, which also
  holds the file's rejects and its manifest record. A failure before commit leaves nothing
  of the file, as on DuckDB.

SQL given to `execute` uses `?` placeholders on both engines.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import duckdb

from orchestration.ingest.contract import LINEAGE_COLUMNS, STREAMS

AUDIT_DDL = (
    """
    create table if not exists audit.load_manifest (
        load_id text not null,
        stream text not null,
        file_path text not null,
        file_hash text not null,
        file_size_bytes bigint not null,
        file_format text not null,
        encoding text,
        rows_landed bigint not null,
        rows_accepted bigint not null,
        rows_rejected bigint not null,
        status text not null,
        warning text,
        loaded_at timestamp not null,
        duration_ms bigint not null,
        rows_skipped bigint not null default 0,
        skip_reasons text,
        primary key (stream, file_path, file_hash)
    )
    """,
    # warehouses created before vendor sources: the columns added since
    "alter table audit.load_manifest add column if not exists rows_skipped bigint default 0",
    "alter table audit.load_manifest add column if not exists skip_reasons text",
    """
    create table if not exists audit.rejected_rows (
        load_id text not null,
        stream text not null,
        file_path text not null,
        file_hash text not null,
        line bigint,
        error_type text not null,
        reason text not null,
        raw_text text,
        rejected_at timestamp not null
    )
    """,
)


def schema_ddl() -> list[str]:
    """The raw and audit schemas and tables (portable SQL: DuckDB and PostgreSQL). Text
    columns are `text`: DuckDB's name for varchar, and on PostgreSQL the type the models'
    contracts declare, so an incremental model passing a raw column through sees no type
    change between its table and a new batch."""
    statements = ["create schema if not exists raw", "create schema if not exists audit"]
    statements += AUDIT_DDL
    for stream in STREAMS.values():
        columns = [f"{name} text" for name in stream.columns]
        columns += [f"{name} {sql_type}" for name, sql_type in LINEAGE_COLUMNS]
        statements.append(
            f"create table if not exists {stream.qualified_table} (\n    "
            + ",\n    ".join(columns)
            + "\n)"
        )
    return statements


class Sink(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...

    def records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The rows as dicts keyed by column name."""
        ...

    def insert_select(
        self,
        stage: duckdb.DuckDBPyConnection,
        table: str,
        columns: Sequence[str],
        select_sql: str,
        params: Sequence[Any] = (),
    ) -> None: ...

    def begin(self) -> None:
        """Open the file's transaction: its raw rows, rejects and manifest row commit
        together or not at all."""

    def commit(self) -> None: ...

    def rollback(self) -> None:
        """End the file's transaction without keeping anything (nothing when none is open)."""


class DuckDBSink:
    """The warehouse is the staging connection's own file: one DuckDB transaction holds
    the staged temp tables and the writes."""

    def __init__(self, conn: duckdb.DuckDBPyConnection):
        self.conn = conn
        self._open = False

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.conn.execute(sql, list(params)).fetchall()

    def records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, list(params))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def insert_select(self, stage, table, columns, select_sql, params=()) -> None:
        stage.execute(f"insert into {table} ({', '.join(columns)}) {select_sql}", list(params))

    def begin(self) -> None:
        self.conn.execute("begin transaction")
        self._open = True

    def commit(self) -> None:
        self.conn.execute("commit")
        self._open = False

    def rollback(self) -> None:
        if self._open:
            self._open = False
            self.conn.execute("rollback")


class PostgresSink:
    """Raw and audit tables in PostgreSQL, written with COPY in one transaction per file."""

    def __init__(self, pg_conn: Any):
        self.pg = pg_conn  # a psycopg2 connection (autocommit off)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self.pg.cursor() as cursor:
            cursor.execute(sql.replace("?", "%s"), list(params))
            return cursor.fetchall() if cursor.description else []

    def records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.pg.cursor() as cursor:
            cursor.execute(sql.replace("?", "%s"), list(params))
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def insert_select(self, stage, table, columns, select_sql, params=()) -> None:
        """Run the select in the DuckDB stage and COPY its rows into the PostgreSQL table.
        CSV keeps the two apart: an unquoted empty field is null, a quoted one an empty
        string, on both sides."""
        stage.execute(f"create or replace temp table _to_sink as {select_sql}", list(params))
        try:
            with tempfile.TemporaryDirectory(prefix="ces-sink-") as scratch:
                path = Path(scratch) / "rows.csv"
                stage.execute(f"copy _to_sink to '{path.as_posix()}' (format csv, header false)")
                with path.open("r", encoding="utf-8") as rows, self.pg.cursor() as cursor:
                    cursor.copy_expert(
                        f"copy {table} ({', '.join(columns)}) from stdin with (format csv)", rows
                    )
        finally:
            stage.execute("drop table if exists _to_sink")

    def begin(self) -> None:
        """psycopg2 opens the transaction with the file's first statement."""

    def commit(self) -> None:
        """Ends the transaction psycopg2 opened with the file's first statement."""
        self.pg.commit()

    def rollback(self) -> None:
        self.pg.rollback()
