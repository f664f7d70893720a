"""The daily schedule of the whole build (time and time zone from the settings)."""

import dagster as dg

from orchestration.jobs import ces_daily_build
from orchestration.settings import Settings

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def build_schedule(settings: Settings) -> dg.ScheduleDefinition:
    full_day = settings.full_checks_weekday

    @dg.schedule(
        name="ces_daily_schedule",
        job=ces_daily_build,
        cron_schedule=settings.schedule_cron,
        execution_timezone=settings.schedule_timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Runs ces_daily_build at '{settings.schedule_cron}' ({settings.schedule_timezone}); "
            "set CES_SCHEDULE_CRON / CES_SCHEDULE_TIMEZONE to change it. The run of each "
            f"{WEEKDAYS[full_day]} (CES_FULL_CHECKS_WEEKDAY) checks whole tables; the others "
            "check the rows written since the last checked build."
        ),
    )
    def ces_daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        when = context.scheduled_execution_time
        full_checks = when is not None and when.weekday() == full_day
        return dg.RunRequest(
            run_config={"ops": {"ces_dbt_assets": {"config": {"full_checks": full_checks}}}},
            tags={"ces/check_scope": "all" if full_checks else "changed"},
        )

    return ces_daily_schedule
