"""Apache Spark: the warehouse is a set of Spark SQL databases (raw, audit, staging,
intermediate, marts ...) reached through a Thrift (HiveServer2) endpoint (CES_SPARK_*);
BI users read the database `ces_marts`, written only by the serving step.

Ingestion. DuckDB still reads and stages every landing file
(`ServerEngine.staging_database`). Plain parquet tables have no
transactions, so a file's writes are made safe to repeat and a manifest row is the
commit record:

1. its raw rows go to the raw table's partition of the file's content hash
   (`_file_hash`), its rejects to audit.rejected_rows' partition (stream, file_hash),
   each with `insert overwrite`, so a retry replaces what an interrupted attempt wrote;
2. its manifest row is written last (audit.load_manifest, partitioned by stream and
   file_hash, rewritten with insert-overwrite of that one partition).

Staging reads raw rows and rejects only of loads with a manifest row that is not
`failed` (macros/versioning.sql `committed_loads`), so a crash between 1 and 2 leaves
rows nobody reads, replaced by the next attempt. Files go from DuckDB to Spark as
parquet files in the stage folder (CES_SPARK_STAGE_DIR, default <warehouse>/spark_stage),
which the cluster must read under the same path.

Serving. dbt builds the marts in `marts`; after every blocking check passed, the serving
step copies each mart to `ces_marts_store.<mart>__<build>` and points the view
`ces_marts.<mart>` at it (`create or replace view`, one metastore update per mart). A BI
query reads one complete build's table; the store keeps the previous build's tables so a
query started before the switch finishes. Plain Spark has no grants: who may read
`ces_marts` is the cluster's access control (docs/architecture.md).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from orchestration.engines.base import Published, ServerEngine
from orchestration.ingest import pseudonym
from orchestration.ingest.contract import STREAMS
from orchestration.ingest.sinks import (
    MANIFEST_COLUMNS,
    MANIFEST_TABLE,
    REJECT_COLUMNS,
    REJECTS_TABLE,
    RETRIED_STATUSES,
    Sink,
    raw_columns,
)
from orchestration.settings import DEFAULT_DUCKDB_MEMORY_LIMIT, EngineConfig, SparkConnection

SERVING_SCHEMA = "ces_marts"  # what BI users read
STORE_SCHEMA = "ces_marts_store"  # the tables behind its views, per build
# Every database a build writes (dbt's schemas, ingestion's, serving's).
DATABASES = (
    *("raw", "audit", "registry", "staging", "intermediate", "marts"),
    *(SERVING_SCHEMA, STORE_SCHEMA),
)

# The partition columns of the tables ingestion writes: one partition per loaded file.
PARTITIONS: dict[str, tuple[str, ...]] = {
    MANIFEST_TABLE: ("stream", "file_hash"),
    REJECTS_TABLE: ("stream", "file_hash"),
    **{stream.qualified_table: ("_file_hash",) for stream in STREAMS.values()},
}


def table_order(table: str, names: Sequence[str]) -> list[str]:
    """The columns of a table ingestion writes in Spark's order: the partition columns
    last (Spark moves them there)."""
    partition = PARTITIONS[table]
    return [n for n in names if n not in partition] + [p for p in partition if p in names]


def spark_identifier(name: str) -> str:
    """A quoted Spark SQL identifier (Spark quotes with backticks; "x" is a string)."""
    return "`" + name.replace("`", "``") + "`"


def _unquoted(column: str) -> str:
    """A column name the loader may have quoted for DuckDB ("name")."""
    return column[1:-1].replace('""', '"') if column.startswith('"') else column


def spark_type(sql_type: str) -> str:
    """The Spark SQL name of a portable column type."""
    return {"text": "string", "double precision": "double"}.get(sql_type, sql_type)


def spark_literal(value: Any) -> str:
    """A Python value as a Spark SQL literal. Spark string literals treat backslash as an
    escape character, so backslashes and quotes are both escaped."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            f"double('{value}')"
            if value != value or value in (float("inf"), -float("inf"))
            else repr(value)
        )
    if isinstance(value, Decimal):
        return f"{value}BD"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return f"timestamp'{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"date'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    raise TypeError(f"no Spark SQL literal for {type(value).__name__}")


