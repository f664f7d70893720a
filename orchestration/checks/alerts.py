"""The effort alerts of marts.rpt_effort_alerts, raised after every publish: a
non-blocking asset check on the serving asset (WARN when a touchpoint alerts, so the
build still succeeds and BI users get the new marts) that writes the alerts to
warehouse/alerts.json for whatever pages the team (a cron job, a chat hook)."""

import json
import os
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.resources import WarehouseResource
from orchestration.settings import WAREHOUSE_POOL
from orchestration.steps import EFFORT_ALERTS_CHECK

ALERTS_FILE = "alerts.json"

ALERTS_QUERY = """
    select touchpoint_id, touchpoint_name, period_grain, period_start, period_end,
        n_responses, ces_mean_7pt, baseline_start, baseline_end, baseline_n_responses,
        baseline_ces_mean_7pt, ces_mean_7pt_change, welch_p_value, holm_p_value,
        is_significantly_worse, is_below_threshold, threshold_7pt, alert_reason, as_of_date
    from marts.rpt_effort_alerts
    where is_alert
    order by case period_grain when 'day' then 1 else 2 end, ces_mean_7pt_change, touchpoint_id
"""


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def alert_line(alert: dict[str, Any]) -> str:
    """One alert in words, as the build summary and the check's metadata print it."""
    mean = alert["ces_mean_7pt"]
    base = alert["baseline_ces_mean_7pt"]
    period = (
        f"{alert['period_end']}"
        if alert["period_grain"] == "day"
        else f"{alert['period_start']} to {alert['period_end']}"
    )
    against = (
        f" vs {float(base):.2f} in the {alert['baseline_start']} to "
        f"{alert['baseline_end']} baseline"
        if base is not None
        else ""
    )
    return (
        f"{alert['touchpoint_id']} ({alert['period_grain']} {period}): mean ease "
        f"{float(mean):.2f} of 7 (n={alert['n_responses']}){against}: {alert['alert_reason']}"
    )


def write_alerts(path: Path, alerts: list[dict[str, Any]], as_of: Any) -> None:
    """alerts.json, replaced atomically (a reader never sees half a file)."""
    document = {
        "as_of_date": _plain(as_of),
        "n_alerts": len(alerts),
        "source": "marts.rpt_effort_alerts",
        "alerts": [{k: _plain(v) for k, v in alert.items()} for alert in alerts],
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@dg.asset_check(
    asset=dg.AssetKey("ces_marts_serving"),
    name=EFFORT_ALERTS_CHECK,
    blocking=False,
    pool=WAREHOUSE_POOL,
    description=(
        "Touchpoints whose latest day or 7 days are significantly worse than their baseline "
        "or below the alert threshold (marts.rpt_effort_alerts), written to "
        "warehouse/alerts.json. WARN, never blocking: an alert is news about customers, "
        "not a fault of the build."
    ),
)
def effort_alerts(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.serving() as db:
        alerts = db.records(ALERTS_QUERY)
        as_of = db.execute("select as_of_date from marts.rpt_build_info")[0][0]
    path = Path(warehouse.warehouse_dir) / ALERTS_FILE
    write_alerts(path, alerts, as_of)
    lines = [alert_line(a) for a in alerts]
    return dg.AssetCheckResult(
        passed=not alerts,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "alerts": len(alerts),
            "alerts_file": dg.MetadataValue.path(str(path)),
            "details": dg.MetadataValue.md("\n".join(f"- {line}" for line in lines) or "none"),
        },
    )
