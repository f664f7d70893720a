"""End to end: `ces sample` then `ces build` on small data in a temp folder, and the Dagster
definitions the code location exposes."""

from __future__ import annotations

import duckdb
import pytest

from orchestration.cli import main
from orchestration.sample import generate_sample

pytestmark = pytest.mark.slow


def test_definitions_load_with_every_asset_and_the_job(dbt_manifest, settings):
    import dagster as dg

    from orchestration.definitions import build_definitions

    defs = build_definitions(settings)
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {
        "raw_survey_responses",
        "raw_tickets",
        "registry/survey_scales",
        "registry/scale_labels",
        "registry/touchpoints",
        "staging/stg_landing__survey_responses",
        "staging/stg_landing__tickets",
    } <= keys
    # staging depends on the ingest assets through the dbt sources
    parents = graph.get(dg.AssetKey(["staging", "stg_landing__survey_responses"])).parent_keys
    assert dg.AssetKey("raw_survey_responses") in parents
    assert len(list(graph.asset_check_keys)) >= 10
    assert defs.resolve_job_def("ces_daily_build") is not None
    # the serving copy waits for every mart, and every suite is a blocking check
    marts = {key for key in graph.get_all_asset_keys() if key.path[0] == "marts"}
    assert len(marts) == 19
    assert graph.get(dg.AssetKey("ces_marts_serving")).parent_keys == marts
    assert graph.get(dg.AssetKey("ces_report")).parent_keys == {dg.AssetKey("ces_marts_serving")}
    ge_checks = {
        (check.asset_key.to_user_string(), check.name)
        for check in graph.asset_check_keys
        if check.name.startswith("ge_")
    }
    assert ge_checks == {
        ("marts/fct_ces_responses", "ge_fct_ces_responses"),
        ("marts/fct_csat_responses", "ge_fct_csat_responses"),
        ("marts/fct_ces_touchpoint_period", "ge_fct_ces_touchpoint_period"),
        ("marts/fct_ticket_effort", "ge_fct_ticket_effort"),
        ("intermediate/int_answers_scored", "ge_int_answers_scored"),
    }


SECRET_KEY = "pseudonym-key-4c1d7e9b-never-in-an-artefact"


