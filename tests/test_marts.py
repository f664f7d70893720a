"""The marts on data small enough to work out on paper, built by the real pipeline."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from orchestration.cli import main
from orchestration.dbt_project import DBT_EXECUTABLE
from tests.test_build import serving_tables

pytestmark = pytest.mark.slow

HEADER = (
    "response_id,survey_id,customer_id,touchpoint,channel,interaction_id,"
    "responded_at,answer,comment,language\n"
)
# A dozen answers about checkout in March 2026, worked out in the test below.
ANSWERS = [
    # id, survey, interaction, responded_at, answer         ease_7pt  band
    ("C01", "ces2_agree_7", "I1", "2026-03-02T10:00:00Z", "7"),  # 7.0 easy
    ("C02", "ces2_agree_7", "I2", "2026-03-03T10:00:00Z", "4"),  # 4.0 neutral
    ("C03", "ces1_effort_5", "I3", "2026-03-04T10:00:00Z", "5"),  # 1.0 difficult
    ("C04", "ces1_effort_5", "I4", "2026-03-05 10:00:00", "2"),  # 5.5 easy
    ("C05", "ces_ease_label_5", "I5", "2026-03-06T10:00:00+01:00", "Very easy"),  # 7.0 easy
    ("C06", "ces_ease_label_5", "I6", "2026-03-07T10:00:00Z", "  difficult"),  # 2.5 difficult
    ("C07", "ces_nl_moeite_7", "I7", "2026-03-08T10:00:00Z", "ZEER weinig moeite"),  # 7.0 easy
    ("C08", "ces_nl_moeite_7", "I8", "2026-03-09T10:00:00Z", "Veel moeite"),  # 2.0 difficult
    ("C09", "ces2_agree_7", "I9", "2026-03-31T23:30:00-02:00", "6.0"),  # April in UTC
    ("C10", "ces2_agree_7", "I10", "2026-03-10T10:00:00Z", "9"),  # rejected: out of range
    ("C11", "ces_legacy_v0", "I11", "2026-03-11T10:00:00Z", "5"),  # rejected: unknown survey
    ("C12", "ces2_agree_7", "I12", "2026-03-12T10:00:00Z", "5"),  # 5.0 easy (sent twice)
    ("S01", "csat_5", "I1", "2026-03-02T10:05:00Z", "5"),  # csat 5, satisfied
    ("S03", "csat_5", "I3", "2026-03-04T10:05:00Z", "2"),  # csat 2
    ("S05", "csat_good_bad", "I5", "2026-03-06T09:05:00Z", "good"),  # csat 5, satisfied
    ("S08", "csat_5", "I8", "2026-03-09T10:05:00Z", "1"),  # csat 1
]
TICKETS = (
    "ticket_id,customer_id,touchpoint,channel,created_at,solved_at,status,priority,"
    "reply_count,reopen_count,transfer_count\n"
    "I3,K3,checkout,email,2026-03-04T08:00:00Z,2026-03-04T18:00:00Z,solved,high,4,2,1\n"
    "I8,K8,checkout,chat,2026-03-09T08:00:00Z,2026-03-09T12:00:00Z,closed,normal,2,0,3\n"
)


def write_landing(landing: Path) -> None:
    rows = [
        f"{rid},{survey},CUST-{rid},checkout,web,{interaction},{ts},{answer},,en\n"
        for rid, survey, interaction, ts, answer in ANSWERS
    ]
    (landing / "survey_responses" / "march.csv").write_text(HEADER + "".join(rows))
    resend = next(r for r in rows if r.startswith("C12,"))
    (landing / "survey_responses" / "resend.csv").write_text(HEADER + resend)
    (landing / "tickets" / "march.csv").write_text(TICKETS)


@pytest.fixture(scope="module")
def built(tmp_path_factory, dbt_manifest):
    root = tmp_path_factory.mktemp("marts")
    landing, warehouse_dir = root / "landing", root / "warehouse"
    (landing / "survey_responses").mkdir(parents=True)
    (landing / "tickets").mkdir(parents=True)
    write_landing(landing)
    with pytest.MonkeyPatch.context() as patch:
        for name in ("CES_LANDING_DIR", "CES_WAREHOUSE_DIR", "CES_DBT_TARGET"):
            patch.setenv(name, "unset")
            patch.delenv(name)
        build = ["build", "--landing", str(landing), "--warehouse", str(warehouse_dir)]
        assert main([*build, "--unit-tests"]) == 0
    conn = duckdb.connect(str(warehouse_dir / "ces.duckdb"), read_only=True)
    yield conn
    conn.close()


def test_every_dbt_unit_test_ran_and_passed(built, dbt_manifest):
    """`--unit-tests` (which make test uses here) runs them; production builds skip them."""
    from orchestration.assets.dbt import DbtBuildConfig

    unit_tests = json.loads(dbt_manifest.read_text())["unit_tests"]
    assert len(unit_tests) >= 10
    database = built.execute("select path from duckdb_databases() where not internal").fetchone()
    log = (Path(database[0]).parent / "logs" / "dbt_output.log").read_text()
    passed = set(re.findall(r"\d+ of \d+ PASS (\S+::\S+)", log))
    assert passed == {f"{u['model']}::{u['name']}" for u in unit_tests.values()}
    assert "--exclude-resource-type" not in DbtBuildConfig(unit_tests=True).dbt_args()
    assert DbtBuildConfig().dbt_args() == [
        "build",
        "--exclude-resource-type",
        "unit_test",
        "--vars",
        '{"ces_check_scope": "changed"}',
    ]
    assert DbtBuildConfig(full_checks=True).dbt_args()[-1] == '{"ces_check_scope": "all"}'


def one(conn, sql: str, params=()):
    return conn.execute(sql, list(params)).fetchone()


def test_checkout_march_matches_the_hand_worked_example(built):
    ease = [7.0, 4.0, 1.0, 5.5, 7.0, 2.5, 7.0, 2.0, 5.0]  # C01-C08, C12
    n, mean = len(ease), sum(ease) / len(ease)
    sd = math.sqrt(sum((e - mean) ** 2 for e in ease) / (n - 1))
    pairs_ease, pairs_csat = [7.0, 1.0, 7.0, 2.0], [5.0, 2.0, 5.0, 1.0]
    mx, my = sum(pairs_ease) / 4, sum(pairs_csat) / 4
    corr = sum((x - mx) * (y - my) for x, y in zip(pairs_ease, pairs_csat, strict=True)) / (
        math.sqrt(sum((x - mx) ** 2 for x in pairs_ease))
        * math.sqrt(sum((y - my) ** 2 for y in pairs_csat))
    )
    z, p_easy = 1.96, 5 / 9
    centre = (p_easy + z * z / (2 * n)) / (1 + z * z / n)
    margin = z * math.sqrt(p_easy * (1 - p_easy) / n + z * z / (4 * n * n)) / (1 + z * z / n)

    row = built.execute(
        """
        select n_responses, ces_mean_7pt, ces_index, pct_easy, pct_neutral, pct_difficult,
               net_easy_score, ces_ci95_low, ces_ci95_high, pct_easy_ci95_low,
               pct_easy_ci95_high, is_low_sample, n_csat_responses, csat_mean_5pt,
               csat_pct_satisfied, n_linked_pairs, ces_csat_corr, n_tickets,
               avg_reopen_count, avg_transfer_count, median_hours_to_resolution
        from marts.fct_ces_touchpoint_period
        where touchpoint_id = 'checkout' and period_grain = 'month'
          and period_start = date '2026-03-01'
        """
    ).fetchone()
    expected = (
        9,  # C09 is April in UTC; C10, C11 rejected; C12 re-sent but counted once
        41 / 9,
        100 * (41 / 9 - 1) / 6,
        5 / 9,
        1 / 9,
        3 / 9,
        100 * (5 - 3) / 9,
        mean - 1.96 * sd / 3,
        mean + 1.96 * sd / 3,
        centre - margin,
        centre + margin,
        True,
        4,
        (5 + 2 + 5 + 1) / 4,
        50.0,
        4,
        corr,
        2,
        1.0,
        2.0,
        7.0,  # median of 10 h and 4 h
    )
    assert row == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_rejects_are_listed_with_reasons_and_kept_out_of_the_facts(built):
    assert built.execute(
        "select response_id, reject_reason, reason_detail, source_file, source_line "
        "from audit.audit_rejected_answers order by response_id"
    ).fetchall() == [
        (
            "C10",
            "out_of_range_answer",
            "answer 9 is outside 1-7 of survey ces2_agree_7",
            "survey_responses/march.csv",
            11,
        ),
        (
            "C11",
            "unknown_survey",
            "survey ces_legacy_v0 is not in seeds/survey_scales.csv",
            "survey_responses/march.csv",
            12,
        ),
    ]
    assert one(built, "select count(*) from marts.fct_ces_responses") == (10,)
    assert one(built, "select count(*) from marts.fct_csat_responses") == (4,)
    assert one(
        built, "select times_received from marts.fct_ces_responses where response_id = 'C12'"
    ) == (2,)


def test_the_utc_month_boundary_and_linked_facts(built):
    assert one(
        built,
        "select responded_at, ease_7pt, effort_bucket from marts.fct_ces_responses "
        "where response_id = 'C09'",
    ) == (
        __import__("datetime").datetime(2026, 4, 1, 1, 30),
        6.0,
        "easy",
    )
    assert one(
        built,
        "select n_responses from marts.fct_ces_touchpoint_period "
        "where touchpoint_id = 'checkout' and period_grain = 'month' "
        "and period_start = date '2026-04-01'",
    ) == (1,)
    assert one(
        built,
        "select csat_5pt, is_satisfied, ticket_id, ticket_reopen_count, ticket_transfer_count, "
        "ticket_hours_to_resolution from marts.fct_ces_responses where response_id = 'C03'",
    ) == (2.0, False, "I3", 2, 1, 10.0)
    assert one(
        built,
        "select n_ces_responses, ces_mean_7pt, csat_5pt from marts.fct_ticket_effort "
        "where ticket_id = 'I8'",
    ) == (1, 2.0, 1.0)


def test_no_personal_data_in_the_marts(built):
    leaks = built.execute(
        """
        select table_name, column_name from information_schema.columns
        where table_schema = 'marts' and column_name in ('customer_id', 'email', 'phone')
        """
    ).fetchall()
    assert leaks == []
    assert one(
        built, "select count(*) from marts.fct_ces_responses where customer_key like 'CUST-%'"
    ) == (0,)


# --- registry fixes and incremental runs, on a copy of the dbt project -------------------


def dbt(project: Path, warehouse_dir: Path, *args: str) -> None:
    env = {**__import__("os").environ, "CES_WAREHOUSE_DIR": str(warehouse_dir)}
    done = subprocess.run(
        [DBT_EXECUTABLE, *args, "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:]


def fact_rows(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return conn.execute(
            "select * exclude (source_loaded_at, refreshed_at) from marts.fct_ces_responses "
            "order by response_id"
        ).fetchall()


def dbt_failures(project: Path, warehouse_dir: Path, scope: str) -> set[str]:
    """The data tests that fail in a `dbt test` of the given check scope."""
    env = {**__import__("os").environ, "CES_WAREHOUSE_DIR": str(warehouse_dir)}
    done = subprocess.run(
        [
            *(DBT_EXECUTABLE, "test", "--project-dir", str(project)),
            *("--profiles-dir", str(project), "--vars", json.dumps({"ces_check_scope": scope})),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    failed = set(re.findall(r"FAIL \d+ (\w+?)(?:_[0-9a-f]{10})? \.", done.stdout))
    assert done.returncode == (1 if failed else 0), done.stdout[-4000:]
    return failed


def watermarks(warehouse_dir: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse_dir / "ces.duckdb"), read_only=True) as conn:
        return conn.execute(
            "select check_scope from audit.check_watermark order by run_started_at"
        ).fetchall()


def test_daily_checks_read_what_builds_wrote_and_full_checks_read_everything(
    tmp_path, built, dbt_project_copy
):
    """Issue 21: in the `changed` scope the data tests of incremental models read the rows
    written since the last build whose tests passed (macros/check_scope.sql); a failing run
    moves nothing, so its rows are checked again; `all` reads whole tables."""
    warehouse_dir = tmp_path / "warehouse"
    warehouse_dir.mkdir()
    database = built.execute("select path from duckdb_databases() where not internal").fetchone()
    shutil.copy(database[0], warehouse_dir / "ces.duckdb")
    assert watermarks(warehouse_dir) == [("changed",)]  # the fixture's `ces build`
    # A passing `dbt test` run records a watermark too.
    assert dbt_failures(dbt_project_copy, warehouse_dir, "changed") == set()

    def corrupt(sql: str) -> None:
        with duckdb.connect(str(warehouse_dir / "ces.duckdb")) as conn:
            conn.execute(sql)

    # A row changed by hand without being rewritten (refreshed_at kept): only a full
    # check sees it.
    corrupt("update marts.fct_ces_responses set ease_7pt = 9 where response_id = 'C03'")
    assert dbt_failures(dbt_project_copy, warehouse_dir, "changed") == set()
    assert dbt_failures(dbt_project_copy, warehouse_dir, "all") == {
        "value_in_range_fct_ces_responses_ease_7pt__7__1"
    }
    assert watermarks(warehouse_dir) == [("changed",)] * 3  # `all` failed: not recorded
    corrupt("update marts.fct_ces_responses set ease_7pt = 1 where response_id = 'C03'")

    # The same corruption in rows a build wrote, and a second row for an old answer's
    # key: both scopes catch both (the duplicate through the key, not the row).
    corrupt(
        "insert into marts.fct_ces_responses select * replace (now()::timestamp as "
        "refreshed_at) from marts.fct_ces_responses where response_id = 'C05'; "
        "update marts.fct_csat_responses set csat_5pt = 0, refreshed_at = now()::timestamp "
        "where response_id = 'S03'"
    )
    expected = {
        "unique_fct_ces_responses_response_id",
        "value_in_range_fct_csat_responses_csat_5pt__5__1",
    }
    assert dbt_failures(dbt_project_copy, warehouse_dir, "changed") == expected
    assert watermarks(warehouse_dir) == [("changed",)] * 3  # nothing recorded: checked again


def test_a_registry_fix_brings_answers_back_and_incremental_equals_full_refresh(
    tmp_path, built, dbt_project_copy
):
    project = dbt_project_copy
    warehouse_dir = tmp_path / "warehouse"
    warehouse_dir.mkdir()
    database = built.execute("select path from duckdb_databases() where not internal").fetchone()
    shutil.copy(database[0], warehouse_dir / "ces.duckdb")

    before = fact_rows(warehouse_dir / "ces.duckdb")
    assert "C11" not in {r[0] for r in before}

    # Register the legacy survey (1-5, higher = easier) and fix a polarity: CES 1.0 is
    # re-registered as higher = easier, which must recompute its answers.
    scales = project / "seeds" / "survey_scales.csv"
    text = scales.read_text().replace("ces1_effort_5,ces,1,5,false,", "ces1_effort_5,ces,1,5,true,")
    scales.write_text(text + "ces_legacy_v0,ces,1,5,true,,Legacy ease question,en\n")
    dbt(project, warehouse_dir, "build")
    incremental = fact_rows(warehouse_dir / "ces.duckdb")

    by_id = {r[0]: r for r in incremental}
    assert "C11" in by_id and len(incremental) == len(before) + 1
    columns = [
        c[0]
        for c in duckdb.connect(str(warehouse_dir / "ces.duckdb"), read_only=True)
        .execute("describe marts.fct_ces_responses")
        .fetchall()
    ]
    position = columns.index("scale_position")
    assert by_id["C03"][position] == 1.0  # "5" on the re-registered scale: now easiest
    assert by_id["C11"][position] == 1.0
    with duckdb.connect(str(warehouse_dir / "ces.duckdb"), read_only=True) as conn:
        assert conn.execute(
            "select response_id from audit.audit_rejected_answers order by 1"
        ).fetchall() == [("C10",)]

    dbt(project, warehouse_dir, "build", "--full-refresh")
    assert fact_rows(warehouse_dir / "ces.duckdb") == incremental


def period_rows(warehouse: Path) -> dict[tuple, dict]:
    """Period rows (column -> value) by (touchpoint, grain, period start)."""
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        cursor = conn.execute("select * from marts.fct_ces_touchpoint_period")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return {(r["touchpoint_id"], r["period_grain"], r["period_start"].isoformat()): r for r in rows}


def refreshed_since(before: dict, after: dict) -> set[tuple]:
    return {
        key
        for key, row in after.items()
        if key not in before or row["refreshed_at"] != before[key]["refreshed_at"]
    }


def assert_same_values(left: dict, right: dict) -> None:
    assert left.keys() == right.keys()
    for key, row in left.items():
        for column, a in row.items():
            b = right[key][column]
            if column == "refreshed_at":
                continue
            if isinstance(a, float) and b is not None:
                assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12), (key, column)
            else:
                assert a == b, (key, column)


INTERMEDIATE_KEYS = {"int_answers_scored": "answer_key", "int_tickets_enriched": "ticket_id"}


def refreshed_last(warehouse_dir: Path, model: str) -> set[str]:
    """The keys of an incremental intermediate model that the last run computed. The
    future answer F01 is recomputed by every run, so its refreshed_at is the last run's."""
    with duckdb.connect(str(warehouse_dir / "ces.duckdb"), read_only=True) as conn:
        return {
            key
            for (key,) in conn.execute(
                f"select {INTERMEDIATE_KEYS[model]} from intermediate.{model} "
                "where refreshed_at = (select refreshed_at from intermediate.int_answers_scored "
                "where answer_key = 'F01')"
            ).fetchall()
        }


