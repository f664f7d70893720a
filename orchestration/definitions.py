"""The Dagster code location: assembles assets, resources and jobs from their modules."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.dbt import ces_dbt_assets
from orchestration.assets.ingest import INGEST_ASSETS
from orchestration.assets.publish import ces_marts_serving
from orchestration.assets.report import ces_report
from orchestration.checks.alerts import effort_alerts
from orchestration.checks.files import fully_rejected_files
from orchestration.checks.freshness import build_source_freshness_checks, marts_freshness_policy
from orchestration.checks.quality import build_quality_checks
from orchestration.jobs import ces_daily_build
from orchestration.progress import progress_logger
from orchestration.resources import build_resources
from orchestration.schedules import build_schedule
from orchestration.sensors import build_landing_sensor, build_status_sensors
from orchestration.settings import Settings


def build_definitions(settings: Settings) -> dg.Definitions:
    """The whole code location for resolved settings (`ces build` and the tests pass
    theirs; the caller has published them for dbt's subprocess with `export_env`)."""
    policy = marts_freshness_policy(settings.freshness_hours)

    def with_marts_freshness(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.group_name in ("marts", "serving"):
            return spec.replace_attributes(freshness_policy=policy)
        return spec

    return dg.Definitions(
        assets=[
            *INGEST_ASSETS,
            ces_dbt_assets.map_asset_specs(with_marts_freshness),
            ces_marts_serving.map_asset_specs(with_marts_freshness),
            ces_report.map_asset_specs(with_marts_freshness),
        ],
        asset_checks=[
            *build_quality_checks(),
            *build_source_freshness_checks(),
            effort_alerts,
            fully_rejected_files,
        ],
        resources=build_resources(settings),
        jobs=[ces_daily_build],
        loggers={"console": dg.colored_console_logger, "progress": progress_logger},
        schedules=[build_schedule(settings)],
        sensors=[build_landing_sensor(settings), *build_status_sensors(settings)],
    )


@dg.definitions
def defs() -> dg.Definitions:
    """What `dagster dev -m orchestration.definitions` loads: the settings of the
    environment, resolved once and published once for dbt's subprocess."""
    settings = Settings.from_env()
    settings.export_env()
    return build_definitions(settings)
