"""Run the `ces_daily_build` job in-process and summarise what it did."""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from orchestration import coverage, steps
from orchestration import progress as progress_lines
from orchestration.engines import engine_for
from orchestration.settings import DEV_PSEUDONYM_SALT, Settings

INGEST_KEYS = ("raw_survey_responses", "raw_tickets")
DEV_SALT_WARNING = (
    "customer pseudonyms use the public development salt (CES_PSEUDONYM_SALT is not set): "
    "anyone with the customer ids can recompute every customer_key. Set CES_PSEUDONYM_SALT "
    "to a secret for real data: the next build re-keys every pseudonym"
)


@dataclass
class BuildOutcome:
    success: bool
    seconds: float
    ingest: dict[str, dict] = field(default_factory=dict)
    assets_materialized: int = 0
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)
    checks_warned: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    published: bool = False
    report: dict[str, object] = field(default_factory=dict)  # ces_report's metadata
    run_id: str | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    dbt_log: Path | None = None
    started_at: datetime | None = None  # UTC, naive (as dbt's run_started_at)

    @property
    def exit_code(self) -> int:
        return 0 if self.success and not self.checks_failed else 1


def run_build(
    settings: Settings,
    full_refresh: bool = False,
    log_level: str = "WARNING",
    reprocess_from: str | None = None,
    reprocess_to: str | None = None,
    progress: bool = False,
    unit_tests: bool = False,
    check_report: bool = False,
    full_checks: bool = False,
) -> BuildOutcome:
    """Ingest new landing files and build every dbt model and test, in one Dagster run.

    reprocess_from / reprocess_to (ISO dates) backfill a date range within the same single
    dbt invocation; unit_tests also runs the dbt unit tests (skipped in production builds:
    they test the SQL on fixed inputs, not the data); progress prints a line per step,
    asset and check while it runs; check_report opens the report in headless Chromium;
    full_checks runs the data tests and quality checks on whole tables, not only on the
    rows written since the last checked build.
    """
    # Export before the code location is imported: the manifest is parsed at import time
    # and dbt's partial parsing only survives if the profile's variables stay the same.
    settings.export_env()
    from orchestration.definitions import build_definitions  # heavy: imported on use

    started = time.perf_counter()
    started_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    defs = build_definitions(settings)
    job = defs.resolve_job_def("ces_daily_build")
    instance = dg.DagsterInstance.ephemeral()
    run_config = {
        "ops": {
            "ces_dbt_assets": {
                "config": {
                    "full_refresh": full_refresh,
                    "full_checks": full_checks,
                    "unit_tests": unit_tests,
                    "reprocess_from": reprocess_from,
                    "reprocess_to": reprocess_to,
                }
            },
            "ces_report": {"config": {"browser_check": check_report}},
        },
        "loggers": {
            "console": {"config": {"log_level": log_level}},
            **({"progress": {}} if progress else {}),
        },
    }
    # dagster-dbt echoes dbt's own log to stdout; unless verbose, it goes to a file instead
    # (named in the summary when the run fails).
    verbose = log_level in ("DEBUG", "INFO")
    dbt_log = settings.warehouse_dir / "logs" / "dbt_output.log"
    dbt_log.parent.mkdir(parents=True, exist_ok=True)
    progress_lines.RUN_STARTED.append(time.perf_counter())
    with dbt_log.open("w") as dbt_output:
        tee = progress_lines.DbtLogTee(dbt_output, sys.stderr if progress else None)
        with contextlib.nullcontext() if verbose else contextlib.redirect_stdout(tee):
            result = job.execute_in_process(
                instance=instance, run_config=run_config, raise_on_error=False
            )
    outcome = BuildOutcome(success=result.success, seconds=time.perf_counter() - started)
    outcome.dbt_log = None if verbose else dbt_log
    outcome.started_at = started_at
    outcome.run_id = result.run_id
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        outcome.assets_materialized += 1
        key = materialization.asset_key.to_user_string()
        if key in INGEST_KEYS:
            outcome.ingest[key] = {k: v.value for k, v in materialization.metadata.items()}
        outcome.published = outcome.published or key == "ces_marts_serving"
        if key == "ces_report":
            outcome.report = {k: v.value for k, v in materialization.metadata.items()}
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            outcome.checks_passed += 1
            continue
        detail = evaluation.metadata.get("failed_expectations") or evaluation.metadata.get(
            "details"
        )
        text = f"{evaluation.asset_key.to_user_string()}: {evaluation.check_name}" + (
            f"\n{_indent(detail.value)}" if detail is not None else ""
        )
        if evaluation.check_name == steps.SOURCE_FRESHNESS_CHECK:
            # Stale inputs are reported, in the UI with dbt's error level, but they do not
            # fail the build: what was built is correct, there was just nothing new.
            meta = {k: v.value for k, v in evaluation.metadata.items()}
            outcome.checks_warned.append(
                f"{text} {meta['status']}: newest load {meta['max_loaded_at']}, "
                f"age {meta['age_hours']} h (warn after {meta['warn_after_hours']} h, "
                f"error after {meta['error_after_hours']} h)"
            )
        elif evaluation.severity == dg.AssetCheckSeverity.WARN:
            outcome.checks_warned.append(text)
        else:
            outcome.checks_failed.append(text)
    for stats in instance.get_run_step_stats(result.run_id):
        if stats.start_time and stats.end_time:
            stage = steps.summary_label(stats.step_key)
            outcome.stage_seconds[stage] = (
                outcome.stage_seconds.get(stage, 0.0) + stats.end_time - stats.start_time
            )
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            error = event.event_specific_data.error
            outcome.errors.append(f"{event.step_key}: {_root_cause(error)}")
    return outcome


