"""DuckDB: the warehouse is one file, `<warehouse>/ces.duckdb`; BI users read a separate
serving copy, `<warehouse>/ces_marts.duckdb`, holding the marts only.

The serving copy is written to a temporary file beside the target and renamed into place,
so a reader either has the previous complete copy or the new complete copy open, never a
half-written one, and never holds a lock the build needs. The temporary file starts as a
copy of the previous serving copy, and the incremental marts receive only the rows the
warehouse rewrote since (their `refreshed_at`); every other table is copied whole.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.engines.base import Engine, Published
from orchestration.ingest import warehouse
from orchestration.ingest.sinks import DuckDBSink, Sink
from orchestration.locks import WarehouseBusyError, pid_is_running
from orchestration.settings import (
    DEFAULT_DUCKDB_MEMORY_LIMIT,
    SERVING_FILE,
    WAREHOUSE_FILE,
    EngineConfig,
)
from orchestration.sql import sql_identifier, sql_literal


class DuckDBEngine(Engine):
    name = "duckdb"

    def __init__(self, warehouse_path: Path, memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT):
        super().__init__(Path(warehouse_path).parent, memory_limit)
        self.warehouse_path = Path(warehouse_path)
        self.serving_path = self.warehouse_dir / SERVING_FILE

    @classmethod
    def create(cls, config: EngineConfig) -> DuckDBEngine:
        return cls(Path(config.warehouse_dir) / WAREHOUSE_FILE, config.memory_limit)

    @property
    def location(self) -> str:
        return str(self.warehouse_path)

    def has_warehouse(self) -> bool:
        return self.warehouse_path.exists()

    @contextmanager
    def ingesting(self) -> Iterator[tuple[duckdb.DuckDBPyConnection, Sink]]:
        """The stage and the sink are the warehouse file: the loader's transaction on that
        connection covers staging and writing."""
        conn = warehouse.connect(self.warehouse_path, memory_limit=self.memory_limit)
        try:
            warehouse.ensure_schema(conn)
            yield conn, DuckDBSink(conn)
        finally:
            conn.close()

    def reading(self) -> AbstractContextManager[Sink]:
        return read_only_session(self.warehouse_path, self.memory_limit)

    def serving(self) -> AbstractContextManager[Sink]:
        return read_only_session(self.serving_path, self.memory_limit)

    @property
    def serving_label(self) -> str:
        return f"the serving copy {self.serving_path}"

    def publish(self, marts: list[str], incremental: dict[str, list[str]]) -> Published:
        written = publish_serving_copy(
            self.warehouse_path, self.serving_path, incremental, self.memory_limit
        )
        return Published(
            tables=written,
            metadata={"path": dg.MetadataValue.path(str(self.serving_path))},
            message=f"published {self.serving_path}",
        )

    def publish_summary(self, published: bool) -> str:
        if published:
            return f"serving copy for BI published: {self.serving_path}"
        return (
            f"serving copy NOT published (a blocking check or step failed); "
            f"{self.serving_path} is left as it was"
        )

    def wait_until_writable(self, seconds: float) -> None:
        """A program holding ces.duckdb open (a BI tool, even read-only) makes DuckDB refuse
        the build's write lock: wait for it, then name it (DuckDB says which PID)."""
        if not self.warehouse_path.exists():
            return
        deadline = time.monotonic() + seconds
        while True:
            try:
                duckdb.connect(str(self.warehouse_path)).close()
                return
            except duckdb.IOException as error:
                if "lock" not in str(error).lower():
                    raise
                if time.monotonic() >= deadline:
                    holder = re.search(r"lock is held in (.+?\(PID \d+\))", str(error))
                    raise WarehouseBusyError(
                        f"{self.warehouse_path} is open in another program"
                        + (f", {holder.group(1)}" if holder else "")
                        + f"; waited {seconds:g} s (CES_LOCK_WAIT_SECONDS); close it: BI tools "
                        f"read the serving copy {self.serving_path}, which never blocks a build"
                    ) from None
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))

    def add_ge_datasource(self, context, name: str):
        return context.data_sources.add_or_update_sql(
            name=name,
            connection_string=f"duckdb:///{self.warehouse_path}",
            kwargs={
                "connect_args": {"read_only": True, "config": {"memory_limit": self.memory_limit}}
            },
        )


@contextmanager
def read_only_session(path: Path, memory_limit: str) -> Iterator[Sink]:
    """The DuckDB file at `path`, attached read-only to a fresh in-memory database as its
    default catalog. Attaching, unlike `connect(path, read_only=True)`, never conflicts with
    another connection to the same file in this process, whatever its settings (DuckDB
    refuses a second in-process connection to a file with other settings)."""
    conn = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": f"{path}.tmp"})
    try:
        conn.execute("set TimeZone = 'UTC'")
        # under the file's own name, as a direct connection would: dbt's views name it
        conn.execute(f"attach {sql_literal(str(path))} (read_only)")
        conn.execute(f"use {sql_identifier(path.stem)}")
        yield DuckDBSink(conn)
    finally:
        conn.close()


