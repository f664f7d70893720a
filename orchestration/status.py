"""The build status file: the last run's outcome, for monitors and humans.

`<warehouse>/ces_build_status.json` is rewritten at the end of every run, by the `ces`
CLI and, for runs launched by the schedule or the sensor, by the run status sensors in
orchestration/sensors.py. A monitor alerts when `status` is not "success" or when
`finished_at` is too old.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

STATUS_FILE = "ces_build_status.json"


def write_build_status(
    warehouse_dir: Path, status: str, run_id: str | None, message: str = ""
) -> Path:
    warehouse_dir.mkdir(parents=True, exist_ok=True)
    path = warehouse_dir / STATUS_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(
        json.dumps(
            {
                "status": status,
                "run_id": run_id,
                "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "message": message,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    os.replace(temporary, path)
    return path