def test_ces_build_end_to_end_on_sample_data(dbt_manifest, settings, capsys, monkeypatch):
    monkeypatch.setenv("CES_PSEUDONYM_SALT", SECRET_KEY)
    sample = generate_sample(settings.landing_dir, responses=3000, days=45, seed=5)
    csv_files = sorted(settings.landing_dir.glob("survey_responses/responses_2*.csv"))
    assert csv_files, "the sample should include CSV files with broken lines"

    exit_code = main(
        [
            "build",
            "--landing",
            str(settings.landing_dir),
            "--warehouse",
            str(settings.warehouse_dir),
        ]
    )
    captured = capsys.readouterr()
    printed, progress = captured.out, captured.err
    assert exit_code == 0, printed
    assert "CES build succeeded" in printed
    # progress while it ran (stderr), in the order of the graph
    order = [
        "started   ingest (raw_survey_responses)",
        "started   dbt build",
        "OK created sql incremental model marts.fct_ces_responses",  # live, from dbt's log
        "wrote   marts/fct_ces_touchpoint_period (",  # with its row count
        "finished  dbt build",
        "check   marts/fct_ces_responses: ge_fct_ces_responses passed",
        "finished  publish",
    ]
    positions = [progress.find(line) for line in order]
    assert -1 not in positions and positions == sorted(positions), progress
    assert "check   raw_survey_responses: dbt_source_freshness passed" in progress
    assert "checks passed" in printed and "failed: 0" in printed
    # the pseudonym key is in no artefact: not in the warehouse files (the models' SQL
    # DuckDB stores, the serving copy, logs, report), not in dbt's target/
    from orchestration.ingest import pseudonym
    from orchestration.settings import PROJECT_DIR

    secret = SECRET_KEY.encode()
    holding = [
        path
        for folder in (settings.warehouse_dir, PROJECT_DIR / "target")
        for path in folder.rglob("*")
        if path.is_file() and secret in path.read_bytes()
    ]
    assert holding == []
    assert "development salt" not in printed
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        pairs = conn.execute(
            "select r.customer_id, s.customer_key from raw.survey_responses as r "
            "inner join staging.stg_landing__survey_responses as s "
            "on s.source_file = r._source_file and s.source_line = r._source_line "
            "order by r._source_file, r._source_line limit 50"
        ).fetchall()
    assert pairs and all(key == pseudonym.pseudonym(customer, secret) for customer, key in pairs)
    assert "effort hotspots" in printed
    stages = next(line for line in printed.splitlines() if line.startswith("elapsed per stage"))
    for stage in ("ingest", "dbt build", "quality checks", "publish serving copy", "CES report"):
        assert stage in stages
    report_page = settings.warehouse_dir / "report" / "index.html"
    assert f"CES report: {report_page} (browser check " in printed
    status = __import__("json").loads(
        (settings.warehouse_dir / "ces_build_status.json").read_text()
    )
    assert (status["status"], status["message"]) == ("success", "")

    def counts() -> dict[str, int]:
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
            return {
                t: conn.execute(f"select count(*) from {t}").fetchone()[0]
                for t in (
                    "raw.survey_responses",
                    "raw.tickets",
                    "audit.load_manifest",
                    "audit.rejected_rows",
                    "staging.stg_landing__survey_responses",
                    "staging.stg_landing__tickets",
                )
            }

    first = counts()
    broken_lines = 2 * len(csv_files)
    assert first == {
        "raw.survey_responses": sample.responses + sample.resent,
        "raw.tickets": sample.tickets,
        "audit.load_manifest": len(sample.files),
        "audit.rejected_rows": broken_lines,
        "staging.stg_landing__survey_responses": sample.responses,
        "staging.stg_landing__tickets": sample.tickets,
    }
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        landed, accepted, rejected = conn.execute(
            "select sum(rows_landed), sum(rows_accepted), sum(rows_rejected) "
            "from audit.load_manifest"
        ).fetchone()
        assert (
            landed
            == accepted + rejected
            == sample.responses + sample.resent + sample.tickets + broken_lines
        )
        assert conn.execute(
            "select distinct error_type from audit.rejected_rows order by 1"
        ).fetchall() == [("malformed_quoting",), ("wrong_column_count",)]
        # every staged answer is a CES fact, a CSAT fact or a listed reject: nothing lost
        facts_and_rejects = conn.execute(
            "select (select count(*) from marts.fct_ces_responses)"
            " + (select count(*) from marts.fct_csat_responses)"
            " + (select count(*) from audit.audit_rejected_answers)"
        ).fetchone()[0]
        assert facts_and_rejects == sample.responses
        ces_facts, days = conn.execute(
            "select count(*), count(distinct response_date) from marts.fct_ces_responses"
        ).fetchone()
    # the first build computed everything, and says so
    assert f"recomputed by this build: {ces_facts:,} CES answers on {days:,} response dates" in (
        printed
    )
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        assert conn.execute("select count(*) from marts.rpt_effort_hotspots").fetchone()[0] >= 6
        # no customer id in clear past raw
        assert conn.execute(
            "select count(*) from staging.stg_landing__survey_responses "
            "where customer_key like 'CUST-%' or comment like '%@example.com%'"
        ).fetchone() == (0,)

    # A second build with nothing new changes nothing.
    assert (
        main(
            [
                "build",
                "--landing",
                str(settings.landing_dir),
                "--warehouse",
                str(settings.warehouse_dir),
            ]
        )
        == 0
    )
    assert counts() == first
    assert "recomputed by this build: 0 CES answers; periods: none" in capsys.readouterr().out


