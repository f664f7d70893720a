"""The serving step: what BI users read.

On DuckDB, the serving copy: the marts, and only the marts, in their own DuckDB file.

It is written to a temporary file beside the target and renamed into place, so a reader
either has the previous complete copy or the new complete copy open, never a half-written
one, and never holds a lock the build needs. The temporary file starts as a copy of the
previous serving copy, and the incremental marts receive only the rows the warehouse
rewrote since (their `refreshed_at`); every other table is copied whole. It runs only
after every blocking check on the marts passed (the checks are blocking, and this asset
depends on every mart).

On PostgreSQL, BI users read the marts schema of the warehouse itself as the `bi_reader`
role, which dbt grants select on every mart (the marts' `grants` config, macros/grants.sql).
This step then checks, on the server, that the grants are what they must be: every mart
readable by bi_reader, no table outside marts readable by it. A mart it cannot read, or a
raw, audit, staging or intermediate table it can, fails the step.
"""

import json
import os
import shutil
import time
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.dbt_project import DBT_PROJECT, ensure_manifest
from orchestration.ingest.loader import sql_identifier, sql_literal
from orchestration.ingest.sinks import Sink
from orchestration.resources import WarehouseResource
from orchestration.settings import WAREHOUSE_POOL, duckdb_memory_limit


def _mart_nodes() -> list[dict]:
    manifest = json.loads(ensure_manifest(DBT_PROJECT).read_text())
    return [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1:2] == ["marts"]
    ]


def mart_models() -> list[str]:
    """The dbt models under models/marts/, from the manifest (so a new mart is served)."""
    return sorted(node["name"] for node in _mart_nodes())


def incremental_mart_keys() -> dict[str, list[str]]:
    """The incremental marts and their unique key columns, from the manifest."""
    keys = {}
    for node in _mart_nodes():
        config = node["config"]
        if config.get("materialized") == "incremental" and config.get("unique_key"):
            key = config["unique_key"]
            keys[node["name"]] = [key] if isinstance(key, str) else list(key)
    return keys


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


def publish_serving_copy(
    warehouse_path: Path, serving_path: Path, incremental: dict[str, list[str]] | None = None
) -> dict[str, dict]:
    """Write the marts into a new file and atomically replace the serving copy.

    Without `incremental` every table is copied whole. With it (mart -> unique key), the
    new file starts as a copy of the previous serving copy, and each incremental mart
    receives only the rows the warehouse rewrote since (see `_update_in_place`); the other
    tables are copied whole. Per table: its row count and how it was written."""
    temporary = serving_path.with_name(f".{serving_path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    written: dict[str, dict] = {}
    incremental = incremental or {}
    try:
        if incremental and serving_path.exists():
            shutil.copyfile(serving_path, temporary)
        conn = duckdb.connect(str(temporary), config={"memory_limit": duckdb_memory_limit()})
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


BI_READER = "bi_reader"  # the role of dbt_project.yml's marts grants and macros/grants.sql


def check_postgres_serving(db: Sink, marts: list[str], role: str = BI_READER) -> dict[str, dict]:
    """Per mart: its row count and whether `role` may read it. Raises dg.Failure naming
    every mart the role cannot read and every other table it can."""
    if not db.execute("select 1 from pg_roles where rolname = ?", [role]):
        raise dg.Failure(description=f"PostgreSQL role {role} does not exist (see README)")
    tables: dict[str, dict] = {}
    for mart in marts:
        relation = f"marts.{sql_identifier(mart)}"
        (readable,) = db.execute(
            "select has_schema_privilege(?, 'marts', 'usage') "
            "and has_table_privilege(?, ?, 'select')",
            [role, role, relation],
        )[0]
        rows = db.execute(f"select count(*) from {relation}")[0][0]
        tables[mart] = {"rows": rows, "readable_by": role if readable else "nobody"}
    exposed = [
        name
        for (name,) in db.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema not in ('marts', 'pg_catalog', 'information_schema') "
            "and has_schema_privilege(?, table_schema, 'usage') "
            "and has_table_privilege(?, quote_ident(table_schema) || '.' "
            "|| quote_ident(table_name), 'select') order by 1",
            [role, role],
        )
    ]
    unreadable = [mart for mart, t in tables.items() if t["readable_by"] != role]
    if unreadable or exposed:
        problems = []
        if unreadable:
            problems.append(f"{role} cannot read marts {', '.join(unreadable)}")
        if exposed:
            problems.append(f"{role} can read tables outside marts: {', '.join(exposed)}")
        raise dg.Failure(description="; ".join(problems))
    return tables


@dg.asset(
    name="ces_marts_serving",
    group_name="serving",
    kinds={"duckdb", "postgres"},
    pool=WAREHOUSE_POOL,
    deps=[dg.AssetKey(["marts", model]) for model in mart_models()],
    description=(
        "What BI users read, after every blocking quality check passed. DuckDB: "
        "warehouse/ces_marts.duckdb, the marts schema only, replaced atomically; incremental "
        "marts receive only the rows rewritten since the previous copy. PostgreSQL: the "
        "marts schema in place, read by the bi_reader role; checks that it reads every mart "
        "and nothing else."
    ),
)
def ces_marts_serving(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    started = time.perf_counter()
    if warehouse.engine == "postgres":
        with warehouse.reading() as db:
            tables = check_postgres_serving(db, mart_models())
        context.log.info(f"marts readable by {BI_READER}, and nothing else")
        return dg.MaterializeResult(
            metadata={
                "served_to": f"PostgreSQL role {BI_READER}, schema marts",
                "tables": dg.MetadataValue.json(tables),
                "dagster/row_count": sum(t["rows"] for t in tables.values()),
                "elapsed_seconds": round(time.perf_counter() - started, 3),
            }
        )
    serving_path = warehouse.serving_path
    written = publish_serving_copy(
        warehouse.warehouse_path, serving_path, incremental=incremental_mart_keys()
    )
    context.log.info(f"published {serving_path}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(serving_path)),
            "tables": dg.MetadataValue.json(written),
            "dagster/row_count": sum(t["rows"] for t in written.values()),
            "elapsed_seconds": round(time.perf_counter() - started, 3),
        }
    )