def _columns(conn: duckdb.DuckDBPyConnection, database: str, table: str) -> list[tuple]:
    return conn.execute(
        "select column_name, data_type from duckdb_columns() "
        "where database_name = ? and schema_name = 'marts' and table_name = ? "
        "order by column_index",
        [database, table],
    ).fetchall()


def _update_in_place(
    conn: duckdb.DuckDBPyConnection, serving_db: str, table: str, keys: list[str]
) -> int | None:
    """Bring an incremental mart of the previous serving copy up to date: delete the rows
    the warehouse rewrote (refreshed_at after the copy's newest) or no longer has, insert
    the rewritten ones. The number of rows inserted, or None when the table must be copied
    whole instead (new table, other columns, or most rows rewritten)."""
    columns = _columns(conn, serving_db, table)
    if columns != _columns(conn, "source", table) or ("refreshed_at", "TIMESTAMP") not in columns:
        return None
    name = sql_identifier(table)
    watermark = conn.execute(f"select max(refreshed_at) from marts.{name}").fetchone()[0]
    if watermark is None:
        return None
    changed, total = conn.execute(
        f"select count(*) filter (where refreshed_at > ?), count(*) from source.marts.{name}",
        [watermark],
    ).fetchone()
    if changed > total / 2:
        return None
    same_key = " and ".join(f"s.{sql_identifier(k)} = d.{sql_identifier(k)}" for k in keys)
    conn.execute(
        f"delete from marts.{name} as d where not exists ("
        f"select 1 from source.marts.{name} as s where {same_key} and s.refreshed_at <= ?)",
        [watermark],
    )
    conn.execute(
        f"insert into marts.{name} select * from source.marts.{name} where refreshed_at > ?",
        [watermark],
    )
    return changed


def remove_stale_temporaries(serving_path: Path) -> list[Path]:
    """Delete the temporary serving copies (and their WAL files) that builds killed while
    publishing left behind: `.<serving>.<pid>.tmp` whose process is gone. A publish in
    progress (its process alive) keeps its file. Returns the files removed."""
    removed = []
    pattern = re.compile(rf"\.{re.escape(serving_path.name)}\.(\d+)\.tmp(\.wal)?")
    for candidate in serving_path.parent.glob(f".{serving_path.name}.*.tmp*"):
        found = pattern.fullmatch(candidate.name)
        if found and not pid_is_running(int(found.group(1))):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return sorted(removed)


def publish_serving_copy(
    warehouse_path: Path,
    serving_path: Path,
    incremental: dict[str, list[str]] | None = None,
    memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT,
) -> dict[str, dict]:
    """Write the marts into a new file and atomically replace the serving copy.

    Without `incremental` every table is copied whole. With it (mart -> unique key), the
    new file starts as a copy of the previous serving copy, and each incremental mart
    receives only the rows the warehouse rewrote since (see `_update_in_place`); the other
    tables are copied whole. Per table: its row count and how it was written."""
    remove_stale_temporaries(serving_path)
    temporary = serving_path.with_name(f".{serving_path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    written: dict[str, dict] = {}
    incremental = incremental or {}
    try:
        if incremental and serving_path.exists():
            shutil.copyfile(serving_path, temporary)
        conn = duckdb.connect(str(temporary), config={"memory_limit": memory_limit})
        try:
            serving_db = conn.execute("select current_database()").fetchone()[0]
            conn.execute(f"attach {sql_literal(str(warehouse_path))} as source (read_only)")
            conn.execute("create schema if not exists marts")

            def tables(database: str) -> list[str]:
                return [
                    row[0]
                    for row in conn.execute(
                        "select table_name from duckdb_tables() "
                        "where database_name = ? and schema_name = 'marts' order by 1",
                        [database],
                    ).fetchall()
                ]

            sources = tables("source")
            for table in set(tables(serving_db)) - set(sources):
                conn.execute(f"drop table marts.{sql_identifier(table)}")
            for table in sources:
                name = sql_identifier(table)
                inserted = None
                if table in incremental and table in tables(serving_db):
                    inserted = _update_in_place(conn, serving_db, table, incremental[table])
                if inserted is None:
                    conn.execute(
                        f"create or replace table marts.{name} as select * from source.marts.{name}"
                    )
                rows = conn.execute(f"select count(*) from marts.{name}").fetchone()[0]
                written[table] = {
                    "rows": rows,
                    "written": "copied whole" if inserted is None else f"{inserted} rows updated",
                }
            conn.execute("detach source")
            conn.execute("checkpoint")
        finally:
            conn.close()
        os.replace(temporary, serving_path)
    finally:
        temporary.unlink(missing_ok=True)
    return written