_QUOTED_OR_PLACEHOLDER = re.compile(r"'(?:[^'\\]|\\.)*'|`[^`]*`|\?")


def bind(sql: str, params: Sequence[Any]) -> str:
    """`sql` with each `?` outside quotes replaced by its parameter as a literal."""
    values = iter(params)
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0) != "?":
            return match.group(0)
        count += 1
        try:
            return spark_literal(next(values))
        except StopIteration:
            raise ValueError(f"too few parameters for the placeholders of: {sql}") from None

    bound = _QUOTED_OR_PLACEHOLDER.sub(replace, sql)
    if count != len(params):
        raise ValueError(f"{len(params)} parameters for {count} placeholders in: {sql}")
    return bound


def _converter(type_code: str | None):
    """PyHive returns dates and decimals as text (timestamps too, in some versions): back
    to Python values."""
    parse = {
        "TIMESTAMP_TYPE": datetime.fromisoformat,
        "DATE_TYPE": date.fromisoformat,
        "DECIMAL_TYPE": Decimal,
    }.get(type_code or "")
    if parse is None:
        return None
    return lambda value: parse(value) if isinstance(value, str) else value


class SparkSQLError(RuntimeError):
    """A statement the Thrift server refused: Spark's own message, without the Java stack."""


def _spark_error(error: Exception, sql: str) -> SparkSQLError:
    status = getattr(getattr(error, "args", [None])[0], "status", None)
    message = getattr(status, "errorMessage", None) or str(error)
    message = message.removeprefix("Error running query: ")
    # the analyzer's plan dump after the message says nothing a person needs
    message = message.split("\n'", 1)[0].split(";\n", 1)[0].strip()
    return SparkSQLError(f"{message[:2000]}\n  in: {' '.join(sql.split())[:500]}")


class ThriftSession:
    """A session on the Thrift server: `execute` / `records` with `?` placeholders, rows
    with Python types. `rename` rewrites schema names in every statement (the serving
    session reads `marts.x` from `ces_marts.x`)."""

    def __init__(self, connection: SparkConnection, rename: dict[str, str] | None = None):
        from pyhive import hive

        self.connection = connection
        try:
            self.conn = hive.connect(
                host=connection.host, port=connection.port, username=connection.user
            )
        except Exception as error:  # thrift's transport errors have no common base here
            raise SparkSQLError(
                f"cannot reach the Spark Thrift server at {connection.host}:{connection.port} "
                f"(CES_SPARK_HOST / CES_SPARK_PORT): {error}"
            ) from None
        self.rename = rename or {}
        self._pattern = (
            re.compile(r"\b(" + "|".join(map(re.escape, self.rename)) + r")\.")
            if self.rename
            else None
        )
        self.cursor = self.conn.cursor()
        self.run("set spark.sql.session.timeZone = UTC")

    def run(self, sql: str, params: Sequence[Any] = ()):
        if self._pattern is not None:
            sql = self._pattern.sub(lambda m: self.rename[m.group(1)] + ".", sql)
        statement = bind(sql, params) if params else sql
        from pyhive.exc import Error

        try:
            self.cursor.execute(statement)
        except Error as error:
            raise _spark_error(error, statement) from None
        return self.cursor

    def _rows(self, cursor) -> tuple[list[str], list[tuple]]:
        if not cursor.description:
            return [], []
        names = [column[0] for column in cursor.description]
        converters = [_converter(column[1]) for column in cursor.description]
        rows = []
        for row in cursor.fetchall():
            rows.append(
                tuple(
                    value if value is None or convert is None else convert(value)
                    for value, convert in zip(row, converters, strict=True)
                )
            )
        return names, rows

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self._rows(self.run(sql, params))[1]

    def records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        names, rows = self._rows(self.run(sql, params))
        return [dict(zip(names, row, strict=True)) for row in rows]

    def close(self) -> None:
        try:
            self.cursor.close()
        finally:
            self.conn.close()