def _root_cause(error) -> str:
    """The innermost error's message: Dagster wraps the step's own exception. The project's
    own errors (a Failure raised by a step, a config error) are written for the reader and
    lose their qualified class name; anything else keeps its class's short name."""
    if error is None:
        return ""
    while error.cause is not None:
        error = error.cause
    message = error.message.strip()
    qualified, _, rest = message.partition(": ")
    if error.cls_name and rest and qualified.endswith(error.cls_name):
        own = qualified.startswith("orchestration.") or error.cls_name == "Failure"
        message = rest if own else f"{error.cls_name}: {rest}"
    return message


def _merge_errors(errors: list[str]) -> list[str]:
    """'step: message' lines with the same message (one bad config fails every stream's
    ingest step) as one line naming every step."""
    steps_by_message: dict[str, list[str]] = {}
    for error in errors:
        step, _, message = error.partition(": ")
        steps_by_message.setdefault(message, []).append(step)
    return [f"{', '.join(names)}: {message}" for message, names in steps_by_message.items()]


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in str(text).splitlines())


def warehouse_summary(settings: Settings, since: datetime | None = None) -> dict[str, object]:
    """Row counts and reject reasons read back from the warehouse (read-only), and what the
    incremental facts recomputed in the build that started at `since`. Portable SQL: the
    same queries read every engine's warehouse."""
    engine = engine_for(settings)
    if not engine.has_warehouse():
        return {}
    with engine.reading() as db:
        relations = engine.relations(db, ("raw", "audit", "staging", "intermediate", "marts"))
        counts = {name: db.execute(f"select count(*) from {name}")[0][0] for name in relations}
        reasons = answer_reasons = hotspots = []
        if "audit.rejected_rows" in counts:
            reasons = db.execute(
                "select stream, error_type, count(*) from audit.rejected_rows "
                "group by stream, error_type order by stream, error_type"
            )
        if "audit.audit_rejected_answers" in counts:
            answer_reasons = db.execute(
                "select reject_reason, count(*) from audit.audit_rejected_answers "
                "group by 1 order by 2 desc, 1"
            )
        if "marts.rpt_effort_hotspots" in counts:
            hotspots = db.execute(
                "select period_start, effort_rank, touchpoint_id, n_responses, ces_mean_7pt, "
                "ces_mean_7pt_change, comparison, is_low_sample from marts.rpt_effort_hotspots "
                "order by effort_rank limit 3"
            )
        build_info = None
        if "marts.rpt_build_info" in counts:
            build_info = (db.records(coverage.BUILD_INFO_QUERY) or [None])[0]
        refreshed = {}
        if since is not None and "marts.fct_ces_touchpoint_period" in counts:
            refreshed["answers"] = db.execute(
                "select count(*), count(distinct response_date), min(response_date), "
                "max(response_date) from marts.fct_ces_responses where refreshed_at >= ?",
                [since],
            )[0]
            refreshed["periods"] = db.execute(
                "select period_grain, count(*) from marts.fct_ces_touchpoint_period "
                "where refreshed_at >= ? group by 1 order by case period_grain "
                "when 'day' then 1 when 'week' then 2 when 'month' then 3 else 4 end",
                [since],
            )
    return {
        "counts": counts,
        "reject_reasons": reasons,
        "answer_reasons": answer_reasons,
        "hotspots": hotspots,
        "build_info": build_info,
        "refreshed": refreshed,
    }


