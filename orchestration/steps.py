"""What a Dagster step or asset check of `ces_daily_build` belongs to, decided once for the
build summary (elapsed time per stage), the progress lines and the report's check table."""

from __future__ import annotations

SOURCE_FRESHNESS_CHECK = "dbt_source_freshness"
EFFORT_ALERTS_CHECK = "effort_alerts"
FULLY_REJECTED_CHECK = "no_fully_rejected_files"
QUARANTINE_CHECK = "no_quarantined_files"
GE_CHECK_PREFIX = "ge_"

# stage: (label in the summary's elapsed time, label in the progress lines)
STAGES = {
    "freshness": ("source freshness", "freshness check"),
    "ingest": ("ingest", "ingest"),
    "dbt": ("dbt build (models + tests)", "dbt build"),
    "quality": ("quality checks (Great Expectations)", "quality gates"),
    "publish": ("publish serving copy", "publish"),
    "report": ("CES report", "report"),
}


def stage_of(step_key: str) -> str | None:
    """The stage of a step key, None for a step of no known stage."""
    if step_key.endswith(SOURCE_FRESHNESS_CHECK):
        return "freshness"
    if step_key.startswith("raw_"):
        return "ingest"
    if step_key.startswith("ces_dbt_assets"):
        return "dbt"
    if GE_CHECK_PREFIX in step_key or step_key.endswith(FULLY_REJECTED_CHECK):
        return "quality"
    if step_key.startswith("ces_marts_serving"):  # the serving asset and its alerts check
        return "publish"
    if step_key.startswith("ces_report"):
        return "report"
    return None


def summary_label(step_key: str) -> str:
    stage = stage_of(step_key)
    return STAGES[stage][0] if stage else step_key


def progress_label(step_key: str | None) -> str:
    if not step_key:
        return "run"
    stage = stage_of(step_key)
    if stage is None:
        return step_key
    label = STAGES[stage][1]
    return f"{label} ({step_key})" if stage == "ingest" else label


def check_family(check_name: str) -> str:
    """The family of an asset check, as the report's check table counts them."""
    if check_name.startswith(GE_CHECK_PREFIX):
        return "Great Expectations suites"
    if check_name == SOURCE_FRESHNESS_CHECK:
        return "source freshness"
    if check_name == EFFORT_ALERTS_CHECK:
        return "effort alerts"
    if check_name in (FULLY_REJECTED_CHECK, QUARANTINE_CHECK):
        return "landing files"
    return "dbt data tests"


def is_reported_when_passed(check_name: str) -> bool:
    """Quality gates and freshness checks get a progress line when they pass too."""
    return check_name.startswith(GE_CHECK_PREFIX) or check_name == SOURCE_FRESHNESS_CHECK