class SparkSink(ThriftSession):
    """Raw and audit tables on Spark, written per file with partition overwrites; the
    manifest row, written last, is the file's commit record (module docstring)."""

    def __init__(self, connection: SparkConnection, stage_dir: Path):
        super().__init__(connection)
        self.stage_dir = stage_dir
        self.run("set spark.sql.sources.partitionOverwriteMode = DYNAMIC")
        self._file: tuple[str, str] | None = None
        self._written: list[str] = []

    def begin(self, stream: str, file_hash: str) -> None:
        self._file = (stream, file_hash)
        self._written = []

    def _partition_spec(self, table: str) -> str:
        if self._file is None:
            raise RuntimeError("SparkSink: insert outside a file's begin()/commit()")
        stream, file_hash = self._file
        values = {"stream": stream, "file_hash": file_hash, "_file_hash": file_hash}
        return ", ".join(
            f"{column} = {spark_literal(values[column])}" for column in PARTITIONS[table]
        )

    def insert_select(self, stage, table, columns, select_sql, params=()) -> None:
        """Run the select in the DuckDB stage, write its rows as a parquet file in the
        stage folder and overwrite the file's partition of `table` with them (an empty
        result empties the partition)."""
        names = ", ".join(columns)
        stage.execute(
            f"create or replace temp table _to_sink as select * from ({select_sql}) as t({names})",
            list(params),
        )
        self.stage_dir.mkdir(parents=True, exist_ok=True)
        path = self.stage_dir / f"{uuid.uuid4().hex}.parquet"
        try:
            stage.execute(f"copy _to_sink to '{path.as_posix()}' (format parquet)")
            # the partition's values are in its spec: the other columns, as given
            partition = PARTITIONS[table]
            kept = [spark_identifier(c) for c in map(_unquoted, columns) if c not in partition]
            self.run(
                f"insert overwrite table {table} partition ({self._partition_spec(table)}) "
                f"select {', '.join(kept)} from parquet.`{path.as_posix()}`"
            )
            self._written.append(table)
        finally:
            stage.execute("drop table if exists _to_sink")
            path.unlink(missing_ok=True)

    def forget_load(self, stream, file_path: str, file_hash: str) -> None:
        """Drop the file's raw and reject partitions (its content hash; begin() named it):
        the reload writes them again with `insert overwrite`, and its manifest record last
        (write_manifest with replace="any"). A reload that finds the file unreadable
        writes no raw partition, so the old one must not stay."""
        for table in (stream.qualified_table, REJECTS_TABLE):
            spec = self._partition_spec(table)
            self.run(f"alter table {table} drop if exists partition ({spec})")

    def write_manifest(self, record: dict[str, Any], replace: str) -> None:
        """Rewrite the manifest partition of the record's stream and hash: its other
        records, less the one replaced, and this one."""
        ordered = table_order(MANIFEST_TABLE, [name for name, _, _ in MANIFEST_COLUMNS])
        replaced = "file_path = ?" + (
            f" and status in {RETRIED_STATUSES}" if replace == "failed" else ""
        )
        values = ", ".join(
            f"cast({spark_literal(record[name])} as {spark_type(sql_type)}) as {name}"
            for name, sql_type, _ in MANIFEST_COLUMNS
        )
        self.run(
            f"insert overwrite table {MANIFEST_TABLE} partition (stream, file_hash) "
            f"select {', '.join(ordered)} from ("
            f"select {', '.join(ordered)} from {MANIFEST_TABLE} "
            f"where stream = ? and file_hash = ? and not ({replaced}) "
            f"union all select {', '.join(ordered)} from (select {values}))",
            [record["stream"], record["file_hash"], record["file_path"]],
        )

    def commit(self) -> None:
        """Nothing to do: the manifest row written last committed the file."""
        self._file = None
        self._written = []

    def rollback(self) -> None:
        """Empty the partitions this attempt wrote (no manifest row makes them visible;
        this only keeps them from holding the rows of an attempt that failed)."""
        if self._file is not None:
            for table in dict.fromkeys(self._written):
                self.run(
                    f"alter table {table} drop if exists partition ({self._partition_spec(table)})"
                )
        self._file = None
        self._written = []


