"""Sensors: a run when landing files arrive or change, and the run-status hook.

The landing sensor's cursor is the set of files it has already seen (path -> size and
modification time), so a restart of the daemon does not re-trigger old files and a file
rewritten in place (same name, new content) triggers again. Its first tick, without a
cursor, starts from what the warehouse has already loaded (audit.load_manifest: the same
path with the same content hash), so the first `make dev` after `make build` does not
rebuild for files that are already in. Whether a file's content is new is decided again,
by hash, by the ingest assets.
"""

import json

import dagster as dg

from orchestration.engines import engine_for
from orchestration.ingest.contract import STREAMS
from orchestration.ingest.loader import discover_files
from orchestration.ingest.sources import SourceConfigError, load_source_configs
from orchestration.ingest.staging import file_sha256
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
        # a link as itself (the loader refuses links out of the folder, to folders or to
        # nothing): never followed, and a broken one is no error
        stat = path.lstat() if path.is_symlink() else path.stat()
        relative = path.relative_to(settings.landing_dir).as_posix()
        seen[relative] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return seen


def already_loaded(settings: Settings, current: dict[str, str]) -> dict[str, str]:
    """The entries of `current` whose file the warehouse has already loaded: its path is in
    audit.load_manifest with the file's present content hash (only those paths are hashed).
    Empty when there is no warehouse yet; raises when it cannot be read (a build holds it)."""
    engine = engine_for(settings)
    if not engine.has_warehouse():
        return {}
    with engine.reading() as db:
        if "audit.load_manifest" not in engine.relations(db, ("audit",)):
            return {}
        recorded: dict[str, set[str]] = {}
        for path, digest in db.execute(
            "select distinct file_path, file_hash from audit.load_manifest"
        ):
            recorded.setdefault(path, set()).add(digest)
    return {
        path: fingerprint
        for path, fingerprint in current.items()
        if path in recorded
        and not (settings.landing_dir / path).is_symlink()
        and file_sha256(settings.landing_dir / path) in recorded[path]
    }


def build_landing_sensor(settings: Settings) -> dg.SensorDefinition:
    @dg.sensor(
        name="ces_landing_sensor",
        job=ces_daily_build,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Requests a build when files are new or changed under {settings.landing_dir}.",
    )
    def _landing_sensor(context: dg.SensorEvaluationContext):
        current = landing_fingerprints(settings)
        if context.cursor:
            previous: dict[str, str] = json.loads(context.cursor)
        else:
            try:
                previous = already_loaded(settings, current)
            except Exception as error:  # the warehouse is locked by a build, say
                return dg.SkipReason(
                    f"first tick: could not read what the warehouse has loaded ({error}); "
                    "trying again on the next tick"
                )
        changed = sorted(p for p, fingerprint in current.items() if previous.get(p) != fingerprint)
        cursor = json.dumps(current, sort_keys=True)
        if not changed:
            return dg.SensorResult(
                skip_reason=f"no new or changed files among {len(current)} landing files",
                cursor=cursor,
            )
        run_key = ",".join(f"{p}@{current[p]}" for p in changed)
        request = dg.RunRequest(
            run_key=run_key,
            tags={"ces/new_files": str(len(changed)), "ces/trigger": "landing_sensor"},
        )
        return dg.SensorResult(run_requests=[request], cursor=cursor)

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