def tickets_refreshed_last(warehouse_dir: Path) -> dict[str, tuple]:
    """The tickets of fct_ticket_effort that the last run wrote, with their linked answers:
    (n_ces_responses, ces_mean_7pt, csat_5pt, is_satisfied)."""
    with duckdb.connect(str(warehouse_dir / "ces.duckdb"), read_only=True) as conn:
        return {
            ticket: tuple(linked)
            for ticket, *linked in conn.execute(
                "select ticket_id, n_ces_responses, ces_mean_7pt, csat_5pt, is_satisfied "
                "from marts.fct_ticket_effort where refreshed_at = (select refreshed_at "
                "from intermediate.int_answers_scored where answer_key = 'F01')"
            ).fetchall()
        }


def intermediate_rows(warehouse_dir: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(warehouse_dir / "ces.duckdb"), read_only=True) as conn:
        return {
            model: conn.execute(
                f"select * exclude (refreshed_at) from intermediate.{model} order by all"
            ).fetchall()
            for model in (*INTERMEDIATE_KEYS, "int_ticket_contacts")
        }


def mart_rows(warehouse_dir: Path) -> dict[str, list[tuple]]:
    """The fact tables, without the columns that record when a row was written."""
    with duckdb.connect(str(warehouse_dir / "ces.duckdb"), read_only=True) as conn:
        return {
            table: conn.execute(f"select {columns} from marts.{table} order by all").fetchall()
            for table, columns in (
                ("fct_ces_responses", "* exclude (source_loaded_at, refreshed_at)"),
                ("fct_csat_responses", "* exclude (refreshed_at)"),
                ("fct_ticket_effort", "* exclude (refreshed_at)"),
                ("fct_comment_themes", "* exclude (refreshed_at)"),
            )
        }


