"""The warehouse on Apache Spark (issue 19), on the throwaway cluster the repository
starts itself: scripts/spark_cluster.sh starts a standalone master, a worker and the
Thrift server that submits to that master, from the pinned pyspark wheel; `stop` ends
exactly those processes (the last test). In between: ingestion keeps its guarantees on
parquet tables without transactions, and `ces build --target spark`, full and then
incremental, gives every mart, reject, manifest row and expectation outcome of DuckDB.

Outside CI the tests skip with the reason when Java or pyspark is missing; under CI
(`make test` installed both) they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import psutil
import pytest

from orchestration.ingest import loader
from orchestration.ingest.contract import SURVEY_RESPONSES
from orchestration.sample import generate_sample
from orchestration.settings import PROJECT_DIR, SparkConnection
from tests.conftest import unavailable
from tests.test_postgres import (
    ENGINE_SPECIFIC,
    NOT_COMPARED,
    TABLES,
    assert_same_expectation_outcomes,
    assert_same_tables,
    parity_builds,
)

SCRIPT = PROJECT_DIR / "scripts" / "spark_cluster.sh"
CLASSES = {
    "master": "org.apache.spark.deploy.master.Master",
    "worker": "org.apache.spark.deploy.worker.Worker",
    "thrift": "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
}


def cluster_processes(cluster: Path) -> dict[str, psutil.Process]:
    """The daemons the script started, by role, from its pid files."""
    found = {}
    for role, cls in CLASSES.items():
        pid_file = cluster / "pids" / f"spark-ces-{cls}-1.pid"
        if pid_file.exists():
            found[role] = psutil.Process(int(pid_file.read_text().strip()))
    return found


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="module")
def spark_cluster():
    root = Path(tempfile.mkdtemp(prefix="ces-spark-"))
    cluster = root / "cluster"
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", str(cluster)], capture_output=True, text=True, check=False
    )
    if started.returncode != 0:
        subprocess.run(["bash", str(SCRIPT), "stop", str(cluster)], check=False)
        shutil.rmtree(root, ignore_errors=True)
        unavailable(f"Spark could not start: {started.stderr.strip()[-2000:]}")
    env = dict(line.split("=", 1) for line in (cluster / "env").read_text().splitlines())
    yield cluster, env
    subprocess.run(["bash", str(SCRIPT), "stop", str(cluster)], check=False, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def test_parameters_become_spark_literals_and_quoted_question_marks_stay():
    """Spark string literals read a backslash as an escape (PyHive's own escaping does not
    double it): a value can neither end its literal early nor lose a backslash."""
    from orchestration.engines.spark import bind, spark_literal

    assert bind(
        "select ?, '?', `a?`, ? from t where a = ? and b = ? and c = ?",
        ["C:\\x", None, "it's\\", datetime(2026, 3, 1, 10, 0, 0, 5), date(2026, 3, 1)],
    ) == (
        r"select 'C:\\x', '?', `a?`, null from t where a = 'it\'s\\' "
        r"and b = timestamp'2026-03-01 10:00:00.000005' and c = date'2026-03-01'"
    )
    assert spark_literal(date(2026, 3, 1)) == "date'2026-03-01'"
    assert (spark_literal(True), spark_literal(7), spark_literal(float("nan"))) == (
        "true",
        "7",
        "double('nan')",
    )
    with pytest.raises(ValueError, match="2 parameters for 1 placeholders"):
        bind("select ?", [1, 2])


def test_an_unreachable_thrift_server_is_named_with_its_settings():
    from orchestration.engines.spark import SparkSQLError, ThriftSession

    with pytest.raises(
        SparkSQLError,
        match=r"cannot reach the Spark Thrift server at "
        r"127\.0\.0\.1:1 \(CES_SPARK_HOST / CES_SPARK_PORT\)",
    ):
        ThriftSession(SparkConnection(host="127.0.0.1", port=1))


def test_the_cluster_is_a_master_a_worker_and_a_thrift_server_on_that_master(spark_cluster):
    cluster, env = spark_cluster
    processes = cluster_processes(cluster)
    assert set(processes) == set(CLASSES)
    assert len({p.pid for p in processes.values()}) == 3  # three separate processes
    for role, process in processes.items():
        assert alive(process), role
        assert CLASSES[role] in " ".join(process.cmdline()), role
    # the worker registered with the master, and the Thrift server runs as its application
    with urllib.request.urlopen(env["CES_SPARK_MASTER_UI"] + "/json/", timeout=10) as response:
        master = json.load(response)
    assert master["status"] == "ALIVE"
    assert [w["state"] for w in master["workers"]] == ["ALIVE"]
    assert [(a["name"].split("::")[0], a["state"]) for a in master["activeapps"]] == [
        ("SparkSQL", "RUNNING")
    ]
    # metastore and warehouse live under the cluster folder
    assert (cluster / "metastore" / "metastore_db").is_dir()
    assert env["CES_SPARK_HOST"] == "127.0.0.1"


def test_sql_through_the_thrift_server_runs_on_the_workers(spark_cluster):
    from pyhive import hive

    cluster, env = spark_cluster
    connection = hive.connect(
        host=env["CES_SPARK_HOST"], port=int(env["CES_SPARK_PORT"]), username="ces"
    )
    try:
        cursor = connection.cursor()
        cursor.execute("create database if not exists probe")
        cursor.execute("create table probe.answers (answer_key string, ease int) using parquet")
        cursor.execute("insert into probe.answers values ('a', 7), ('b', 4), ('c', 1)")
        cursor.execute("select count(*), sum(ease), avg(ease) from probe.answers")
        assert cursor.fetchall() == [(3, 12, 4.0)]
        # the dialect facts the models rely on (../shared/SPARK_NOTES.md)
        cursor.execute(
            "select try_cast('not a time' as timestamp), "
            "cast(date_trunc('week', timestamp'2026-03-04 10:00:00') as date)"
        )
        assert [tuple(map(str, row)) for row in cursor.fetchall()] == [("None", "2026-03-02")]
    finally:
        connection.close()
    # the table's files are in the cluster's warehouse folder
    assert any((cluster / "warehouse" / "probe.db" / "answers").glob("*.parquet"))


def test_the_registry_seeds_load_on_spark_with_their_types(spark_cluster, tmp_path):
    """The `spark` dbt target reaches the cluster and the seeds load typed (the first
    step of the Spark target; the models do not run on Spark yet)."""
    import csv

    from pyhive import hive

    _, env = spark_cluster
    seeded = subprocess.run(
        [
            str(PROJECT_DIR / ".venv" / "bin" / "dbt"),
            "seed",
            "--target",
            "spark",
            "--project-dir",
            str(PROJECT_DIR),
            "--profiles-dir",
            str(PROJECT_DIR),
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stdout[-3000:]
    connection = hive.connect(
        host=env["CES_SPARK_HOST"], port=int(env["CES_SPARK_PORT"]), username="ces"
    )
    try:
        cursor = connection.cursor()
        for seed in ("survey_scales", "scale_labels", "comment_themes", "touchpoints"):
            with (PROJECT_DIR / "seeds" / f"{seed}.csv").open(encoding="utf-8") as handle:
                expected = sum(1 for _ in csv.DictReader(handle))
            cursor.execute(f"select count(*) from registry.{seed}")
            assert cursor.fetchall() == [(expected,)], seed
        cursor.execute("describe registry.survey_scales")
        types = {row[0]: row[1] for row in cursor.fetchall()}
        assert (types["survey_id"], types["scale_min"], types["higher_is_better"]) == (
            "string",
            "int",
            "boolean",
        )
        cursor.execute("describe registry.comment_themes")
        assert {row[0]: row[1] for row in cursor.fetchall()}["pattern"] == "string"
        cursor.execute(
            "select higher_is_better from registry.survey_scales where survey_id = 'ces1_effort_5'"
        )
        assert cursor.fetchall() == [(False,)]  # CES 1.0: 1 = least effort
    finally:
        connection.close()


@pytest.fixture
def spark_env(spark_cluster, monkeypatch, tmp_path):
    """CES_SPARK_* pointing at the cluster, and an empty warehouse on it (every database
    a build writes dropped)."""
    from orchestration.engines.spark import DATABASES, ThriftSession

    _, env = spark_cluster
    for name in ("CES_SPARK_HOST", "CES_SPARK_PORT"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.setenv("CES_SPARK_STAGE_DIR", str(tmp_path / "spark_stage"))
    session = ThriftSession(SparkConnection.from_env())
    try:
        for database in DATABASES:
            session.execute(f"drop database if exists {database} cascade")
    finally:
        session.close()
    return env


def spark_rows(sql: str) -> list[tuple]:
    from orchestration.engines.spark import ThriftSession

    session = ThriftSession(SparkConnection.from_env())
    try:
        return session.execute(sql)
    finally:
        session.close()


def comparable(value):
    """A value as both engines' drivers should give it (PyHive: decimals for sums)."""
    return float(value) if isinstance(value, Decimal) else value


