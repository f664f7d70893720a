"""The serving step: what BI users read, after every blocking quality check passed (the
checks are blocking, and this asset depends on every mart). What that means is the
engine's (orchestration/engines/): on DuckDB a serving copy of the marts replaced
atomically, on PostgreSQL the marts schema in place with bi_reader's grants verified.
"""

import time

import dagster as dg

from orchestration.dbt_project import model_nodes, read_manifest
from orchestration.resources import WarehouseResource
from orchestration.settings import WAREHOUSE_POOL


def _mart_nodes() -> list[dict]:
    return model_nodes(read_manifest(), "marts")


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


@dg.asset(
    name="ces_marts_serving",
    group_name="serving",
    kinds={"duckdb", "postgres", "spark"},
    pool=WAREHOUSE_POOL,
    deps=[dg.AssetKey(["marts", model]) for model in mart_models()],
    description=(
        "What BI users read, after every blocking quality check passed. DuckDB: "
        "warehouse/ces_marts.duckdb, the marts schema only, replaced atomically; incremental "
        "marts receive only the rows rewritten since the previous copy. PostgreSQL: the "
        "marts schema in place, read by the bi_reader role; checks that it reads every mart "
        "and nothing else. Spark: the ces_marts database, a view per mart switched to this "
        "build's copy."
    ),
)
def ces_marts_serving(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    started = time.perf_counter()
    published = warehouse.engine.publish(mart_models(), incremental_mart_keys())
    context.log.info(published.message)
    return dg.MaterializeResult(
        metadata={
            **published.metadata,
            "tables": dg.MetadataValue.json(published.tables),
            "dagster/row_count": sum(t["rows"] for t in published.tables.values()),
            "elapsed_seconds": round(time.perf_counter() - started, 3),
        }
    )
