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

from orchestration.ingest.contract import LINEAGE_COLUMNS, STREAMS, Stream

# The audit tables ingestion owns: (column, type, not null). Text is `text`: DuckDB's name
# for varchar, and on PostgreSQL the type the models' contracts declare, so an incremental
# model passing a raw column through sees no type change between its table and a new batch.
MANIFEST_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("load_id", "text", True),
    ("stream", "text", True),
    ("file_path", "text", True),
    ("file_hash", "text", True),
    ("file_size_bytes", "bigint", True),
    ("file_format", "text", True),
    ("encoding", "text", False),
    ("rows_landed", "bigint", True),
    ("rows_accepted", "bigint", True),
    ("rows_rejected", "bigint", True),
    ("status", "text", True),
    ("warning", "text", False),
    ("loaded_at", "timestamp", True),
    ("duration_ms", "bigint", True),
    ("rows_skipped", "bigint", True),
    ("skip_reasons", "text", False),
)
REJECT_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("load_id", "text", True),
    ("stream", "text", True),
    ("file_path", "text", True),
    ("file_hash", "text", True),
    ("line", "bigint", False),
    ("error_type", "text", True),
    ("reason", "text", True),
    ("raw_text", "text", False),
    ("rejected_at", "timestamp", True),
)
MANIFEST_TABLE = "audit.load_manifest"
REJECTS_TABLE = "audit.rejected_rows"
# Manifest statuses whose file is read again on the next run: a load that failed (nothing
# kept) and a quarantined file (unreadable: its rejects are kept until then).
RETRIED_STATUSES = "('failed', 'quarantined')"


def raw_columns(stream: Stream) -> list[tuple[str, str]]:
    """A raw table's columns and types: every contract field as text, then lineage."""
    return [(name, "text") for name in stream.columns] + [
        (name, sql_type.lower()) for name, sql_type in LINEAGE_COLUMNS
    ]


def _column_ddl(columns: Sequence[tuple[str, str, bool]]) -> str:
    return ",\n    ".join(
        f"{name} {sql_type}{' not null' if required else ''}"
        for name, sql_type, required in columns
    )


def schema_ddl() -> list[str]:
    """The raw and audit schemas and tables (portable SQL: DuckDB and PostgreSQL)."""
    statements = ["create schema if not exists raw", "create schema if not exists audit"]
    statements.append(
        f"create table if not exists {MANIFEST_TABLE} (\n    {_column_ddl(MANIFEST_COLUMNS)},"
        "\n    primary key (stream, file_path, file_hash)\n)"
    )
    # warehouses created before vendor sources: the columns added since
    statements += [
        f"alter table {MANIFEST_TABLE} add column if not exists rows_skipped bigint default 0",
        f"alter table {MANIFEST_TABLE} add column if not exists skip_reasons text",
    ]
    statements.append(
        f"create table if not exists {REJECTS_TABLE} (\n    {_column_ddl(REJECT_COLUMNS)}\n)"
    )
    for stream in STREAMS.values():
        columns = [(name, sql_type, False) for name, sql_type in raw_columns(stream)]
        statements.append(
            f"create table if not exists {stream.qualified_table} (\n    {_column_ddl(columns)}\n)"
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

    def write_manifest(self, record: dict[str, Any], replace: str) -> None:
        """Write a file's manifest record (a value per MANIFEST_COLUMNS), replacing an
        earlier record of the same stream, path and hash: when its status was `failed` or
        `quarantined` (replace="failed": a retry, RETRIED_STATUSES), or whatever it was
        (replace="any"). A replaced quarantine's rejects are removed with it."""
        ...

    def forget_load(self, stream: Stream, file_path: str, file_hash: str) -> None:
        """Inside a file's transaction: delete the raw rows and rejects of the earlier load
        of this path and content, which a reload replaces (its manifest record goes with
        write_manifest(replace="any"))."""
        ...

    def begin(self, stream: str, file_hash: str) -> None:
        """Open the file's transaction: its raw rows, rejects and manifest row commit
        together or not at all."""

    def commit(self) -> None: ...

    def rollback(self) -> None:
        """End the file's transaction without keeping anything (nothing when none is open)."""


class SqlManifest:
    """`write_manifest` for the transactional engines: delete, then insert, in the file's
    transaction."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        raise NotImplementedError

    def forget_load(self, stream: Stream, file_path: str, file_hash: str) -> None:
        self.execute(
            f"delete from {stream.qualified_table} where _source_file = ? and _file_hash = ?",
            [file_path, file_hash],
        )
        self.execute(
            f"delete from {REJECTS_TABLE} where stream = ? and file_path = ? and file_hash = ?",
            [stream.name, file_path, file_hash],
        )

    def write_manifest(self, record: dict[str, Any], replace: str) -> None:
        only_failed = f" and status in {RETRIED_STATUSES}" if replace == "failed" else ""
        key = [record["stream"], record["file_path"], record["file_hash"]]
        # a quarantined attempt's rejects go with its manifest record
        self.execute(
            f"delete from {REJECTS_TABLE} where load_id in (select load_id from "
            f"{MANIFEST_TABLE} where stream = ? and file_path = ? and file_hash = ?"
            f"{only_failed} and status = 'quarantined')",
            key,
        )
        self.execute(
            f"delete from {MANIFEST_TABLE} "
            f"where stream = ? and file_path = ? and file_hash = ?{only_failed}",
            [record["stream"], record["file_path"], record["file_hash"]],
        )
        names = [name for name, _, _ in MANIFEST_COLUMNS]
        self.execute(
            f"insert into {MANIFEST_TABLE} ({', '.join(names)}) "
            f"values ({', '.join('?' for _ in names)})",
            [record[name] for name in names],
        )


class DuckDBSink(SqlManifest):
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

    def begin(self, stream: str, file_hash: str) -> None:
        self.conn.execute("begin transaction")
        self._open = True

    def commit(self) -> None:
        self.conn.execute("commit")
        self._open = False

    def rollback(self) -> None:
        if self._open:
            self._open = False
            self.conn.execute("rollback")


class PostgresSink(SqlManifest):
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

    def begin(self, stream: str, file_hash: str) -> None:
        """psycopg2 opens the transaction with the file's first statement."""

    def commit(self) -> None:
        """Ends the transaction psycopg2 opened with the file's first statement."""
        self.pg.commit()

    def rollback(self) -> None:
        self.pg.rollback()
