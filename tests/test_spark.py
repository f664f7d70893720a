"""The throwaway Spark cluster the repository starts itself (issue 19, first part):
scripts/spark_cluster.sh starts a standalone master, a worker and the Thrift server that
submits to that master, from the pinned pyspark wheel; `stop` ends exactly those processes.

Outside CI the tests skip with the reason when Java or pyspark is missing; under CI
(`make test` installed both) they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import psutil
import pytest

from orchestration.settings import PROJECT_DIR
from tests.conftest import unavailable

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
        for seed in ("survey_scales", "scale_labels", "t_critical_values", "touchpoints"):
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
        cursor.execute("describe registry.t_critical_values")
        assert {row[0]: row[1] for row in cursor.fetchall()}["t_critical_975"] == "double"
        cursor.execute(
            "select higher_is_better from registry.survey_scales where survey_id = 'ces1_effort_5'"
        )
        assert cursor.fetchall() == [(False,)]  # CES 1.0: 1 = least effort
    finally:
        connection.close()


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