def test_a_failed_dbt_model_stops_only_its_downstream_and_a_rerun_resumes(
    dbt_manifest, settings, dbt_project_copy, monkeypatch
):
    """fct_ticket_effort broken: every other model is built and recorded, the serving copy
    is not published; after the fix one more build completes without duplicates."""

    from dagster_dbt import DbtProject

    from orchestration.build import run_build

    sample = generate_sample(settings.landing_dir, responses=2000, days=20, seed=9)
    broken = dbt_project_copy
    model = broken / "models" / "marts" / "fct_ticket_effort.sql"
    model.write_text(model.read_text().replace("from final", "from no_such_relation"))
    # dagster-dbt runs dbt in the project its assets were defined from; point that one
    # invocation at the broken copy (the assets, from the real manifest, are the same).
    import dagster._record as dagster_record
    import dagster_dbt.core.resource as dbt_resource

    plan = dbt_resource.get_updated_cli_invocation_params_for_context

    def broken_plan(*args, **kwargs):
        params = plan(*args, **kwargs)
        return dagster_record.copy(
            params, dbt_project=DbtProject(project_dir=broken, profiles_dir=broken)
        )

    monkeypatch.setattr(dbt_resource, "get_updated_cli_invocation_params_for_context", broken_plan)

    failed = run_build(settings)
    assert failed.exit_code == 1 and not failed.published
    assert any("fct_ticket_effort" in error for error in failed.errors), failed.errors
    assert not settings.serving_path.exists()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        built = {
            row[0]
            for row in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
        ces_facts = conn.execute("select count(*) from marts.fct_ces_responses").fetchone()[0]
    # everything not downstream of the broken model was built
    assert "fct_ticket_effort" not in built
    assert {"fct_ces_responses", "fct_ces_touchpoint_period", "rpt_effort_hotspots"} <= built

    monkeypatch.setattr(dbt_resource, "get_updated_cli_invocation_params_for_context", plan)
    fixed = run_build(settings)
    assert fixed.exit_code == 0 and fixed.published, fixed.errors + fixed.checks_failed
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        assert conn.execute("select count(*) from marts.fct_ces_responses").fetchone()[0] == (
            ces_facts
        )
        assert (
            conn.execute("select count(*) from marts.fct_ticket_effort").fetchone()[0]
            == conn.execute("select count(*) from staging.stg_landing__tickets").fetchone()[0]
        )
        assert conn.execute("select count(*) from raw.survey_responses").fetchone()[0] == (
            sample.responses + sample.resent
        )


def serving_tables(path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts' order by 1"
            ).fetchall()
        ]
        return {n: conn.execute(f"select * from marts.{n} order by all").fetchall() for n in names}


def test_the_serving_copy_takes_only_the_rows_rewritten_since_the_previous_copy(tmp_path):
    """An incremental mart in the previous serving copy gets the rewritten and new rows,
    loses the rows the warehouse deleted, and keeps the rest; other tables, tables whose
    columns changed and tables mostly rewritten are copied whole; the result always equals
    the warehouse's marts."""
    from orchestration.assets.publish import incremental_mart_keys
    from orchestration.engines.duckdb import publish_serving_copy

    assert incremental_mart_keys() == {
        "fct_ces_responses": ["response_id"],
        "fct_comment_themes": ["response_id"],
        "fct_csat_responses": ["response_id"],
        "fct_ticket_effort": ["ticket_id"],
    }  # fct_ces_touchpoint_period is a table rebuilt from int_touchpoint_period_metrics
    warehouse, serving = tmp_path / "ces.duckdb", tmp_path / "ces_marts.duckdb"
    keys = {"facts": ["id"], "periods": ["tp", "grain"]}
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("create schema marts")
        conn.execute(
            "create table marts.facts as select i as id, i * 10 as v, "
            "timestamp '2026-01-01 06:00' as refreshed_at from range(10) t(i)"
        )
        conn.execute(
            "create table marts.periods as select 'checkout' as tp, g as grain, 1.5 as v, "
            "timestamp '2026-01-01 06:00' as refreshed_at from (values ('day'), ('week')) t(g)"
        )
        conn.execute("create table marts.dim as select 1 as x")
    assert {t: w["written"] for t, w in publish_serving_copy(warehouse, serving, keys).items()} == {
        "dim": "copied whole",
        "facts": "copied whole",
        "periods": "copied whole",
    }

    with duckdb.connect(str(warehouse)) as conn:
        later = "timestamp '2026-01-02 06:00'"
        conn.execute(f"update marts.facts set v = -1, refreshed_at = {later} where id = 3")
        conn.execute("delete from marts.facts where id = 7")
        conn.execute(f"insert into marts.facts values (42, 420, {later})")
        conn.execute(f"update marts.periods set v = 2.5, refreshed_at = {later}")
        conn.execute("insert into marts.dim values (2)")
    written = publish_serving_copy(warehouse, serving, keys)
    assert {t: (w["rows"], w["written"]) for t, w in written.items()} == {
        "dim": (2, "copied whole"),
        "facts": (10, "2 rows updated"),
        "periods": (2, "copied whole"),  # every row rewritten
    }
    assert serving_tables(serving) == serving_tables(warehouse)

    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("alter table marts.facts add column note varchar")
        conn.execute("create table marts.extra as select 1 as y")
    written = publish_serving_copy(warehouse, serving, keys)
    assert written["facts"]["written"] == "copied whole"  # the columns changed
    assert serving_tables(serving) == serving_tables(warehouse)

    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("drop table marts.extra")
    publish_serving_copy(warehouse, serving, keys)
    assert "extra" not in serving_tables(serving)
    assert serving_tables(serving) == serving_tables(warehouse)