def format_summary(settings: Settings, outcome: BuildOutcome) -> str:
    lines = [
        f"CES build {'succeeded' if outcome.success else 'FAILED'} in {outcome.seconds:.1f} s",
        "",
        f"{'landing stream':<24}{'files new':>10}{'landed':>12}{'loaded':>12}{'rejected':>10}"
        f"{'skipped':>10}",
    ]
    for key in INGEST_KEYS:
        m = outcome.ingest.get(key)
        if m is None:
            lines.append(f"{key.removeprefix('raw_'):<24}{'(not run)':>10}")
            continue
        lines.append(
            f"{key.removeprefix('raw_'):<24}{m['files_new']:>10,}{m['rows_landed']:>12,}"
            f"{m['rows_loaded']:>12,}{m['rows_rejected']:>10,}{m.get('rows_skipped', 0):>10,}"
        )
    lines += [
        "",
        f"assets materialized: {outcome.assets_materialized}; "
        f"checks passed: {outcome.checks_passed}; failed: {len(outcome.checks_failed)}; "
        f"warnings: {len(outcome.checks_warned)}",
    ]
    if outcome.stage_seconds:
        lines.append(
            "elapsed per stage: "
            + ", ".join(f"{stage} {sec:.1f} s" for stage, sec in outcome.stage_seconds.items())
        )
    if settings.pseudonym_salt == DEV_PSEUDONYM_SALT:
        lines.append(f"  WARNING {DEV_SALT_WARNING}")
    lines += [f"  FAILED check {text}" for text in outcome.checks_failed]
    lines += [f"  WARNING check {text}" for text in outcome.checks_warned]
    lines += [
        "  ERROR " + message.replace("\n", "\n    ") for message in _merge_errors(outcome.errors)
    ]
    if outcome.dbt_log and (outcome.errors or outcome.checks_failed):
        lines.append(f"dbt's log of this run: {outcome.dbt_log}")
    if outcome.dbt_log and outcome.errors:
        lines.append("Dagster's run log with stack traces: run again with --verbose")
    engine = engine_for(settings)
    lines.append(engine.publish_summary(outcome.published))
    if outcome.report:
        checked = outcome.report.get("browser_check")
        shot = outcome.report.get("screenshot")
        lines.append(
            f"CES report: {outcome.report['path']} (browser check {checked}"
            + (f"; screenshot {shot})" if shot else ")")
        )
    docs = settings.warehouse_dir / "data_docs" / "quality.html"
    if docs.exists():
        lines.append(f"quality report (Great Expectations Data Docs): {docs}")
    summary = warehouse_summary(settings, since=outcome.started_at)
    if summary:
        lines += ["", f"warehouse: {engine.location}"]
        lines += [f"  {name:<48}{count:>12,}" for name, count in summary["counts"].items()]
        refreshed = summary["refreshed"]
        if refreshed:
            n, days, first, last = refreshed["answers"]
            span = f" on {days:,} response dates ({first} to {last})" if n else ""
            periods = ", ".join(f"{n:,} {grain}" for grain, n in refreshed["periods"]) or "none"
            lines += [
                "",
                f"recomputed by this build: {n:,} CES answers{span}; periods: {periods}",
            ]
        if summary["reject_reasons"]:
            lines += ["", "rejected records by reason (all loads; see audit.rejected_rows):"]
            lines += [
                f"  {stream:<18}{reason:<28}{count:>8,}"
                for stream, reason, count in summary["reject_reasons"]
            ]
        if summary["answer_reasons"]:
            lines += ["", "answers kept out of the facts (see audit.audit_rejected_answers):"]
            lines += [f"  {reason:<46}{count:>8,}" for reason, count in summary["answer_reasons"]]
        info = summary["build_info"]
        if not outcome.published:
            # what the warehouse holds may be half rebuilt: not this build's result
            lines += [
                "",
                "data, freshness and hotspots not shown: this build did not publish; the "
                "serving copy and the report still show the last published build",
            ]
        elif info is not None:
            lines += ["", f"data: {coverage.freshness_sentence(info)}"]
            note = coverage.coverage_sentence(info)
            if note:
                lines.append(f"  {note}")
        if summary["hotspots"] and outcome.published:
            month = summary["hotspots"][0][0]
            lines += ["", f"effort hotspots, {month:%B %Y} (1 = hardest; ease on 1-7):"]
            for _, rank, touchpoint, n, mean, change, comparison, low in summary["hotspots"]:
                delta = "" if change is None else f", {change:+.2f} vs previous month"
                few = ", fewer than 30 answers: read with care" if low else ""
                lines.append(
                    f"  {rank}. {touchpoint:<22} {mean:.2f} (n={n:,}{delta}{few}) {comparison}"
                )
    return "\n".join(lines)
