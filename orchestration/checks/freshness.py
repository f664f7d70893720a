"""Freshness, visible in the Dagster UI.

- dbt source freshness on raw: one asset check per landing source, `dbt_source_freshness`,
  evaluated against the thresholds declared in models/staging/landing/_landing__sources.yml
  (`loaded_at_field`, `warn_after`, `error_after`), the same ones `dbt source freshness`
  reads. It is not blocking: stale sources still build, and the check says how stale.
- A freshness policy on the marts and the serving copy: the UI flags them when their last
  materialization is older than the window (default 36 h, CES_FRESHNESS_HOURS).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from orchestration.dbt_project import DBT_PROJECT, read_manifest
from orchestration.resources import WarehouseResource
from orchestration.settings import WAREHOUSE_POOL
from orchestration.steps import SOURCE_FRESHNESS_CHECK

_PERIOD_HOURS = {"minute": 1 / 60, "hour": 1.0, "day": 24.0}


@dataclass(frozen=True)
class SourceFreshness:
    """A dbt source's freshness contract, read from the dbt manifest."""

    asset_key: tuple[str, ...]
    table: str  # schema.table
    loaded_at_field: str
    warn_after_hours: float | None
    error_after_hours: float | None

    def status(self, age_hours: float | None) -> str:
        """dbt's vocabulary: pass, warn or error (error also when nothing was ever loaded)."""
        if age_hours is None:
            return "error"
        if self.error_after_hours is not None and age_hours >= self.error_after_hours:
            return "error"
        if self.warn_after_hours is not None and age_hours >= self.warn_after_hours:
            return "warn"
        return "pass"


def _hours(threshold: dict | None) -> float | None:
    if not threshold or threshold.get("count") is None:
        return None
    return threshold["count"] * _PERIOD_HOURS[threshold["period"]]


def load_source_freshness(manifest_path: Path = DBT_PROJECT.manifest_path) -> list[SourceFreshness]:
    manifest = read_manifest(manifest_path)
    contracts = []
    for source in manifest["sources"].values():
        asset_key = source.get("meta", {}).get("dagster", {}).get("asset_key")
        freshness = source.get("freshness") or {}
        if not asset_key or not source.get("loaded_at_field"):
            continue
        contracts.append(
            SourceFreshness(
                asset_key=tuple(asset_key),
                table=f"{source['schema']}.{source['identifier']}",
                loaded_at_field=source["loaded_at_field"],
                warn_after_hours=_hours(freshness.get("warn_after")),
                error_after_hours=_hours(freshness.get("error_after")),
            )
        )
    return contracts


def evaluate(contract: SourceFreshness, max_loaded_at: datetime | None, now: datetime):
    """The check result for a source whose newest row was loaded at max_loaded_at (UTC)."""
    age = None if max_loaded_at is None else (now - max_loaded_at).total_seconds() / 3600
    status = contract.status(age)
    metadata = {
        "status": status,
        "max_loaded_at": "never"
        if max_loaded_at is None
        else f"{max_loaded_at:%Y-%m-%d %H:%M:%S} UTC",
        "age_hours": None if age is None else round(age, 2),
        "warn_after_hours": contract.warn_after_hours,
        "error_after_hours": contract.error_after_hours,
        "loaded_at_field": contract.loaded_at_field,
    }
    return dg.AssetCheckResult(
        passed=status == "pass",
        severity=dg.AssetCheckSeverity.ERROR if status == "error" else dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=(
            f"{contract.table}: newest row loaded {metadata['max_loaded_at']}"
            + ("" if age is None else f", {age:.1f} h ago")
            + f" ({status})"
        ),
    )


def build_source_freshness_check(contract: SourceFreshness) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(list(contract.asset_key)),
        name=SOURCE_FRESHNESS_CHECK,
        pool=WAREHOUSE_POOL,
        description=(
            f"dbt source freshness of {contract.table}: warn after {contract.warn_after_hours} h, "
            f"error after {contract.error_after_hours} h without a new load "
            f"({contract.loaded_at_field})."
        ),
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.reading() as db:
            newest = db.execute(f"select max({contract.loaded_at_field}) from {contract.table}")[0][
                0
            ]
        now = datetime.now(UTC).replace(tzinfo=None)
        return evaluate(contract, newest, now)

    return _check


def build_source_freshness_checks() -> list[dg.AssetChecksDefinition]:
    return [build_source_freshness_check(c) for c in load_source_freshness()]


def marts_freshness_policy(hours: float) -> dg.FreshnessPolicy:
    """Fail when not materialized within `hours`; warn at two thirds of it."""
    return dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=hours), warn_window=timedelta(hours=hours * 2 / 3)
    )
