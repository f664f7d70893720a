"""One blocking asset check per suite in expectations/: an ERROR-severity failure stops
the assets downstream of the validated table (the serving copy), a WARN one is reported."""

import dagster as dg

from orchestration import quality
from orchestration.resources import WarehouseResource
from orchestration.settings import WAREHOUSE_POOL


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


def build_suite_check(suite: quality.SuiteSpec) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(list(suite.asset_key)),
        name=f"ge_{suite.name}",
        blocking=True,
        pool=WAREHOUSE_POOL,
        description=f"Great Expectations suite expectations/{suite.path.name}: {suite.description}",
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        outcome = quality.validate_suite(suite, warehouse.warehouse_path)
        if outcome.failed_errors:
            severity, passed = dg.AssetCheckSeverity.ERROR, False
        elif outcome.failed_warnings:
            severity, passed = dg.AssetCheckSeverity.WARN, False
        else:
            severity, passed = dg.AssetCheckSeverity.ERROR, True
        return dg.AssetCheckResult(passed=passed, severity=severity, metadata=_metadata(outcome))

    return _check


def build_quality_checks() -> list[dg.AssetChecksDefinition]:
    return [build_suite_check(suite) for suite in quality.load_suites()]
