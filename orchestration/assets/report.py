"""The CES report asset: warehouse/report/index.html, rendered after every publish."""
# No `from __future__ import annotations` here: Dagster reads annotations at runtime.

import time
from datetime import UTC, datetime

import dagster as dg

from orchestration import report, steps
from orchestration.resources import WarehouseResource


class ReportConfig(dg.Config):
    """Run config of the report step (`ces build --check-report`)."""

    # Open the page in headless Chromium and fail the step when a chart is not drawn.
    # About 2 s per build (issue 21), so scheduled builds skip it; `make test` runs it on
    # every report it builds, where a change of the page's code would break it.
    browser_check: bool = False


def run_checks(context: dg.AssetExecutionContext) -> report.CheckSummary:
    """The asset checks evaluated in this run, by family."""
    summary = report.CheckSummary()
    records = context.instance.get_records_for_run(
        run_id=context.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        warned = evaluation.severity == dg.AssetCheckSeverity.WARN
        summary.add(steps.check_family(evaluation.check_name), evaluation.passed, warned)
    return summary


@dg.asset(
    name="ces_report",
    group_name="serving",
    kinds={"html"},
    deps=[dg.AssetKey("ces_marts_serving")],
    description=(
        "warehouse/report/index.html: the CES report for people who do not read SQL "
        "(open alerts, hotspots with raw and Holm-corrected p-values, CES trend with "
        "confidence bands and the six-month trend test, effort mix, CES vs CSAT, ticket "
        "drivers and their ranking, themes of difficult answers, data quality), one "
        "self-contained page read from what BI users read. "
        "With `ces build --check-report`: checked in headless Chromium (charts drawn, no "
        "script error) with a screenshot beside it (Chromium from scripts/chromium.sh)."
    ),
)
def ces_report(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, config: ReportConfig
):
    started = time.perf_counter()
    out_dir = warehouse.report_dir
    with warehouse.serving() as db:
        page, data = report.write_report(
            db, out_dir, run_checks(context), datetime.now(UTC), warehouse.serving_label
        )
    metadata = {
        "path": dg.MetadataValue.path(str(page)),
        "latest_complete_month": str(data.latest_month),
        "hotspots": len(data.hotspots),
        "touchpoint_months": len(data.complete_months),
    }
    chromium = report.find_chromium() if config.browser_check else None
    if not config.browser_check:
        metadata["browser_check"] = "not run: ces build --check-report runs it"
    elif chromium is None:
        context.log.warning(
            "report not checked in a browser: Chromium is not installed "
            "(bash scripts/chromium.sh install)"
        )
        metadata["browser_check"] = "skipped: Chromium not installed"
    else:
        check = report.check_in_browser(page, out_dir / report.SCREENSHOT, chromium)
        metadata.update(
            browser_check="passed" if check.ok else "FAILED",
            charts_rendered=f"{check.charts_rendered} of {check.charts_expected}",
            screenshot=dg.MetadataValue.path(str(check.screenshot)),
        )
        if not check.ok:
            raise dg.Failure(
                description=(
                    f"{page} did not render in Chromium: {check.charts_rendered} of "
                    f"{check.charts_expected} charts drawn; errors: {check.errors or 'none'}"
                ),
                metadata=metadata,
            )
    metadata["elapsed_seconds"] = round(time.perf_counter() - started, 3)
    context.log.info(f"wrote {page}")
    return dg.MaterializeResult(metadata=metadata)