def spark_schema_ddl() -> list[str]:
    """The raw and audit databases and tables on Spark: parquet, partitioned per file."""

    def table(name: str, columns: Sequence[tuple[str, str]]) -> str:
        types = dict(columns)
        body = ",\n    ".join(
            f"{column} {spark_type(types[column])}" for column in table_order(name, list(types))
        )
        return (
            f"create table if not exists {name} (\n    {body}\n) using parquet "
            f"partitioned by ({', '.join(PARTITIONS[name])})"
        )

    statements = ["create database if not exists raw", "create database if not exists audit"]
    statements.append(table(MANIFEST_TABLE, [(n, t) for n, t, _ in MANIFEST_COLUMNS]))
    statements.append(table(REJECTS_TABLE, [(n, t) for n, t, _ in REJECT_COLUMNS]))
    for stream in STREAMS.values():
        statements.append(table(stream.qualified_table, raw_columns(stream)))
    return statements


def _check_pseudonym_key(sink: SparkSink) -> None:
    """Raw rows on Spark are keyed at load like everywhere (ingest/pseudonym.py), but its
    parquet raw tables cannot be updated in place: a new key, or raw rows from before keyed
    pseudonyms, stop the ingest with what to do instead of serving mixed pseudonyms."""
    sink.run(f"create table if not exists {PSEUDONYM_KEY_TABLE} (fingerprint string) using parquet")
    for stream in STREAMS.values():
        names = {row[0] for row in sink.execute(f"describe table {stream.qualified_table}")}
        if "_customer_key" not in names:
            sink.run(f"alter table {stream.qualified_table} add columns (_customer_key string)")
    current = pseudonym.fingerprint()
    stored = [row[0] for row in sink.execute(f"select fingerprint from {PSEUDONYM_KEY_TABLE}")]
    if stored == [current]:
        return
    rows = sum(
        sink.execute(f"select count(*) from {stream.qualified_table}")[0][0]
        for stream in STREAMS.values()
    )
    if rows:
        raise RuntimeError(
            "the pseudonym key (CES_PSEUDONYM_SALT) is not the one the raw rows were keyed "
            "with, or they predate keyed pseudonyms; Spark's raw tables cannot be rekeyed in "
            "place: drop the raw and audit databases and build again to reload every file"
        )
    sink.run(f"insert overwrite table {PSEUDONYM_KEY_TABLE} values ({spark_literal(current)})")


PSEUDONYM_KEY_TABLE = "audit.pseudonym_key"


