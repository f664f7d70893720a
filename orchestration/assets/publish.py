"""The serving copy: the marts, and only the marts, in their own DuckDB file for BI users.

It is written to a temporary file beside the target and renamed into place, so a reader
either has the previous complete copy or the new complete copy open, never a half-written
one, and never holds a lock the build needs. It runs only after every blocking check on
the marts passed (the checks are blocking, and this asset depends on every mart).
"""

import json
import os
import time
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.dbt_project import DBT_PROJECT, ensure_manifest
from orchestration.ingest.loader import sql_identifier, sql_literal
from orchestration.resources import WarehouseResource
from orchestration.settings import WAREHOUSE_POOL, duckdb_memory_limit


def mart_models() -> list[str]:
    """The dbt models under models/marts/, from the manifest (so a new mart is served)."""
    manifest = json.loads(ensure_manifest(DBT_PROJECT).read_text())
    return sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1:2] == ["marts"]
    )


def publish_serving_copy(warehouse_path: Path, serving_path: Path) -> dict[str, int]:
    """Copy every table of the marts schema into a new file and atomically replace the
    serving copy."""
    temporary = serving_path.with_name(f".{serving_path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    try:
        conn = duckdb.connect(str(temporary), config={"memory_limit": duckdb_memory_limit()})
        try:
            conn.execute(f"attach {sql_literal(str(warehouse_path))} as source (read_only)")
            conn.execute("create schema marts")
            tables = [
                row[0]
                for row in conn.execute(
                    "select table_name from duckdb_tables() "
                    "where database_name = 'source' and schema_name = 'marts' order by 1"
                ).fetchall()
            ]
            for table in tables:
                name = sql_identifier(table)
                conn.execute(f"create table marts.{name} as select * from source.marts.{name}")
                counts[table] = conn.execute(f"select count(*) from marts.{name}").fetchone()[0]
            conn.execute("detach source")
            conn.execute("checkpoint")
        finally:
            conn.close()
        os.replace(temporary, serving_path)
    finally:
        temporary.unlink(missing_ok=True)
    return counts


@dg.asset(
    name="ces_marts_serving",
    group_name="serving",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    deps=[dg.AssetKey(["marts", model]) for model in mart_models()],
    description=(
        "warehouse/ces_marts.duckdb: the marts schema only, for BI users, replaced "
        "atomically after every blocking quality check passed."
    ),
)
def ces_marts_serving(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    started = time.perf_counter()
    serving_path = warehouse.warehouse_path.with_name("ces_marts.duckdb")
    counts = publish_serving_copy(warehouse.warehouse_path, serving_path)
    context.log.info(f"published {serving_path}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(serving_path)),
            "tables": dg.MetadataValue.json(counts),
            "dagster/row_count": sum(counts.values()),
            "elapsed_seconds": round(time.perf_counter() - started, 3),
        }
    )
