"""The Dagster code location: assembles assets, resources and jobs from their modules."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.dbt import ces_dbt_assets
from orchestration.assets.ingest import INGEST_ASSETS
from orchestration.assets.publish import ces_marts_serving
from orchestration.checks.quality import build_quality_checks
from orchestration.jobs import ces_daily_build
from orchestration.resources import build_resources
from orchestration.schedules import build_schedule
from orchestration.sensors import build_landing_sensor, build_status_sensors
from orchestration.settings import Settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings.from_env()
    settings.export_env()
    return dg.Definitions(
        assets=[*INGEST_ASSETS, ces_dbt_assets, ces_marts_serving],
        asset_checks=build_quality_checks(),
        resources=build_resources(settings),
        jobs=[ces_daily_build],
        schedules=[build_schedule(settings)],
        sensors=[build_landing_sensor(settings), *build_status_sensors(settings)],
    )


defs = build_definitions()
