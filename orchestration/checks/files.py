"""Landing files none of whose records reached the warehouse (audit.audit_file_outcomes):
a non-blocking WARN check on that model, run after dbt, naming each file with its reasons.

A file whose every answer is rejected (a whole export with dd/mm/yyyy dates, on a scale
not registered, under a survey id nobody added) loads "successfully": each answer is kept
in the audit tables with its reason and the other files are served. Without this check
the build's only sign would be a line in the rejected-answers counts; with it the summary
and the Dagster UI name the file, how many records it had and why they were rejected."""

from __future__ import annotations

from typing import Any

import dagster as dg

from orchestration.resources import WarehouseResource
from orchestration.settings import WAREHOUSE_POOL
from orchestration.steps import FULLY_REJECTED_CHECK

FILE_OUTCOMES = dg.AssetKey(["audit", "audit_file_outcomes"])

FULLY_REJECTED_QUERY = """
    select load_id, stream, file_path, rows_landed, rows_skipped,
           rows_rejected_at_landing, rows_rejected_in_normalisation
    from audit.audit_file_outcomes
    where is_fully_rejected
    order by stream, file_path
"""
LANDING_REASONS = """
    select error_type, count(*), min(reason)
    from audit.rejected_rows where load_id = ?
    group by error_type order by 2 desc, 1
"""
NORMALISATION_REASONS = """
    select reject_reason, count(*), min(reason_detail)
    from audit.audit_rejected_answers where source_file = ?
    group by reject_reason order by 2 desc, 1
"""


def file_line(file: dict[str, Any], reasons: list[tuple]) -> str:
    """One fully rejected file in words, with its reasons (count and an example each)."""
    n = int(file["rows_landed"]) - int(file["rows_skipped"])
    because = "; ".join(f"{kind} {count:,} (e.g. {example})" for kind, count, example in reasons)
    return f"{file['file_path']} ({file['stream']}): all {n:,} records rejected: {because}"


@dg.asset_check(
    asset=FILE_OUTCOMES,
    name=FULLY_REJECTED_CHECK,
    blocking=False,
    pool=WAREHOUSE_POOL,
    description=(
        "No landing file had records to keep and kept none (audit.audit_file_outcomes): a "
        "file whose every record is rejected (a date format or scale the warehouse does not "
        "read) is named with its reasons. WARN, not blocking: its records are in the audit "
        "tables and the other files are served; fix the source config or the registry."
    ),
)
def fully_rejected_files(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    lines = []
    with warehouse.reading() as db:
        files = db.records(FULLY_REJECTED_QUERY)
        for file in files:
            reasons = db.execute(LANDING_REASONS, [file["load_id"]])
            if file["stream"] == "survey_responses":
                reasons += db.execute(NORMALISATION_REASONS, [file["file_path"]])
            lines.append(file_line(file, reasons))
    return dg.AssetCheckResult(
        passed=not files,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "fully_rejected_files": len(files),
            **({"details": dg.MetadataValue.text("\n".join(lines))} if lines else {}),
        },
    )
