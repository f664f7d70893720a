"""Smoke runs of the benchmark harness on small data (the real runs live in bench/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.settings import PROJECT_DIR

pytestmark = pytest.mark.slow


def run_bench(script: str, out: Path, *args: str) -> dict:
    """Run bench/<script> with one run per measurement; its JSON result."""
    done = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "bench" / script), *args, "--runs=1", f"--out={out}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text())


def test_ge_validation_benchmark_runs_on_small_data(tmp_path):
    result = run_bench("ge_validation.py", tmp_path / "ge.json", "--rows", "10000")
    assert result["rows"] == 10000
    assert result["expectations_evaluated"] == 10
    assert result["failed_errors"] == []
    assert result["validation_seconds_median"] > 0 and result["ratio_to_baseline"] > 0


def test_incremental_benchmark_runs_on_small_data(tmp_path):
    result = run_bench("incremental.py", tmp_path / "incremental.json", "--responses", "3650")
    assert result["responses_new_day"] == 10
    assert result["incremental_equals_full_build"] is True
    # the new day's CES answers were added, none lost
    assert result["ces_facts_after_day"] > result["ces_facts_year"]
    for name in ("fixed_overhead", "full_build", "noop_rebuild", "incremental_day"):
        assert result[name]["seconds_median"] > 0 and result[name]["peak_rss_mib_median"] > 100
        assert "dbt build (models + tests)" in result[name]["runs"][0]["stages"]
