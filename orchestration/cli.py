"""`ces`: write sample landing data, and build the warehouse."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from orchestration.locks import WarehouseBusyError, build_lock
from orchestration.settings import Settings


def _sample(args: argparse.Namespace) -> int:
    from orchestration.sample import generate_sample

    started = time.perf_counter()
    try:
        end = args.end or Settings.from_env().yesterday()
    except ValueError as error:  # CES_NOW is not a date or time
        print(f"ces sample: {error}", file=sys.stderr)
        return 2
    summary = generate_sample(
        Path(args.out),
        responses=args.responses,
        days=args.days,
        seed=args.seed,
        end_date=end,
        id_offset=args.id_offset,
    )
    first = end - timedelta(days=args.days - 1)
    print(
        f"wrote {summary.responses:,} answers (+{summary.resent:,} re-sent) and "
        f"{summary.tickets:,} tickets from {first} to {end} in {len(summary.files)} files "
        f"under {args.out} ({time.perf_counter() - started:.1f} s)"
    )
    return 0


def _build(args: argparse.Namespace) -> int:
    return _on_warehouse("build", "built", args, _run_build)


def _on_warehouse(
    command: str,
    done: str,
    args: argparse.Namespace,
    run: Callable[[argparse.Namespace, Settings, str], int],
) -> int:
    """Resolve the settings, check the folders, take the warehouse's build lock, wait for
    the warehouse file to be free, then `run(args, settings, location)`. Each refusal is
    one line ('ces build: ...; nothing was built') and exit 1 (2 for a setting's value)."""
    from orchestration.engines import engine_for

    try:
        settings = Settings.from_env(
            landing_dir=args.landing, warehouse_dir=args.warehouse, dbt_target=args.target
        )
        engine = engine_for(settings)
    except ValueError as error:  # an unknown target, or CES_NOW not a date or time
        print(f"ces {command}: {error}", file=sys.stderr)
        return 2
    refused = _refused_folders(settings)
    if refused:
        print(f"ces {command}: {refused}; nothing was {done}", file=sys.stderr)
        return 1
    try:
        with build_lock(settings.warehouse_dir):
            engine.wait_until_writable(settings.lock_wait_seconds)
            return run(args, settings, engine.location)
    except WarehouseBusyError as error:
        print(f"ces {command}: {error}; nothing was {done}", file=sys.stderr)
        return 1


def _run_build(args: argparse.Namespace, settings: Settings, location: str) -> int:
    """The build itself, its summary and status file (the caller holds the build lock)."""
    from orchestration.build import format_summary, run_build

    print(f"building {location} from {settings.landing_dir} ...", flush=True)
    outcome = run_build(
        settings,
        full_refresh=args.full_refresh,
        # Dagster's own console log (stack traces included) only with --verbose: the
        # progress lines and the summary name every failure once.
        log_level="INFO" if args.verbose else "CRITICAL",
        reprocess_from=args.reprocess_from and args.reprocess_from.isoformat(),
        reprocess_to=args.reprocess_to and args.reprocess_to.isoformat(),
        progress=not args.quiet,
        unit_tests=args.unit_tests,
        check_report=args.check_report,
        full_checks=args.full_checks,
    )
    print(format_summary(settings, outcome))
    from orchestration.status import write_build_status

    failures = outcome.checks_failed + outcome.errors
    write_build_status(
        settings.warehouse_dir,
        "success" if outcome.exit_code == 0 else "failure",
        outcome.run_id,
        "; ".join(line.splitlines()[0] for line in failures),
    )
    return outcome.exit_code


def _refused_folders(settings: Settings) -> str | None:
    """Why the build cannot start with these folders (checked before anything is built,
    so a typo or a read-only mount is one clear line, not a traceback), or None."""
    if not settings.landing_dir.is_dir():
        # a typo in --landing would otherwise publish an empty warehouse with exit 0
        landing = settings.landing_dir
        return f"landing folder {landing} does not exist (--landing or CES_LANDING_DIR)"
    unwritable = _unwritable(settings.warehouse_dir)
    if unwritable:
        return (
            f"warehouse folder {settings.warehouse_dir} cannot be written ({unwritable}; "
            "--warehouse or CES_WAREHOUSE_DIR)"
        )
    return None


def _unwritable(folder: Path) -> str | None:
    """Why a file cannot be created in `folder` (made if missing), or None when it can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        return error.strerror or str(error)
    return None


def _reload(args: argparse.Namespace) -> int:
    return _on_warehouse("reload", "reloaded", args, _run_reload)


def _run_reload(args: argparse.Namespace, settings: Settings, location: str) -> int:
    from orchestration.reload import reload_landing_files

    try:
        results = reload_landing_files(settings, args.files, args.source)
    except ValueError as error:  # ReloadError, SourceConfigError
        print(f"ces reload: {error}", file=sys.stderr)
        return 2
    for r in results:
        print(
            f"reloaded {r.file_path} ({r.stream}): {r.status}, landed {r.rows_landed:,}, "
            f"loaded {r.rows_accepted:,}, rejected {r.rows_rejected:,}, skipped {r.rows_skipped:,}"
        )
    failed = [r for r in results if r.status == "failed"]
    if failed:
        print(f"ces reload: {len(failed)} file(s) could not be loaded", file=sys.stderr)
        return 1
    if args.no_build:
        print("not built (--no-build): run `ces build --full-refresh` to rebuild the models")
        return 0
    args.full_refresh = True
    args.reprocess_from = args.reprocess_to = None
    args.unit_tests = args.check_report = args.full_checks = False
    return _run_build(args, settings, location)


def _add_location_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--landing", help="landing folder (default $CES_LANDING_DIR or data/landing)"
    )
    command.add_argument(
        "--warehouse", help="warehouse folder (default $CES_WAREHOUSE_DIR or warehouse)"
    )
    command.add_argument(
        "--target",
        help="dbt target of profiles.yml: duckdb (a file under --warehouse), postgres "
        "(the server of CES_PG_HOST/PORT/USER/PASSWORD/DATABASE) or spark (the Thrift "
        "server of CES_SPARK_HOST/PORT); default $CES_DBT_TARGET or duckdb",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ces", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    sample = commands.add_parser("sample", help="write deterministic sample landing files")
    sample.add_argument("--out", required=True, help="landing folder to write into")
    sample.add_argument(
        "--responses", type=int, default=200_000, help="answers to write (default %(default)s)"
    )
    sample.add_argument(
        "--days", type=int, default=365, help="days of data, ending at --end (default %(default)s)"
    )
    sample.add_argument(
        "--seed", type=int, default=42, help="same seed, same files (default %(default)s)"
    )
    sample.add_argument(
        "--end",
        type=date.fromisoformat,
        help="last day (ISO date; default yesterday in UTC, by $CES_NOW when it pins the clock)",
    )
    sample.add_argument(
        "--id-offset",
        type=int,
        default=0,
        help="shift every id by this much (a second sample then adds rather than re-sends; "
        "default %(default)s)",
    )
    sample.add_argument("--verbose", action="store_true", help="stack trace of any error")
    sample.set_defaults(handler=_sample)

    build = commands.add_parser("build", help="ingest new landing files and build every model")
    _add_location_arguments(build)
    build.add_argument("--full-refresh", action="store_true", help="rebuild incremental models")
    build.add_argument(
        "--from",
        dest="reprocess_from",
        type=date.fromisoformat,
        help="backfill: also reprocess answers responded on or after this date (ISO)",
    )
    build.add_argument(
        "--to",
        dest="reprocess_to",
        type=date.fromisoformat,
        help="backfill: also reprocess answers responded on or before this date (ISO)",
    )
    build.add_argument(
        "--unit-tests",
        action="store_true",
        help="also run the dbt unit tests (make test does; scheduled builds skip them)",
    )
    build.add_argument(
        "--full-checks",
        action="store_true",
        help="run every data test and quality check on whole tables (the weekly scheduled "
        "build does); by default incremental tables are checked where this build wrote",
    )
    build.add_argument(
        "--check-report",
        action="store_true",
        help="open the report in headless Chromium and fail when a chart is not drawn "
        "(about 2 s; make test does, scheduled builds skip it)",
    )
    build.add_argument(
        "--verbose",
        action="store_true",
        help="show Dagster's run log and the stack trace of any error",
    )
    build.add_argument("--quiet", action="store_true", help="no progress lines, summary only")
    build.set_defaults(handler=_build)

    reload = commands.add_parser(
        "reload",
        help="read landing files already loaded again (after a config fix), replacing "
        "their rows, then rebuild",
    )
    reload.add_argument(
        "files", nargs="*", help="landing files (relative to the landing folder, or paths)"
    )
    reload.add_argument("--source", help="every file of config/sources/<SOURCE>.yml")
    _add_location_arguments(reload)
    reload.add_argument(
        "--no-build", action="store_true", help="only replace the files' rows; build later"
    )
    reload.add_argument(
        "--verbose",
        action="store_true",
        help="show Dagster's run log and the stack trace of any error",
    )
    reload.add_argument("--quiet", action="store_true", help="no progress lines, summary only")
    reload.set_defaults(handler=_reload)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"ces {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        # One line naming what failed; the stack trace only when asked for.
        if getattr(args, "verbose", False):
            raise
        print(f"ces {args.command}: {_describe(error)}", file=sys.stderr)
        print(f"(ces {args.command} --verbose shows the stack trace)", file=sys.stderr)
        return 1


def _describe(error: Exception) -> str:
    if isinstance(error, OSError) and error.filename:
        return f"{error.strerror or error}: {error.filename}"
    return f"{type(error).__name__}: {error}"


if __name__ == "__main__":
    sys.exit(main())
