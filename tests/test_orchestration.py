"""The code location as analytics engineers run it: schedule, landing sensor, status file,
concurrency pool, and the Dagster UI serving the whole graph."""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from orchestration.settings import WAREHOUSE_POOL, Settings


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_schedule_runs_the_daily_build_at_the_configured_time(settings, monkeypatch):
    from orchestration.schedules import build_schedule

    schedule = build_schedule(settings)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 6 * * *", "UTC")
    assert schedule.job_name == "ces_daily_build"
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 23, 6, tzinfo=UTC)
    )
    (request,) = list(schedule.evaluate_tick(context).run_requests)
    assert request.job_name in (None, "ces_daily_build")
    # Monday's build checks what changed; Sunday's (the default full-checks day) everything
    assert request.run_config["ops"]["ces_dbt_assets"]["config"] == {"full_checks": False}
    sunday = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 29, 6, tzinfo=UTC)
    )
    (request,) = list(schedule.evaluate_tick(sunday).run_requests)
    assert request.run_config["ops"]["ces_dbt_assets"]["config"] == {"full_checks": True}
    assert request.tags["ces/check_scope"] == "all"

    monkeypatch.setenv("CES_SCHEDULE_CRON", "30 5 * * 1-5")
    monkeypatch.setenv("CES_SCHEDULE_TIMEZONE", "Europe/Amsterdam")
    custom = build_schedule(Settings.from_env())
    assert (custom.cron_schedule, custom.execution_timezone) == ("30 5 * * 1-5", "Europe/Amsterdam")


def test_the_landing_sensor_requests_a_run_for_new_or_changed_files_only(settings):
    from orchestration.sensors import build_landing_sensor

    sensor = build_landing_sensor(settings)
    landing = settings.landing_dir
    first = write(landing / "survey_responses" / "a.csv", "response_id\nR1\n")
    write(landing / "tickets" / "t.jsonl", '{"ticket_id": "T1"}\n')
    write(landing / "survey_responses" / ".partial.csv", "being uploaded")
    write(landing / "zendesk" / "export.json", '{"tickets": []}')  # a vendor source's file
    write(landing / "unknown" / "notes.csv", "no source reads this folder")

    result = sensor.evaluate_tick(dg.build_sensor_context(cursor=None))
    (request,) = result.run_requests
    assert request.tags["ces/new_files"] == "3"
    cursor = json.loads(result.cursor)
    assert sorted(cursor) == ["survey_responses/a.csv", "tickets/t.jsonl", "zendesk/export.json"]

    # nothing new: a restart with the stored cursor does not re-trigger old files
    again = sensor.evaluate_tick(dg.build_sensor_context(cursor=result.cursor))
    assert again.run_requests == [] and again.skip_message.startswith("no new or changed files")

    # a changed file and a new one trigger, with a run key naming them
    time.sleep(0.01)
    first.write_text("response_id\nR1\nR2\n")
    write(landing / "survey_responses" / "b.parquet", "x")
    later = sensor.evaluate_tick(dg.build_sensor_context(cursor=result.cursor))
    (request,) = later.run_requests
    assert request.tags["ces/new_files"] == "2"
    assert "survey_responses/a.csv@" in request.run_key
    assert "survey_responses/b.parquet@" in request.run_key
    assert "tickets/t.jsonl" not in request.run_key


