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


def test_the_harness_runs_on_small_data(tmp_path):
    """One size, one run: every DuckDB measurement, the incremental check and the targets
    (the Spark builds are tests/test_spark.py's)."""
    result = run_bench(
        "harness.py",
        tmp_path / "harness.json",
        *("--sizes", "3650", "--measurements", "incremental_day,pandas_peer"),
    )
    (size,) = result["results"]
    assert len(result["measurements"]) == 5
    assert size["responses"] == 3650
    assert size["incremental_equals_full_build"] is True
    for name in result["measurements"]:
        assert size[name]["seconds_median"] > 0 and size[name]["peak_rss_mib_median"] > 10
    assert "dbt build (models + tests)" in size["full_build"]["runs"][0]["stages"]
    # the two baselines compute the same monthly table (7 touchpoints x 13 months at most)
    assert 0 < size["baseline_groups"] <= 91
    assert size["limit_baseline"]["runs"][0]["table_rows"] <= size["baseline_groups"]
    assert size["baseline_groups_with_equal_n"] >= size["baseline_groups"] - 13
    stated = [t["target"] for t in result["targets"]["3650"]]
    assert "incremental day ≤ 10 % of variable time" in stated
    assert "full build: ingest ≤ 1.5× limit" in stated
    slowest = size["slowest_dbt_nodes"]["incremental_day"]
    assert len(slowest) == 12 and slowest[0]["seconds"] >= slowest[-1]["seconds"]
