"""For BI users (issue 9): the metric definitions shared through MetricFlow equal the marts,
`make docs` builds the dbt docs site with every model and column described, and the
README's example queries run."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from orchestration.dbt_project import VENV_DBT
from orchestration.settings import PROJECT_DIR

pytestmark = pytest.mark.slow

MF = VENV_DBT.parent / "mf"
# MetricFlow metric -> the column of fct_ces_touchpoint_period it must equal
METRIC_COLUMNS = {
    "ces_index": "ces_index",
    "ces_mean_7pt": "ces_mean_7pt",
    "pct_easy": "pct_easy",
    "net_easy_score": "net_easy_score",
    "ces_answers": "n_responses",
    "csat_pct_satisfied": "csat_pct_satisfied",
}


def run(command: list[str], warehouse: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CES_WAREHOUSE_DIR": str(warehouse), "CES_DBT_TARGET": "duckdb"}
    done = subprocess.run(
        command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def mf_query(metrics: list[str], group_by: str, warehouse: Path, out: Path) -> list[dict]:
    """`mf query` on the built warehouse: its rows that have CES answers (a month with
    CSAT answers only has no row in the CES marts), each with `month`, its metric_time
    month as a date."""
    run(
        [
            str(MF),
            "query",
            "--metrics",
            ",".join(metrics),
            "--group-by",
            group_by,
            "--csv",
            str(out),
        ],
        warehouse,
    )
    with out.open(newline="") as rows:
        return [
            {**r, "month": datetime.fromisoformat(r["metric_time__month"]).date()}
            for r in csv.DictReader(rows)
            if r["ces_answers"]
        ]


def test_metricflow_validates_the_metrics_and_they_equal_the_period_table(
    built_warehouse, tmp_path
):
    """`mf validate-configs` (the semantic manifest, and every semantic model, dimension,
    entity, measure and metric against the warehouse), then every metric by touchpoint and
    month through MetricFlow equals fct_ces_touchpoint_period (floats within 1e-9)."""
    validated = run([str(MF), "validate-configs"], built_warehouse).stdout
    assert validated.count("(ERRORS: 0, FUTURE_ERRORS: 0, WARNINGS: 0)") == 6, validated
    queried = {
        (r["touchpoint"], r["month"]): r
        for r in mf_query(
            list(METRIC_COLUMNS),
            "metric_time__month,touchpoint",
            built_warehouse,
            tmp_path / "m.csv",
        )
    }
    with duckdb.connect(str(built_warehouse / "ces.duckdb"), read_only=True) as conn:
        columns = ", ".join(METRIC_COLUMNS.values())
        marts = conn.execute(
            f"select touchpoint_id, period_start, {columns} from marts.fct_ces_touchpoint_period "
            "where period_grain = 'month'"
        ).fetchall()
    assert len(marts) >= 14
    assert sorted(queried) == sorted((t, start) for t, start, *_ in marts)
    for touchpoint, start, *values in marts:
        row = queried[(touchpoint, start)]
        for (metric, column), expected in zip(METRIC_COLUMNS.items(), values, strict=True):
            got = None if row[metric] == "" else float(row[metric])
            assert (got is None) == (expected is None), (touchpoint, start, metric)
            if expected is not None:
                assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9), (
                    touchpoint,
                    start,
                    column,
                    got,
                    expected,
                )
    # the segment dimensions: CES by language and month equals fct_ces_segment_period
    languages = {
        (r["ces_response__language"], r["month"]): (
            float(r["ces_index"]),
            int(float(r["ces_answers"])),
        )
        for r in mf_query(
            ["ces_index", "ces_answers"],
            "metric_time__month,ces_response__language",
            built_warehouse,
            tmp_path / "language.csv",
        )
    }
    with duckdb.connect(str(built_warehouse / "ces.duckdb"), read_only=True) as conn:
        segments = conn.execute(
            "select segment_value, period_start, ces_index, n_responses "
            "from marts.fct_ces_segment_period "
            "where segment_type = 'language' and period_grain = 'month'"
        ).fetchall()
    assert sorted(languages) == sorted((value, start) for value, start, *_ in segments)
    assert {value for value, _ in languages} == {"en", "nl"}
    for value, start, index, n in segments:
        got_index, got_n = languages[(value, start)]
        assert got_n == n and math.isclose(got_index, index, rel_tol=1e-9), (value, start)


def test_make_docs_builds_the_site_with_every_model_and_column_described(built_warehouse):
    """`make docs` on a built warehouse: one offline page, and every model, seed and source
    column the warehouse has is described in the YAML (compared with dbt's catalog)."""
    run(["make", "--no-print-directory", "docs", f"WAREHOUSE={built_warehouse}"], built_warehouse)
    site = built_warehouse / "dbt_docs"
    page = (site / "static_index.html").read_text(encoding="utf-8")
    assert "fct_ces_touchpoint_period" in page and "rpt_effort_drivers" in page
    manifest = json.loads((site / "manifest.json").read_text())
    catalog = json.loads((site / "catalog.json").read_text())
    built = {
        unique_id
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "seed")
    }
    assert set(catalog["nodes"]) == built and len(built) >= 19  # every model and seed
    assert len(catalog["sources"]) == 4
    undescribed = []
    for group in ("nodes", "sources"):
        for unique_id, entry in catalog[group].items():
            node = manifest[group][unique_id]
            if not node.get("description", "").strip():
                undescribed.append(unique_id)
            described = {
                name.lower()
                for name, column in node["columns"].items()
                if column.get("description")
            }
            undescribed += [
                f"{unique_id}.{c}" for c in entry["columns"] if c.lower() not in described
            ]
    assert undescribed == []
    # lineage: the docs graph links every mart to its sources
    assert (
        "source.ces_warehouse.landing.survey_responses"
        in manifest["parent_map"]["model.ces_warehouse.stg_landing__survey_responses"]
    )


def readme_section(title: str) -> str:
    text = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    start = text.index(title)
    end = text.find("\n## ", start)
    return text[start:end]


def test_the_readme_questions_run_on_the_serving_copy_and_every_column_is_explained(
    built_warehouse,
):
    """The thirteen example queries of "For BI users" run on the serving copy and answer; the
    column table names every column of fct_ces_touchpoint_period's contract."""
    import re

    import yaml

    section = readme_section("## For BI users")
    queries = re.findall(r"```sql\n(.*?)```", section, flags=re.S)
    assert len(queries) == 13
    with duckdb.connect(str(built_warehouse / "ces_marts.duckdb"), read_only=True) as conn:
        for query in queries:
            assert conn.execute(query).fetchall(), query
    contract = yaml.safe_load(
        (PROJECT_DIR / "models" / "marts" / "fct_ces_touchpoint_period.yml").read_text()
    )["models"][0]["columns"]
    table = section[section.index("column by column") :]
    explained = set(re.findall(r"`(\w+)`", table))
    assert {c["name"] for c in contract} - explained == set()
