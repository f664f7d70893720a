"""Smoke run of the benchmark harness on small data (the real runs live in bench/)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from orchestration.settings import PROJECT_DIR

pytestmark = pytest.mark.slow


def test_ge_validation_benchmark_runs_on_small_data(tmp_path):
    out = tmp_path / "ge.json"
    done = subprocess.run(
        [
            sys.executable,
            str(PROJECT_DIR / "bench" / "ge_validation.py"),
            "--rows",
            "10000",
            "--runs",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["rows"] == 10000
    assert result["expectations_evaluated"] == 10
    assert result["failed_errors"] == []
    assert result["validation_seconds_median"] > 0 and result["ratio_to_baseline"] > 0