def test_incremental_runs_recompute_only_the_affected_periods(tmp_path, built):
    """New files with a late answer, a re-sent answer that moved to another week and a
    changed ticket: exactly the periods they touch (and the period after each) are
    recomputed, the emptied day disappears, and the result equals a full rebuild."""
    database = Path(
        built.execute("select path from duckdb_databases() where not internal").fetchone()[0]
    )
    landing, warehouse_dir = tmp_path / "landing", tmp_path / "warehouse"
    shutil.copytree(database.parent.parent / "landing", landing)
    warehouse_dir.mkdir()
    shutil.copy(database, warehouse_dir / "ces.duckdb")
    before = period_rows(warehouse_dir / "ces.duckdb")

    (landing / "survey_responses" / "late.csv").write_text(
        HEADER
        # responded three weeks before it landed: lands in its own day, week, month
        + "L01,ces2_agree_7,CUST-L01,checkout,web,I20,2026-03-10T12:00:00Z,2,,en\n"
        # C02 (3 March) re-sent with a new time: moves to 20 March, a later ISO week
        + "C02,ces2_agree_7,CUST-C02,checkout,web,I2,2026-03-20T10:00:00Z,4,,en\n"
        # rejected as future_timestamp: re-checked by every run, since time passes
        + "F01,ces2_agree_7,CUST-F01,checkout,web,I21,2099-01-01T00:00:00Z,5,,en\n"
    )
    (landing / "tickets" / "update.csv").write_text(
        TICKETS.splitlines()[0]
        + "\nI3,K3,checkout,email,2026-03-04T08:00:00Z,2026-03-04T18:00:00Z,solved,high,4,5,1\n"
    )
    build = ["build", "--landing", str(landing), "--warehouse", str(warehouse_dir), "--quiet"]
    assert main(build) == 0
    after = period_rows(warehouse_dir / "ces.duckdb")

    def keys(grain: str, *starts: str) -> set[tuple]:
        return {("checkout", grain, start) for start in starts}

    assert refreshed_since(before, after) == (
        # changed days 4 (ticket), 10 (late), 20 (moved to); day 5 follows day 4
        keys("day", "2026-03-04", "2026-03-05", "2026-03-10", "2026-03-20")
        | keys("week", "2026-03-02", "2026-03-09", "2026-03-16")
        | keys("month", "2026-03-01", "2026-04-01")  # April: its change refers to March
        | keys("quarter", "2026-01-01", "2026-04-01")
    )
    assert ("checkout", "day", "2026-03-03") in before
    assert ("checkout", "day", "2026-03-03") not in after  # C02 moved away
    assert after[("checkout", "day", "2026-03-10")]["n_responses"] == 1
    assert after[("checkout", "day", "2026-03-04")]["avg_reopen_count"] == 5
    assert (
        after[("checkout", "day", "2026-03-04")]["source_checksum"]
        != (before[("checkout", "day", "2026-03-04")]["source_checksum"])
    )
    march = ("checkout", "month", "2026-03-01")
    assert after[march]["n_responses"] == before[march]["n_responses"] + 1
    with duckdb.connect(str(warehouse_dir / "ces.duckdb"), read_only=True) as conn:
        rewritten = conn.execute(
            "select response_id from marts.fct_ces_responses "
            "where refreshed_at = (select max(refreshed_at) from marts.fct_ces_responses) "
            "order by 1"
        ).fetchall()
    assert rewritten == [("C02",), ("C03",), ("L01",)]  # C03: its ticket changed
    # The scored answers: only those with a new raw version, and the future one.
    assert refreshed_last(warehouse_dir, "int_answers_scored") == {"C02", "F01", "L01"}
    assert refreshed_last(warehouse_dir, "int_tickets_enriched") == {"I3"}
    assert tickets_refreshed_last(warehouse_dir) == {"I3": (1, 1.0, 2.0, False)}

    # A backfill of one day recomputes its answers and every period overlapping it.
    assert main([*build, "--from", "2026-03-12", "--to", "2026-03-12"]) == 0
    backfilled = period_rows(warehouse_dir / "ces.duckdb")
    assert refreshed_since(after, backfilled) == (
        keys("day", "2026-03-12")
        | keys("week", "2026-03-09", "2026-03-16")
        | keys("month", "2026-03-01", "2026-04-01")
        | keys("quarter", "2026-01-01", "2026-04-01")
    )
    assert_same_values(after, backfilled)
    with duckdb.connect(str(warehouse_dir / "ces.duckdb"), read_only=True) as conn:
        answers_of_the_day, tickets_of_the_day = (
            {key for (key,) in conn.execute(sql).fetchall()}
            for sql in (
                "select answer_key from intermediate.int_answers_scored "
                "where cast(responded_at as date) = date '2026-03-12'",
                "select ticket_id from intermediate.int_tickets_enriched "
                "where cast(created_at as date) = date '2026-03-12'",
            )
        )
    assert answers_of_the_day and not tickets_of_the_day  # no ticket created that day
    assert refreshed_last(warehouse_dir, "int_answers_scored") == answers_of_the_day | {"F01"}
    assert refreshed_last(warehouse_dir, "int_tickets_enriched") == tickets_of_the_day
    assert tickets_refreshed_last(warehouse_dir) == {}

    # CSAT answer S05 re-sent about another interaction: C05 loses its linked CSAT, C06
    # gains it. CES answer C08 re-sent about ticket I3 instead of I8: it takes I3's CSAT,
    # ticket I8 loses its CES answer and I3 gains one. Those facts and tickets are
    # rewritten, and nothing else.
    (landing / "survey_responses" / "moved.csv").write_text(
        HEADER
        + "S05,csat_good_bad,CUST-S05,checkout,web,I6,2026-03-06T09:05:00Z,good,,en\n"
        + "C08,ces_nl_moeite_7,CUST-C08,checkout,web,I3,2026-03-09T10:00:00Z,Veel moeite,,en\n"
    )
    assert main(build) == 0
    with duckdb.connect(str(warehouse_dir / "ces.duckdb"), read_only=True) as conn:
        rewritten = {
            table: conn.execute(
                f"select response_id, linked_csat_response_id from marts.{table} "
                "where refreshed_at = (select refreshed_at from intermediate.int_answers_scored "
                "where answer_key = 'F01') order by 1"
                if table == "fct_ces_responses"
                else f"select response_id, interaction_id from marts.{table} "
                "where refreshed_at = (select refreshed_at from intermediate.int_answers_scored "
                "where answer_key = 'F01') order by 1"
            ).fetchall()
            for table in ("fct_ces_responses", "fct_csat_responses")
        }
    assert rewritten == {
        "fct_ces_responses": [("C05", None), ("C06", "S05"), ("C08", "S03")],
        "fct_csat_responses": [("S05", "I6")],
    }
    # I3: C03 (ease 1.0) and C08 (2.0); I8 keeps its CSAT answer S08 (1)
    assert tickets_refreshed_last(warehouse_dir) == {
        "I3": (2, 1.5, 2.0, False),
        "I8": (0, None, 1.0, False),
    }

    # Customer K3 opens another ticket 4 days after I3, by chat: both are now repeat
    # contacts with a channel switch, and I3 is rewritten for that alone.
    (landing / "tickets" / "repeat.csv").write_text(
        TICKETS.splitlines()[0]
        + "\nI30,K3,checkout,chat,2026-03-08T08:00:00Z,2026-03-08T09:00:00Z,solved,normal,1,0,0\n"
    )
    assert main(build) == 0
    assert tickets_refreshed_last(warehouse_dir) == {
        "I3": (2, 1.5, 2.0, False),
        "I30": (0, None, None, None),
    }
    with duckdb.connect(str(warehouse_dir / "ces.duckdb"), read_only=True) as conn:
        assert conn.execute(
            "select ticket_id, repeat_contact_count, window_channel_count, is_channel_switch "
            "from marts.fct_ticket_effort order by 1"
        ).fetchall() == [("I3", 1, 2, True), ("I30", 1, 2, True), ("I8", 0, 1, False)]
    incremental = intermediate_rows(warehouse_dir), mart_rows(warehouse_dir)
    # the serving copy, updated in place from the previous one, equals the marts
    assert serving_tables(warehouse_dir / "ces_marts.duckdb") == serving_tables(
        warehouse_dir / "ces.duckdb"
    )
    moved = period_rows(warehouse_dir / "ces.duckdb")

    assert main([*build, "--full-refresh"]) == 0
    assert_same_values(moved, period_rows(warehouse_dir / "ces.duckdb"))
    assert (intermediate_rows(warehouse_dir), mart_rows(warehouse_dir)) == incremental