def test_the_landing_sensor_starts_from_what_the_warehouse_has_already_loaded(
    built_warehouse, tmp_path, monkeypatch
):
    """First start after `make build` (no cursor): the files the manifest holds with the
    same path and content trigger nothing; a file changed since, and a new one, do."""
    import shutil

    from orchestration.sensors import build_landing_sensor

    landing = tmp_path / "landing"
    shutil.copytree(built_warehouse.parent / "landing", landing)
    for name in ("CES_DBT_TARGET", "CES_LANDING_DIR", "CES_WAREHOUSE_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env(landing_dir=landing, warehouse_dir=built_warehouse)
    files = sorted(p for p in landing.rglob("*") if p.is_file())
    assert len(files) >= 7

    sensor = build_landing_sensor(settings)
    first = sensor.evaluate_tick(dg.build_sensor_context(cursor=None))
    assert first.run_requests == []
    assert first.skip_message == f"no new or changed files among {len(files)} landing files"
    assert len(json.loads(first.cursor)) == len(files)

    # loaded, then changed in place (same size: only the hash can tell) and a new file
    changed = next(p for p in files if p.suffix == ".csv")
    text = changed.read_text()
    changed.write_text(text[:-2] + ("9" if text[-2] != "9" else "8") + text[-1])
    write(landing / "survey_responses" / "late.csv", "response_id\nR1\n")
    fresh = build_landing_sensor(settings).evaluate_tick(dg.build_sensor_context(cursor=None))
    (request,) = fresh.run_requests
    assert request.tags["ces/new_files"] == "2"
    assert f"{changed.relative_to(landing).as_posix()}@" in request.run_key
    assert "survey_responses/late.csv@" in request.run_key

    # no warehouse yet: every file is new, as before
    empty = Settings.from_env(landing_dir=landing, warehouse_dir=tmp_path / "no_warehouse")
    (request,) = (
        build_landing_sensor(empty).evaluate_tick(dg.build_sensor_context(cursor=None)).run_requests
    )
    assert request.tags["ces/new_files"] == str(len(files) + 1)


def test_every_step_touching_the_warehouse_is_in_the_single_writer_pool(dbt_manifest, settings):
    from orchestration.definitions import build_definitions

    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key == dg.AssetKey("ces_report"):
            # reads the serving copy (never locked: replaced atomically), not the warehouse
            assert not node.pools - {None}, node.pools
        elif key.path[0] == "registry" or node.is_executable:
            assert node.pools == {WAREHOUSE_POOL}, key
    from orchestration.checks.quality import build_quality_checks

    (checks,) = build_quality_checks()  # one step validates every suite
    assert len(list(checks.check_keys)) == 5
    assert checks.op.pool == WAREHOUSE_POOL
    instance_yaml = Path(__file__).resolve().parent.parent / ".dagster" / "dagster.yaml"
    assert "default_limit: 1" in instance_yaml.read_text()


def test_the_cli_writes_the_build_status_file(tmp_path):
    from orchestration.status import write_build_status

    path = write_build_status(tmp_path, "failure", "run-1", "dbt test failed")
    status = json.loads(path.read_text())
    assert (status["status"], status["run_id"], status["message"]) == (
        "failure",
        "run-1",
        "dbt test failed",
    )
    assert datetime.fromisoformat(status["finished_at"]) <= datetime.now(UTC)


def test_ces_build_names_the_targets_when_given_an_unknown_one(
    settings, tmp_path, capsys, monkeypatch
):
    from orchestration import settings as settings_module
    from orchestration.cli import main

    assert (settings.engine, Settings.from_env(dbt_target="postgres").engine) == (
        "duckdb",
        "postgres",
    )
    code = main(["build", "--target", "snowflake", "--warehouse", str(tmp_path / "wh")])
    assert code == 2
    assert capsys.readouterr().err == (
        "ces build: unknown dbt target 'snowflake': profiles.yml (ces_warehouse) defines "
        "duckdb, postgres, spark\n"
    )
    assert Settings.from_env(dbt_target="spark").engine == "spark"
    # a target of profiles.yml whose adapter has no engine
    targets = {**settings_module.profile_targets(), "cloud": "snowflake"}
    monkeypatch.setattr(settings_module, "profile_targets", lambda: targets)
    assert main(["build", "--target", "cloud", "--warehouse", str(tmp_path / "wh")]) == 2
    assert capsys.readouterr().err == (
        "ces build: dbt target 'cloud' is of type 'snowflake'; the warehouse builds on duckdb, "
        "postgres or spark\n"
    )
    assert not (tmp_path / "wh").exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


@pytest.mark.slow
def test_the_dagster_ui_serves_every_asset_and_check(dbt_manifest, tmp_path, settings):
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    (tmp_path / "dagster_home").mkdir()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            "-m",
            "orchestration.definitions",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError("the Dagster webserver did not start") from None
                time.sleep(1)
        data = graphql(
            port,
            "{ assetNodes { assetKey { path } "
            "assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }",
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    for key in (
        "raw_survey_responses",
        "raw_tickets",
        "staging/stg_landing__survey_responses",
        "intermediate/int_answers_scored",
        "marts/fct_ces_touchpoint_period",
        "marts/rpt_effort_hotspots",
        "ces_marts_serving",
    ):
        assert key in nodes, key
    checks = {
        (key, c["name"], c["blocking"])
        for key, n in nodes.items()
        for c in n["assetChecksOrError"].get("checks", [])
    }
    assert ("marts/fct_ces_touchpoint_period", "ge_fct_ces_touchpoint_period", True) in checks
    assert sum(1 for _, name, _ in checks if not name.startswith("ge_")) >= 100  # dbt tests


def test_source_freshness_checks_apply_the_dbt_thresholds_like_dbt_does(dbt_manifest, tmp_path):
    """The raw assets' dbt_source_freshness checks read warn/error thresholds from the dbt
    sources and reach the same verdict as `dbt source freshness` on the same warehouse."""
    from orchestration.checks.freshness import evaluate, load_source_freshness
    from orchestration.dbt_project import DBT_EXECUTABLE
    from orchestration.ingest import warehouse

    contracts = {c.table: c for c in load_source_freshness()}
    assert set(contracts) == {"raw.survey_responses", "raw.tickets"}
    contract = contracts["raw.survey_responses"]
    assert (contract.warn_after_hours, contract.error_after_hours) == (36, 72)
    now = datetime(2026, 11, 22, 12, 0)
    hours_ago = [(1, "pass", True), (40, "warn", False), (80, "error", False)]
    for hours, status, passed in hours_ago:
        result = evaluate(contract, now - timedelta(hours=hours), now)
        assert (result.metadata["status"].value, result.passed) == (status, passed)
        assert result.metadata["age_hours"].value == hours
    assert evaluate(contract, now - timedelta(hours=40), now).severity == dg.AssetCheckSeverity.WARN
    assert evaluate(contract, None, now).severity == dg.AssetCheckSeverity.ERROR

    # The same verdicts from dbt itself: answers last loaded 80 h ago, tickets 1 h ago.
    warehouse_dir = tmp_path / "warehouse"
    warehouse_dir.mkdir()
    conn = warehouse.connect(warehouse_dir / "ces.duckdb")
    warehouse.ensure_schema(conn)
    real_now = datetime.now(UTC).replace(tzinfo=None)
    for table, hours in (("survey_responses", 80), ("tickets", 1)):
        conn.execute(
            f"insert into raw.{table} (_loaded_at) values (?)", [real_now - timedelta(hours=hours)]
        )
    newest = {
        table: conn.execute(f"select max(_loaded_at) from {table}").fetchone()[0]
        for table in contracts
    }
    conn.close()
    ours = {
        t: evaluate(c, newest[t], real_now).metadata["status"].value for t, c in contracts.items()
    }
    assert ours == {"raw.survey_responses": "error", "raw.tickets": "pass"}
    project = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [DBT_EXECUTABLE, "source", "freshness", "--target-path", str(tmp_path / "target")],
        cwd=project,
        env={**os.environ, "CES_WAREHOUSE_DIR": str(warehouse_dir)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stdout[-2000:]  # dbt exits 1 on an error-level source
    results = json.loads((tmp_path / "target" / "sources.json").read_text())["results"]
    theirs = {
        r["unique_id"].replace("source.ces_warehouse.landing.", "raw."): r["status"]
        for r in results
    }
    assert theirs == ours


def test_the_marts_serving_copy_and_report_carry_the_freshness_policy(dbt_manifest, settings):
    from orchestration.definitions import build_definitions

    defs = build_definitions(Settings(**{**settings.__dict__, "freshness_hours": 12.0}))
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        policy = graph.get(key).freshness_policy
        if key.path[0] in ("marts", "ces_marts_serving", "ces_report"):
            assert policy is not None, key
            assert policy.fail_window.to_timedelta() == timedelta(hours=12), key
            assert policy.warn_window.to_timedelta() == timedelta(hours=8), key
        else:
            assert policy is None, key
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert {
        ("raw_survey_responses", "dbt_source_freshness"),
        ("raw_tickets", "dbt_source_freshness"),
    } <= checks
    instance_yaml = Path(__file__).resolve().parent.parent / ".dagster" / "dagster.yaml"
    assert "freshness:\n  enabled: true" in instance_yaml.read_text()


def test_the_dbt_resource_asks_no_subprocess_for_the_version_and_opens_no_adapter(monkeypatch):
    import dagster_dbt.core.resource as dbt_resource
    from dbt.version import __version__ as dbt_core_version
    from packaging import version

    from orchestration.dbt_project import DBT_EXECUTABLE, DBT_PROJECT, VENV_DBT
    from orchestration.resources import LeanDbtCliResource

    # the two hooks it replaces still exist in dagster-dbt: an upgrade renaming them fails here
    assert {"_cli_version", "_initialize_dbt_core_adapter"} <= vars(
        dbt_resource.DbtCliResource
    ).keys()

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"subprocess started: {args}")

    monkeypatch.setattr(dbt_resource, "check_output", no_subprocess)
    assert str(VENV_DBT) == DBT_EXECUTABLE
    resource = LeanDbtCliResource(project_dir=DBT_PROJECT, dbt_executable=DBT_EXECUTABLE)
    assert resource._cli_version == version.parse(dbt_core_version)
    assert resource._initialize_dbt_core_adapter(["build"]) is None


def test_every_duckdb_connection_of_a_build_has_the_memory_limit(settings, monkeypatch):
    """Ingest, publish and the quality checks open DuckDB in the build process; dbt opens it
    in its own process through profiles.yml. All take CES_DUCKDB_MEMORY_LIMIT."""
    from orchestration.dbt_project import VENV_DBT
    from orchestration.engines import engine_for
    from orchestration.settings import DEFAULT_DUCKDB_MEMORY_LIMIT, PROJECT_DIR

    def dbt_memory_limit() -> str:
        shown = subprocess.run(
            [
                str(VENV_DBT),
                "show",
                "--inline",
                "select current_setting('memory_limit') as m",
                "--project-dir",
                str(PROJECT_DIR),
                "--profiles-dir",
                str(PROJECT_DIR),
                "--target-path",
                str(settings.warehouse_dir / "target"),
                "--log-path",
                str(settings.warehouse_dir / "logs"),
                "--quiet",
                "--output",
                "json",
            ],
            check=True,
            capture_output=True,
            text=True,
            env=os.environ.copy(),
        )
        return json.loads(shown.stdout)["show"][0]["m"]

    settings.export_env()
    assert os.environ["CES_DUCKDB_MEMORY_LIMIT"] == DEFAULT_DUCKDB_MEMORY_LIMIT == "1GB"
    assert dbt_memory_limit() == "953.6 MiB"

    monkeypatch.setenv("CES_DUCKDB_MEMORY_LIMIT", "512MB")
    lower = Settings.from_env(
        landing_dir=settings.landing_dir, warehouse_dir=settings.warehouse_dir
    )
    assert lower.memory_limit == "512MB"
    lower.export_env()
    with engine_for(lower).ingesting() as (conn, _):
        assert conn.execute("select current_setting('memory_limit')").fetchone() == ("488.2 MiB",)
    with engine_for(lower).reading() as db:
        assert db.execute("select current_setting('memory_limit')") == [("488.2 MiB",)]
    assert dbt_memory_limit() == "488.2 MiB"


# --- the shape of the code --------------------------------------------------------------------

PACKAGE = Path(__file__).resolve().parents[1] / "orchestration"


def import_graph() -> dict[str, set[str]]:
    """orchestration module -> the orchestration modules it imports (lazy imports inside
    functions included: a cycle through one is still a knot)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path

    def resolve(target: str) -> str | None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    graph = {}
    for name, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            imported |= {resolve(t) for t in targets if t.startswith("orchestration")}
        graph[name] = imported - {None, name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_import_graph_has_no_cycle_and_no_engine_branch_outside_the_engines():
    graph = import_graph()
    assert "orchestration.ingest.readers.qualtrics" in graph  # the graph is the real one
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles(graph) == []
    # the readers never reach back into the loader or the config loader
    readers = [m for m in graph if m.startswith("orchestration.ingest.readers")]
    for module in readers:
        assert not graph[module] & {
            "orchestration.ingest.loader",
            "orchestration.ingest.sources",
        }, module
    branches = [
        f"{path.relative_to(PACKAGE.parent)}:{number}"
        for path in PACKAGE.rglob("*.py")
        if "engines" not in path.relative_to(PACKAGE).parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "engine ==" in line
    ]
    assert branches == []
