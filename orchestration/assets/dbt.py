"""dbt models, seeds and tests as Dagster assets and asset checks (dagster-dbt)."""
# No `from __future__ import annotations` here: Dagster reads the config annotation at runtime.

import functools
import json
from collections.abc import Mapping
from datetime import date
from typing import Any, Optional

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration import quality, report
from orchestration.dbt_project import DBT_PROJECT, ensure_manifest, read_manifest
from orchestration.registry import RegistryError, require_valid_registry
from orchestration.resources import WarehouseResource
from orchestration.settings import WAREHOUSE_POOL

ensure_manifest()

RUN_TARGET_PATH = DBT_PROJECT.project_dir / "target" / "dagster_run"
# The registry seeds checked before every dbt build (orchestration/registry.py).
REGISTRY_DIR = DBT_PROJECT.project_dir / "seeds"


class CesDbtTranslator(DagsterDbtTranslator):
    """Groups dbt assets by layer: registry (seeds), staging, intermediate, marts."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "registry"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else super().get_group_name(dbt_resource_props)


class DbtBuildConfig(dg.Config):
    """Run config of the dbt step (Launchpad in the UI, `ces build` flags on the command line)."""

    full_refresh: bool = False
    # Data tests on incremental models read only the rows written since the last build
    # whose tests all passed (macros/check_scope.sql); full_checks reads whole tables
    # (`ces build --full-checks`, the weekly scheduled build).
    full_checks: bool = False
    # dbt unit tests check the SQL logic on fixed inputs, so they cannot fail on new data:
    # `make test` runs them, production builds skip them (`ces build --unit-tests` runs them).
    unit_tests: bool = False
    # Backfill: reprocess answers responded in this date range (ISO dates; either end may
    # be open) and every period of fct_ces_touchpoint_period overlapping it.
    reprocess_from: Optional[str] = None  # noqa: UP045 (Dagster reads this annotation)
    reprocess_to: Optional[str] = None  # noqa: UP045

    def dbt_args(self, clock_now: str | None = None) -> list[str]:
        """The arguments of the run's single `dbt build` invocation; clock_now is the pinned
        project clock (CES_NOW), passed to dbt as the var `clock_now` only when pinned (a
        changed --vars costs dbt its partial parse, so the daily build's vars stay the
        same from run to run)."""
        args = ["build"]
        if self.full_refresh:
            args.append("--full-refresh")
        if not self.unit_tests:
            args += ["--exclude-resource-type", "unit_test"]
        dbt_vars: dict[str, str] = {"ces_check_scope": "all" if self.full_checks else "changed"}
        dbt_vars |= {
            name: date.fromisoformat(value).isoformat()
            for name, value in (
                ("reprocess_from", self.reprocess_from),
                ("reprocess_to", self.reprocess_to),
            )
            if value
        }
        if clock_now:
            dbt_vars["clock_now"] = clock_now
        args += ["--vars", json.dumps(dbt_vars)]
        return args


@functools.cache
def _relations() -> dict[str, str]:
    """unique_id -> schema.table of every seed and stored model (tables, incremental) in
    the manifest; views are not counted, counting one would run its whole query."""
    manifest = read_manifest(DBT_PROJECT.manifest_path)
    return {
        unique_id: f"{node['schema']}.{node['alias']}"
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "seed"
        or (node["resource_type"] == "model" and node["config"]["materialized"] != "view")
    }


def with_row_counts(events: list, warehouse: WarehouseResource) -> list:
    """Add `dagster/row_count` to each model's and seed's materialization.

    Counted after dbt has exited: until then dbt holds DuckDB's single writer lock.
    """
    relations = _relations()
    outputs = [e for e in events if isinstance(e, dg.Output) and "unique_id" in e.metadata]
    wanted = {e.metadata["unique_id"].value for e in outputs} & relations.keys()
    if not wanted:
        return events
    with warehouse.reading() as db:
        counts = {
            unique_id: db.execute(f"select count(*) from {relations[unique_id]}")[0][0]
            for unique_id in wanted
        }
    return [
        e.with_metadata({**e.metadata, "dagster/row_count": counts[e.metadata["unique_id"].value]})
        if e in outputs and e.metadata["unique_id"].value in counts
        else e
        for e in events
    ]


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    dagster_dbt_translator=CesDbtTranslator(),
    pool=WAREHOUSE_POOL,
)
def ces_dbt_assets(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    config: DbtBuildConfig,
):
    """`dbt build` over the selected models: seeds, models and their tests in DAG order,
    each materialization with its execution time and row count."""
    try:
        # before dbt: a registry typo would change published numbers with exit 0
        require_valid_registry(REGISTRY_DIR)
    except RegistryError as error:
        raise dg.Failure(description=str(error)) from None
    args = config.dbt_args(warehouse.clock_now)
    context.log.info("dbt %s", " ".join(args))
    if context.instance.is_ephemeral:
        # `ces build` runs every step in this process: import Great Expectations and the
        # report's charting while dbt works in its subprocess, not afterwards.
        quality.prewarm()
        report.prewarm()
    # One fixed artifacts folder instead of one per invocation, so dbt's partial parsing
    # carries over from run to run (runs that write the warehouse never overlap).
    invocation = dbt.cli(args, context=context, target_path=RUN_TARGET_PATH, raise_on_error=False)
    events = list(invocation.stream())
    # Also when dbt failed: what it built is materialized, only the failed node's
    # downstream is not.
    yield from with_row_counts(events, warehouse)
    if not invocation.is_successful():
        raise invocation.get_error() or dg.Failure(description="dbt build failed")