class SparkEngine(ServerEngine):
    name = "spark"
    connection: SparkConnection

    def __init__(
        self,
        warehouse_dir: Path,
        connection: SparkConnection,
        memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT,
    ) -> None:
        super().__init__(warehouse_dir, connection, memory_limit)
        stage = connection.stage_dir
        self.stage_dir = Path(stage) if stage else self.warehouse_dir / "spark_stage"

    @classmethod
    def create(cls, config: EngineConfig) -> SparkEngine:
        return cls(config.warehouse_dir, config.spark, config.memory_limit)

    @contextmanager
    def ingesting(self) -> Iterator[tuple[duckdb.DuckDBPyConnection, Sink]]:
        with self.staging_database() as stage:
            sink = SparkSink(self.connection, self.stage_dir)
            try:
                for statement in spark_schema_ddl():
                    sink.run(statement)
                _check_pseudonym_key(sink)
                yield stage, sink
            finally:
                sink.close()

    @contextmanager
    def _session(self, rename: dict[str, str] | None = None) -> Iterator[Sink]:
        session = ThriftSession(self.connection, rename)
        try:
            yield session
        finally:
            session.close()

    def reading(self) -> AbstractContextManager[Sink]:
        return self._session()

    def serving(self) -> AbstractContextManager[Sink]:
        """What BI users read: `marts.x` in a query is read from `ces_marts.x`."""
        return self._session({"marts": SERVING_SCHEMA})

    @property
    def serving_label(self) -> str:
        return f"the {SERVING_SCHEMA} database of {self.location}"

    def publish(self, marts: list[str], incremental: dict[str, list[str]]) -> Published:
        build = datetime.now(UTC).strftime("b%Y%m%d%H%M%S") + uuid.uuid4().hex[:6]
        tables: dict[str, dict] = {}
        with self._session() as db:
            db.execute(f"create database if not exists {STORE_SCHEMA}")
            db.execute(f"create database if not exists {SERVING_SCHEMA}")
            stored = {m: f"{STORE_SCHEMA}.{spark_identifier(f'{m}__{build}')}" for m in marts}
            for mart, copy in stored.items():
                source = f"marts.{spark_identifier(mart)}"
                db.execute(f"create table {copy} using parquet as select * from {source}")
                rows = db.execute(f"select count(*) from {copy}")[0][0]
                tables[mart] = {"rows": rows, "written": f"copied whole to {copy}"}
            # every copy exists before the first view moves
            for mart, copy in stored.items():
                db.execute(
                    f"create or replace view {SERVING_SCHEMA}.{spark_identifier(mart)} "
                    f"as select * from {copy}"
                )
            for (view,) in [r[1:2] for r in db.execute(f"show views in {SERVING_SCHEMA}")]:
                if view not in marts:
                    db.execute(f"drop view if exists {SERVING_SCHEMA}.{spark_identifier(view)}")
            self._drop_old_builds(db, build)
        return Published(
            tables=tables,
            metadata={"served_to": f"Spark database {SERVING_SCHEMA} at {self.location}"},
            message=f"marts published to {SERVING_SCHEMA} (build {build})",
        )

    def relations(self, db: Sink, schemas: Sequence[str]) -> list[str]:
        """`show tables` per database (Spark has no information_schema); temporary views
        are left out."""
        databases = {row[0] for row in db.execute("show databases")}
        found = []
        for schema in schemas:
            if schema in databases:
                rows = db.execute(f"show tables in {spark_identifier(schema)}")
                found += sorted(f"{schema}.{name}" for _, name, temporary in rows if not temporary)
        return found

    @staticmethod
    def _drop_old_builds(db: Sink, build: str) -> None:
        """Keep this build's and the previous build's stored tables, drop the older."""
        stored = [row[1] for row in db.execute(f"show tables in {STORE_SCHEMA}")]
        builds = sorted({name.rsplit("__", 1)[1] for name in stored if "__" in name})
        keep = set(builds[-2:]) | {build}
        for name in stored:
            if "__" in name and name.rsplit("__", 1)[1] not in keep:
                db.execute(f"drop table if exists {STORE_SCHEMA}.{spark_identifier(name)}")

    def publish_summary(self, published: bool) -> str:
        if published:
            return f"marts published to the Spark database {SERVING_SCHEMA}: {self.location}"
        return (
            f"serving step NOT run (a blocking check or step failed); {SERVING_SCHEMA} on "
            f"{self.location} is left as it was"
        )

    def connection_string(self) -> str:
        """SQLAlchemy URL of the Thrift endpoint (PyHive's hive dialect)."""
        spark = self.connection
        return f"hive://{spark.user}@{spark.host}:{spark.port}/default"

    def add_ge_datasource(self, context, name: str):
        return context.data_sources.add_or_update_sql(
            name=name, connection_string=self.connection_string()
        )
