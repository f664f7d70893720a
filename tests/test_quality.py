"""Quality gates: each blocking expectation family fails on corrupted data, a failing gate
leaves the serving copy untouched and makes `ces build` exit non-zero, BI readers are
never blocked, and validation runs in SQL (no pandas)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from orchestration import quality
from orchestration.cli import main
from orchestration.engines import DuckDBEngine
from orchestration.sample import generate_sample

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory, dbt_manifest):
    """A warehouse built by `ces build` from a small sample."""
    root = tmp_path_factory.mktemp("quality")
    landing, warehouse_dir = root / "landing", root / "warehouse"
    generate_sample(landing, responses=3000, days=40, seed=9)
    with pytest.MonkeyPatch.context() as patch:
        for name in ("CES_LANDING_DIR", "CES_WAREHOUSE_DIR", "CES_DBT_TARGET"):
            patch.setenv(name, "unset")
            patch.delenv(name)
        assert main(["build", "--landing", str(landing), "--warehouse", str(warehouse_dir)]) == 0
    return landing, warehouse_dir


def suite(name: str) -> quality.SuiteSpec:
    return next(s for s in quality.load_suites() if s.name == name)


def corrupted_copy(built, tmp_path: Path, sql: str) -> Path:
    _, warehouse_dir = built
    target = tmp_path / "warehouse" / "ces.duckdb"
    target.parent.mkdir(parents=True)
    shutil.copy(warehouse_dir / "ces.duckdb", target)
    with duckdb.connect(str(target)) as conn:
        conn.execute(sql)
    return target


def test_every_suite_file_is_complete():
    suites = quality.load_suites()
    assert {s.name for s in suites} == {
        "fct_ces_responses",
        "fct_csat_responses",
        "fct_ces_touchpoint_period",
        "fct_ticket_effort",
        "int_answers_scored",
    }
    for spec in suites:
        assert all(e["meta"]["severity"] in ("error", "warn") for e in spec.expectations)
        # every expectation survives into the GE suite (none merged away)
        assert len(quality.build_expectations(spec)) == len(spec.expectations)


def test_a_clean_warehouse_passes_every_blocking_expectation(built):
    _, warehouse_dir = built
    for spec in quality.load_suites():
        outcome = quality.validate_suite(spec, DuckDBEngine(warehouse_dir / "ces.duckdb"))
        assert outcome.failed_errors == [], spec.name
        assert len(outcome.outcomes) == len(spec.expectations)


CORRUPTIONS = [
    (
        "fct_ces_responses",
        "update marts.fct_ces_responses set ease_7pt = 9 "
        "where response_id = (select min(response_id) from marts.fct_ces_responses)",
        [("expect_column_values_to_be_between", "ease_7pt")],
    ),
    (
        "fct_ces_responses",
        "update marts.fct_ces_responses set ease_0_100 = -5, scale_position = 1.5 "
        "where response_id = (select min(response_id) from marts.fct_ces_responses)",
        [
            ("expect_column_values_to_be_between", "scale_position"),
            ("expect_column_values_to_be_between", "ease_0_100"),
        ],
    ),
    (
        "fct_ces_responses",
        "insert into marts.fct_ces_responses "
        "select * from marts.fct_ces_responses order by response_id limit 1",
        [
            ("expect_column_values_to_be_unique", "response_id"),
            ("unexpected_rows_expectation", None),  # facts = accepted answers
        ],
    ),
    (
        "fct_ces_responses",
        "update marts.fct_ces_responses set response_id = null "
        "where response_id = (select min(response_id) from marts.fct_ces_responses)",
        [("expect_column_values_to_not_be_null", "response_id")],
    ),
    (
        "fct_ces_responses",
        "update marts.fct_ces_responses set touchpoint_id = 'nowhere' "
        "where response_id = (select min(response_id) from marts.fct_ces_responses)",
        [("unexpected_rows_expectation", None)],  # registered touchpoints
    ),
    (
        "fct_ces_responses",
        "update marts.fct_ces_responses set responded_at = "
        "(select clock_at from marts.rpt_build_info) + interval 3 day "
        "where response_id = (select min(response_id) from marts.fct_ces_responses)",
        [("unexpected_rows_expectation", None)],  # not in the future
    ),
    (
        "fct_csat_responses",
        "update marts.fct_csat_responses set csat_5pt = 6 "
        "where response_id = (select min(response_id) from marts.fct_csat_responses)",
        [("expect_column_values_to_be_between", "csat_5pt")],
    ),
    (
        "fct_csat_responses",
        "delete from marts.fct_csat_responses "
        "where response_id = (select min(response_id) from marts.fct_csat_responses)",
        [("unexpected_rows_expectation", None)],  # facts = accepted answers
    ),
    (
        "fct_ces_touchpoint_period",
        "update marts.fct_ces_touchpoint_period set pct_easy = 1.5, net_easy_score = 150 "
        "where period_grain = 'month'",
        [
            ("expect_column_values_to_be_between", "pct_easy"),
            ("expect_column_values_to_be_between", "net_easy_score"),
            ("expect_column_pair_values_a_to_be_greater_than_b", "pct_easy_ci95_high"),
            ("unexpected_rows_expectation", None),  # shares add up to one
        ],
    ),
    (
        "fct_ces_touchpoint_period",
        "update marts.fct_ces_touchpoint_period set ces_ci95_low = ces_mean_7pt + 1 "
        "where n_responses >= 2 and period_grain = 'quarter'",
        [("expect_column_pair_values_a_to_be_greater_than_b", "ces_mean_7pt")],
    ),
    (
        "fct_ces_touchpoint_period",
        "update marts.fct_ces_touchpoint_period set ces_csat_corr = 1.2, n_responses = 0 "
        "where period_grain = 'day'",
        [
            ("expect_column_values_to_be_between", "n_responses"),
            ("expect_column_values_to_be_between", "ces_csat_corr"),
        ],
    ),
    (
        "fct_ces_touchpoint_period",
        "insert into marts.fct_ces_touchpoint_period "
        "select * from marts.fct_ces_touchpoint_period where period_grain = 'quarter' limit 1",
        [("expect_compound_columns_to_be_unique", None)],
    ),
    (
        "fct_ticket_effort",
        "update marts.fct_ticket_effort set hours_to_resolution = -3 "
        "where ticket_id = (select min(ticket_id) from marts.fct_ticket_effort)",
        [("expect_column_values_to_be_between", "hours_to_resolution")],
    ),
]


@pytest.mark.parametrize(("suite_name", "sql", "expected"), CORRUPTIONS)
def test_each_blocking_family_fails_on_corrupted_data(built, tmp_path, suite_name, sql, expected):
    database = corrupted_copy(built, tmp_path, sql)
    outcome = quality.validate_suite(suite(suite_name), DuckDBEngine(database))
    failed = {(o.expectation_type, o.column) for o in outcome.failed_errors}
    assert set(expected) <= failed, failed
    for o in outcome.failed_errors:
        assert o.severity == "error"
        assert "could not be evaluated" not in o.observed


def test_observed_values_and_a_sample_of_bad_rows_are_reported(built, tmp_path):
    database = corrupted_copy(
        built,
        tmp_path,
        "update marts.fct_ces_responses set ease_7pt = 9 "
        "where response_id in (select response_id from marts.fct_ces_responses "
        "order by response_id limit 2)",
    )
    outcome = quality.validate_suite(suite("fct_ces_responses"), DuckDBEngine(database))
    (bad,) = [o for o in outcome.failed_errors if o.column == "ease_7pt"]
    assert bad.unexpected_count == 2
    assert bad.sample == [9.0, 9.0]
    assert bad.observed.startswith("2 unexpected of ")


def test_a_resolution_before_creation_is_a_warning_not_a_block(built, tmp_path):
    database = corrupted_copy(
        built,
        tmp_path,
        "update marts.fct_ticket_effort set is_resolved_before_created = true "
        "where ticket_id = (select min(ticket_id) from marts.fct_ticket_effort)",
    )
    outcome = quality.validate_suite(suite("fct_ticket_effort"), DuckDBEngine(database))
    assert outcome.failed_errors == []
    assert [(o.expectation_type, o.column) for o in outcome.failed_warnings] == [
        ("expect_column_values_to_be_in_set", "is_resolved_before_created")
    ]


def test_validation_runs_in_sql_without_pandas(built, monkeypatch):
    import pandas

    def refuse(*args, **kwargs):
        raise AssertionError("validation must not load a table into pandas")

    for name in ("read_sql", "read_sql_query", "read_sql_table"):
        monkeypatch.setattr(pandas, name, refuse)
    _, warehouse_dir = built
    outcome = quality.validate_suite(
        suite("fct_ces_responses"), DuckDBEngine(warehouse_dir / "ces.duckdb")
    )
    assert outcome.failed_errors == []


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_serving_copy_holds_only_the_marts(built):
    _, warehouse_dir = built
    serving = warehouse_dir / "ces_marts.duckdb"
    with duckdb.connect(str(serving), read_only=True) as conn:
        schemas = {
            s
            for (s,) in conn.execute(
                "select distinct schema_name from duckdb_tables() where database_name = 'ces_marts'"
            ).fetchall()
        }
        served = conn.execute("select count(*) from marts.fct_ces_responses").fetchone()[0]
    assert schemas == {"marts"}
    with duckdb.connect(str(warehouse_dir / "ces.duckdb"), read_only=True) as conn:
        assert conn.execute("select count(*) from marts.fct_ces_responses").fetchone()[0] == served
    assert (warehouse_dir / "data_docs" / "index.html").exists()
    report = (warehouse_dir / "data_docs" / "quality.html").read_text()
    for name in ("fct_ces_responses", "fct_ces_touchpoint_period", "int_answers_scored"):
        assert f">{name}</a>" in report
    assert "FAILED" not in report.split("</p>", 1)[1]


def test_a_failing_gate_leaves_the_serving_copy_and_exits_non_zero(
    built, tmp_path, monkeypatch, capsys
):
    landing, warehouse_dir = built
    serving = warehouse_dir / "ces_marts.duckdb"
    before = sha256(serving)
    # A stricter suite the data cannot meet: the gate must hold.
    strict = tmp_path / "expectations"
    shutil.copytree(quality.SUITES_DIR, strict)
    period = json.loads((strict / "fct_ces_touchpoint_period.json").read_text())
    period["expectations"].append(
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "ces_mean_7pt", "min_value": 1, "max_value": 2},
            "meta": {"severity": "error", "notes": "deliberately too strict"},
        }
    )
    (strict / "fct_ces_touchpoint_period.json").write_text(json.dumps(period))
    monkeypatch.setattr(quality, "SUITES_DIR", strict)

    code = main(["build", "--landing", str(landing), "--warehouse", str(warehouse_dir)])
    printed = capsys.readouterr().out

    assert code == 1
    assert "FAILED check marts/fct_ces_touchpoint_period: ge_fct_ces_touchpoint_period" in printed
    assert "| expect_column_values_to_be_between | ces_mean_7pt | error |" in printed
    assert "serving copy NOT published" in printed
    assert sha256(serving) == before
    status = json.loads((warehouse_dir / "ces_build_status.json").read_text())
    assert status["status"] == "failure"
    assert "ge_fct_ces_touchpoint_period" in status["message"]


def test_a_bi_reader_never_blocks_a_build_nor_sees_a_partial_copy(built, tmp_path):
    landing, warehouse_dir = built
    serving = warehouse_dir / "ces_marts.duckdb"
    reader = duckdb.connect(str(serving), read_only=True)
    try:
        before = reader.execute("select count(*) from marts.fct_ces_responses").fetchone()[0]
        extra = landing / "survey_responses" / "late_answers.csv"
        extra.write_text(
            "response_id,survey_id,customer_id,touchpoint,responded_at,answer\n"
            "LATE-1,ces2_agree_7,C1,checkout,2026-10-30T10:00:00Z,6\n"
            "LATE-2,ces2_agree_7,C2,delivery,2026-10-30T11:00:00Z,2\n"
        )
        assert main(["build", "--landing", str(landing), "--warehouse", str(warehouse_dir)]) == 0
        # the open reader still sees the complete previous copy
        assert (
            reader.execute("select count(*) from marts.fct_ces_responses").fetchone()[0] == before
        )
    finally:
        reader.close()
    with duckdb.connect(str(serving), read_only=True) as fresh:
        assert (
            fresh.execute("select count(*) from marts.fct_ces_responses").fetchone()[0]
            == before + 2
        )
    assert not list(warehouse_dir.glob(".ces_marts.duckdb.*.tmp"))


def test_an_expectation_that_errors_per_metric_reports_the_error():
    """GE files a failed metric computation under the metric's id, not at the top level:
    the outcome must still say that the expectation could not be evaluated, and why."""
    assert quality._exception_message({"exception_message": "direct"}) == "direct"
    nested = {
        "MetricConfigurationID(metric_name='unexpected_rows_query.table')": {
            "exception_traceback": "...",
            "exception_message": "subquery in FROM must have an alias",
        }
    }
    assert quality._exception_message(nested) == "subquery in FROM must have an alias"
    assert quality._exception_message({}) is None
