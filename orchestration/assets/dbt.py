"""dbt models, seeds and tests as Dagster assets and asset checks (dagster-dbt)."""
# No `from __future__ import annotations` here: Dagster reads the config annotation at runtime.

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.dbt_project import DBT_PROJECT, ensure_manifest
from orchestration.settings import WAREHOUSE_POOL

ensure_manifest()

RUN_TARGET_PATH = DBT_PROJECT.project_dir / "target" / "dagster_run"


class CesDbtTranslator(DagsterDbtTranslator):
    """Groups dbt assets by layer: registry (seeds), staging, intermediate, marts."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "registry"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else super().get_group_name(dbt_resource_props)


class DbtBuildConfig(dg.Config):
    full_refresh: bool = False


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    dagster_dbt_translator=CesDbtTranslator(),
    pool=WAREHOUSE_POOL,
)
def ces_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
    """`dbt build` over the selected models: seeds, models and their tests in DAG order."""
    args = ["build"]
    if config.full_refresh:
        args.append("--full-refresh")
    # One fixed artifacts folder instead of one per invocation, so dbt's partial parsing
    # carries over from run to run (runs that write the warehouse never overlap).
    yield from dbt.cli(args, context=context, target_path=RUN_TARGET_PATH).stream()