def test_a_landing_folder_that_does_not_exist_fails_the_build_before_it_starts(tmp_path, capsys):
    from orchestration.cli import main

    missing = tmp_path / "DOES_NOT_EXIST"
    code = main(["build", "--landing", str(missing), "--warehouse", str(tmp_path / "wh")])
    assert code == 1
    assert capsys.readouterr().err == (
        f"ces build: landing folder {missing} does not exist (--landing or CES_LANDING_DIR); "
        "nothing was built\n"
    )
    assert not (tmp_path / "wh").exists()


def test_a_warehouse_folder_that_cannot_be_written_is_one_line_not_a_traceback(tmp_path, capsys):
    """A read-only mount or a path through a file: one line naming the folder, exit 1."""
    from orchestration.cli import main

    (tmp_path / "landing").mkdir()
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    warehouse = blocker / "wh"
    code = main(["build", "--landing", str(tmp_path / "landing"), "--warehouse", str(warehouse)])
    assert code == 1
    assert capsys.readouterr().err == (
        f"ces build: warehouse folder {warehouse} cannot be written (Not a directory; "
        "--warehouse or CES_WAREHOUSE_DIR); nothing was built\n"
    )


def test_a_config_error_is_printed_once_without_stack_traces_and_old_hotspots_are_not_shown(
    built_warehouse, tmp_path, capsys, monkeypatch
):
    """One bad source config fails both ingest steps: the summary names it once (both steps
    on one line), no Dagster stack trace is printed without --verbose, and the warehouse's
    hotspots (of the earlier build) are not printed as this build's result."""
    import shutil

    from orchestration.cli import main
    from orchestration.ingest.readers.fields import SourceConfigError

    warehouse = tmp_path / "wh"
    shutil.copytree(built_warehouse, warehouse)
    message = "config/sources/acme.yml: top level: unknown key(s) delimeter; allowed: [...]"

    def broken_configs():
        raise SourceConfigError(message)

    monkeypatch.setattr("orchestration.assets.ingest.load_source_configs", broken_configs)
    location = ["--landing", str(built_warehouse.parent / "landing"), "--warehouse", str(warehouse)]
    assert main(["build", *location]) == 1
    out, err = capsys.readouterr()
    printed = out + err
    assert printed.count("delimeter") == 1, printed
    assert f"  ERROR raw_survey_responses, raw_tickets: {message}\n" in out
    for noise in ("Traceback", "Stack Trace", "SourceConfigError", "dagster - ERROR"):
        assert noise not in printed
    assert "effort hotspots" not in out
    assert "data, freshness and hotspots not shown: this build did not publish" in out
    # the serving copy of the earlier build is still there, untouched
    assert serving_tables(warehouse / "ces_marts.duckdb") == serving_tables(
        built_warehouse / "ces_marts.duckdb"
    )

    # --verbose: Dagster's log with the stack trace, for whoever debugs it
    assert main(["build", *location, "--verbose", "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert "Stack Trace" in out + err


def test_the_summary_warns_about_the_public_development_salt(tmp_path, monkeypatch):
    """Pseudonyms salted with the public development default can be recomputed by anyone
    with the customer ids: every build on it says so; a secret salt silences it."""
    from orchestration.build import BuildOutcome, format_summary
    from orchestration.settings import Settings

    for name in ("CES_PSEUDONYM_SALT", "CES_DBT_TARGET"):
        monkeypatch.delenv(name, raising=False)
    outcome = BuildOutcome(success=True, seconds=1.0)
    development = Settings.from_env(landing_dir=tmp_path, warehouse_dir=tmp_path / "wh")
    assert (
        "  WARNING customer pseudonyms use the public development salt (CES_PSEUDONYM_SALT "
        "is not set)" in format_summary(development, outcome)
    )
    monkeypatch.setenv("CES_PSEUDONYM_SALT", "a-long-secret")
    secret = Settings.from_env(landing_dir=tmp_path, warehouse_dir=tmp_path / "wh")
    assert "development salt" not in format_summary(secret, outcome)
