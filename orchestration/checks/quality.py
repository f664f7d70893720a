"""One blocking asset check per suite in expectations/: an ERROR-severity failure stops
the assets downstream of the validated table (the serving copy), a WARN one is reported."""

import dagster as dg

from orchestration import quality
from orchestration.resources import WarehouseResource
from orchestration.settings import WAREHOUSE_POOL
from orchestration.steps import GE_CHECK_PREFIX


def _metadata(outcome: quality.SuiteOutcome) -> dict:
    failed = [o for o in outcome.outcomes if not o.success]
    lines = [
        "| expectation | column | severity | observed | sample | expects |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {o.expectation_type} | {o.column or ''} | {o.severity} | {o.observed} | "
        f"{', '.join(map(str, o.sample))} | {o.note} |"
        for o in failed
    ]
    metadata = {
        "suite": outcome.suite.path.name,
        "table": outcome.suite.qualified_table,
        "expectations_evaluated": len(outcome.outcomes),
        "expectations_failed_error": len(outcome.failed_errors),
        "expectations_failed_warn": len(outcome.failed_warnings),
        "failed_expectations": dg.MetadataValue.md("\n".join(lines) if failed else "none"),
    }
    if outcome.data_docs_index is not None:
        metadata["data_docs"] = dg.MetadataValue.path(str(outcome.data_docs_index))
    return metadata


GE_CHECKS_OP = "ge_quality_gates"


def _result(outcome: quality.SuiteOutcome) -> dg.AssetCheckResult:
    if outcome.failed_errors:
        severity, passed = dg.AssetCheckSeverity.ERROR, False
    elif outcome.failed_warnings:
        severity, passed = dg.AssetCheckSeverity.WARN, False
    else:
        severity, passed = dg.AssetCheckSeverity.ERROR, True
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey(list(outcome.suite.asset_key)),
        check_name=f"ge_{outcome.suite.name}",
        passed=passed,
        severity=severity,
        metadata=_metadata(outcome),
    )


def build_quality_checks(
    suites: list[quality.SuiteSpec] | None = None,
) -> list[dg.AssetChecksDefinition]:
    """One blocking check per suite, all evaluated by one step: Great Expectations starts
    once and validates the selected suites in one checkpoint (a check selected alone in
    the UI validates only its suite)."""
    suites = quality.load_suites() if suites is None else suites
    by_check = {f"{GE_CHECK_PREFIX}{suite.name}": suite for suite in suites}
    specs = [
        dg.AssetCheckSpec(
            name,
            asset=dg.AssetKey(list(suite.asset_key)),
            blocking=True,
            description=(
                f"Great Expectations suite expectations/{suite.path.name}: {suite.description}"
            ),
        )
        for name, suite in by_check.items()
    ]

    @dg.multi_asset_check(name=GE_CHECKS_OP, specs=specs, can_subset=True, pool=WAREHOUSE_POOL)
    def _checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        selected = [
            by_check[name] for name in sorted(k.name for k in context.selected_asset_check_keys)
        ]
        for outcome in quality.validate_suites(selected, warehouse.engine):
            yield _result(outcome)

    return [_checks]
