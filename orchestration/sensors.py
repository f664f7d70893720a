"""Sensors: a run when landing files arrive or change, and the run-status hook.

The landing sensor's cursor is the set of files it has already seen (path -> size and
modification time), so a restart of the daemon does not re-trigger old files and a file
rewritten in place (same name, new content) triggers again. Whether a file's content is
new is decided again, by hash, by the ingest assets (audit.load_manifest).
"""

import json

import dagster as dg

from orchestration.ingest.contract import STREAMS
from orchestration.ingest.loader import discover_files
from orchestration.ingest.sources import SourceConfigError, load_source_configs
from orchestration.jobs import ces_daily_build
from orchestration.settings import Settings
from orchestration.status import write_build_status


def landing_fingerprints(settings: Settings) -> dict[str, str]:
    """Every landing file of every stream and every vendor source (config/sources/), with
    a fingerprint of its size and mtime."""
    seen: dict[str, str] = {}
    paths = [
        p
        for stream in STREAMS.values()
        for p in discover_files(settings.landing_dir / stream.folder)
    ]
    try:
        sources = load_source_configs()
    except SourceConfigError:
        sources = []  # the ingest step reports the invalid config; contract files still count
    paths += [p for source in sources for p in source.matches(settings.landing_dir)]
    for path in paths:
        stat = path.stat()
        relative = path.relative_to(settings.landing_dir).as_posix()
        seen[relative] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return seen


def build_landing_sensor(settings: Settings) -> dg.SensorDefinition:
    @dg.sensor(
        name="ces_landing_sensor",
        job=ces_daily_build,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Requests a build when files are new or changed under {settings.landing_dir}.",
    )
    def _landing_sensor(context: dg.SensorEvaluationContext):
        previous: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        current = landing_fingerprints(settings)
        changed = sorted(p for p, fingerprint in current.items() if previous.get(p) != fingerprint)
        if not changed:
            return dg.SkipReason(f"no new or changed files among {len(current)} landing files")
        context.update_cursor(json.dumps(current, sort_keys=True))
        run_key = ",".join(f"{p}@{current[p]}" for p in changed)
        return dg.RunRequest(
            run_key=run_key,
            tags={"ces/new_files": str(len(changed)), "ces/trigger": "landing_sensor"},
        )

    return _landing_sensor


def build_status_sensors(settings: Settings) -> list[dg.SensorDefinition]:
    @dg.run_failure_sensor(
        name="ces_build_failure_hook",
        monitored_jobs=[ces_daily_build],
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Logs a failed build and writes it to <warehouse>/ces_build_status.json.",
    )
    def _on_failure(context: dg.RunFailureSensorContext):
        message = context.failure_event.message or "run failed"
        context.log.error(f"ces_daily_build run {context.dagster_run.run_id} failed: {message}")
        write_build_status(settings.warehouse_dir, "failure", context.dagster_run.run_id, message)

    @dg.run_status_sensor(
        name="ces_build_success_hook",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[ces_daily_build],
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Writes a successful build to <warehouse>/ces_build_status.json.",
    )
    def _on_success(context: dg.RunStatusSensorContext):
        write_build_status(settings.warehouse_dir, "success", context.dagster_run.run_id)

    return [_on_failure, _on_success]