def spark_comparable_rows(sql: str) -> list[tuple]:
    return [tuple(map(comparable, row)) for row in spark_rows(sql)]


@pytest.fixture
def sample_landing(tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    generate_sample(landing, responses=1200, days=40, seed=8, end_date=date(2026, 3, 31))
    return landing


def test_a_load_interrupted_before_its_manifest_row_is_never_read_and_its_retry_replaces_it(
    spark_env, landing, tmp_path, monkeypatch
):
    """Spark has no transactions: a process killed after a file's raw rows and rejects
    were written and before its manifest row (the commit record) leaves rows that no
    committed load owns, so staging does not read them; the next run loads the file once."""
    from orchestration.engines.spark import SparkEngine, SparkSink

    path = landing / "survey_responses" / "answers.csv"
    path.write_text(
        ",".join(SURVEY_RESPONSES.columns)
        + "\n"
        + "R1,ces2_agree_7,C1,checkout,web,,2026-03-01T10:00:00Z,6,,en\n"
        + 'R2,ces2_agree_7,C2,checkout,web,,2026-03-01T10:00:00Z,5,"a, \\b",en\n'
        + "R3,ces2_agree_7,C3,checkout\n",
        encoding="utf-8",
    )
    engine = SparkEngine(tmp_path / "spark_wh", SparkConnection.from_env())

    class Killed(BaseException):
        """The process dies: no rollback, no failed record."""

    def killed(self, record, replace):
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(SparkSink, "write_manifest", killed)
        patch.setattr(SparkSink, "rollback", lambda self: None)
        with engine.ingesting() as (stage, sink), pytest.raises(Killed):
            loader.load_landing_file(stage, SURVEY_RESPONSES, path, landing, sink=sink)
    committed = (
        "select count(*) from raw.survey_responses where _file_hash in "
        "(select file_hash from audit.load_manifest "
        "where stream = 'survey_responses' and status <> 'failed')"
    )
    assert spark_rows("select count(*) from raw.survey_responses") == [(2,)]  # written ...
    assert spark_rows("select count(*) from audit.rejected_rows") == [(1,)]
    assert spark_rows(committed) == [(0,)]  # ... and owned by no committed load
    assert spark_rows("select count(*) from audit.load_manifest") == [(0,)]

    with engine.ingesting() as (stage, sink):
        (retried,) = loader.load_stream(stage, SURVEY_RESPONSES, landing, sink=sink)
    assert (retried.status, retried.rows_accepted, retried.rows_rejected) == (
        "loaded_with_rejects",
        2,
        1,
    )
    assert spark_rows(
        "select response_id, comment, _source_line from raw.survey_responses order by 3"
    ) == [("R1", None, 2), ("R2", "a, \\b", 3)]
    assert spark_rows(committed) == [(2,)]
    assert spark_rows("select line, error_type from audit.rejected_rows") == [
        (4, "wrong_column_count")
    ]
    assert spark_rows("select status from audit.load_manifest") == [("loaded_with_rejects",)]


# Lines of the summary that differ by engine or run: timings, locations, serving.
SUMMARY_LINES_PER_ENGINE = (
    r"(building |CES build succeeded|elapsed per stage|warehouse:|serving|marts |CES report|"
    r"quality report)"
)


def summary_tables(printed: str) -> str:
    """The build summary's tables: landing streams, warehouse row counts, reject reasons,
    hotspots (no timings, no locations)."""
    kept = []
    for line in printed.splitlines():
        if re.match(SUMMARY_LINES_PER_ENGINE, line):
            continue
        kept.append(line)
    return "\n".join(kept)


def test_every_mart_has_the_same_rows_on_spark_and_duckdb(
    spark_env, dbt_manifest, settings, sample_landing, tmp_path, capsys
):
    """Parity: `ces build --target duckdb` and `ces build --target spark` on the same
    landing files, then again after a second batch arrived (an incremental build), print
    the same summary tables and give every raw row, reject, manifest row, mart row and
    expectation outcome the same values (floats within 1e-9). Per file, rows landed =
    accepted + rejected + skipped, and files already loaded are not read again (the second
    summary counts only the new ones, on both). BI users read the marts from ces_marts."""
    from orchestration.engines.spark import SERVING_SCHEMA, SparkEngine

    duck_dir, spark_dir = tmp_path / "wh_duckdb", tmp_path / "wh_spark"
    on_duckdb, printed = parity_builds("spark", sample_landing, duck_dir, spark_dir, capsys, 300)
    assert f"warehouse: spark+thrift://ces@127.0.0.1:{spark_env['CES_SPARK_PORT']}" in printed
    assert f"marts published to the Spark database {SERVING_SCHEMA}" in printed
    assert summary_tables(printed) == summary_tables(on_duckdb)
    # the second builds were incremental
    recomputed = re.compile(r"recomputed by this build: ([\d,]+) CES answers")
    total = spark_rows("select count(*) from marts.fct_ces_responses")[0][0]
    assert 0 < int(recomputed.search(printed).group(1).replace(",", "")) < total, printed

    duck = duckdb.connect(str(duck_dir / "ces.duckdb"), read_only=True)
    marts = [
        f"marts.{name}"
        for (name,) in duck.execute(
            "select table_name from duckdb_tables() where schema_name = 'marts' order by 1"
        ).fetchall()
    ]
    assert len(marts) == 19
    assert_same_tables(duck, marts, ENGINE_SPECIFIC, spark_comparable_rows)
    # raw rows, rejects, manifest
    assert_same_tables(duck, TABLES, NOT_COMPARED, spark_comparable_rows)
    ((files, accounted, rejected),) = spark_rows(
        "select count(*), count(case when rows_landed = rows_accepted + rows_rejected "
        "+ rows_skipped then 1 end), sum(rows_rejected) from audit.load_manifest"
    )
    assert files == accounted > 100 and rejected > 30
    assert list((tmp_path / "spark_stage").glob("*")) == []  # every hand-over file removed
    # what BI users read is this build's marts
    for mart in marts:
        name = mart.split(".")[1]
        assert spark_rows(f"select count(*) from {SERVING_SCHEMA}.{name}") == spark_rows(
            f"select count(*) from {mart}"
        ), mart
    duck.close()
    # Great Expectations through the Thrift server: the same outcomes as on DuckDB
    # (observed values compared as text: PyHive gives sums as decimals)
    assert_same_expectation_outcomes(
        SparkEngine(spark_dir, SparkConnection.from_env()), duck_dir / "ces.duckdb", str
    )


def test_stop_ends_exactly_the_processes_the_cluster_started(spark_cluster):
    cluster, _ = spark_cluster
    daemons = cluster_processes(cluster)
    started = list(daemons.values())
    for daemon in daemons.values():  # executors are the worker's children
        started += daemon.children(recursive=True)
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        stopped = subprocess.run(
            ["bash", str(SCRIPT), "stop", str(cluster)], capture_output=True, text=True
        )
        assert stopped.returncode == 0, stopped.stderr
        psutil.wait_procs(started, timeout=20)
        assert [p.pid for p in started if alive(p)] == []
        assert len(started) >= 4  # master, worker, Thrift server and at least one executor
        assert bystander.poll() is None  # nothing else was touched
        assert list((cluster / "pids").glob("*.pid")) == []
        # stopping again is harmless
        assert subprocess.run(["bash", str(SCRIPT), "stop", str(cluster)]).returncode == 0
    finally:
        bystander.kill()
        bystander.wait()
