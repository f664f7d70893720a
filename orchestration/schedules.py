"""The daily schedule of the whole build (time and time zone from the settings)."""

import dagster as dg

from orchestration.jobs import ces_daily_build
from orchestration.settings import Settings


def build_schedule(settings: Settings) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="ces_daily_schedule",
        job=ces_daily_build,
        cron_schedule=settings.schedule_cron,
        execution_timezone=settings.schedule_timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Runs ces_daily_build at '{settings.schedule_cron}' ({settings.schedule_timezone}); "
            "set CES_SCHEDULE_CRON / CES_SCHEDULE_TIMEZONE to change it."
        ),
    )
