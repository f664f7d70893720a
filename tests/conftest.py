from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.ingest import warehouse
from orchestration.settings import Settings


def unavailable(reason: str):
    """A server or browser the tests need could not be had: skip with the reason, or fail
    under CI, where `make test` installed it."""
    import os

    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


# The project's clock for the whole suite: no test depends on the machine's date. Sample
# data ends the day before (ces sample's default end), so the latest complete month of
# every build is October 2026, fully covered, whatever day the suite runs on. Tests of the
# clock itself set CES_NOW to other values.
PINNED_NOW = "2026-11-01T06:00:00Z"


@pytest.fixture(scope="session", autouse=True)
def pinned_clock():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CES_NOW", PINNED_NOW)
        yield PINNED_NOW


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """The dbt manifest, parsed once per session (prepare_if_dev does nothing under pytest)."""
    from orchestration.dbt_project import ensure_manifest

    return ensure_manifest()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    (root / "survey_responses").mkdir(parents=True)
    (root / "tickets").mkdir(parents=True)
    return root


@pytest.fixture
def conn(tmp_path: Path):
    connection = warehouse.connect(tmp_path / "warehouse" / "ces.duckdb")
    warehouse.ensure_schema(connection)
    yield connection
    connection.close()


@pytest.fixture
def settings(tmp_path: Path, landing: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings on temp folders; the CES_* variables they export are restored afterwards."""
    for name in (
        "CES_LANDING_DIR",
        "CES_WAREHOUSE_DIR",
        "CES_DBT_TARGET",
        "CES_PSEUDONYM_SALT",
        "CES_DUCKDB_MEMORY_LIMIT",
    ):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    return Settings.from_env(landing_dir=landing, warehouse_dir=tmp_path / "warehouse")


DBT_PROJECT_FILES = ("models", "macros", "seeds", "tests/dbt", "dbt_project.yml", "profiles.yml")


@pytest.fixture
def dbt_project_copy(tmp_path: Path) -> Path:
    """A copy of the dbt project's sources, for tests that change a model or a seed."""
    import shutil

    from orchestration.settings import PROJECT_DIR

    destination = tmp_path / "dbt_project"
    for name in DBT_PROJECT_FILES:
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, destination / name)
        else:
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, destination / name)
    return destination


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster for the session, started by the repository's own
    scripts/postgres_cluster.sh: its CES_PG_* settings. When the server cannot start, the
    Postgres tests skip with the reason; under CI (where `make test` installed it) they
    fail instead."""
    import shutil
    import subprocess
    import tempfile

    from orchestration.settings import PROJECT_DIR

    script = PROJECT_DIR / "scripts" / "postgres_cluster.sh"
    root = Path(tempfile.mkdtemp(prefix="ces-pg-"))
    root.chmod(0o755)  # the server may run as the postgres user
    cluster = root / "cluster"
    started = subprocess.run(
        ["bash", str(script), "start", str(cluster)], capture_output=True, text=True, check=False
    )
    if started.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        unavailable(f"PostgreSQL server could not start: {started.stderr.strip()}")
    env = dict(line.split("=", 1) for line in (cluster / "env").read_text().splitlines())
    yield env
    subprocess.run(["bash", str(script), "stop", str(cluster)], check=False, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_database(postgres_server, request, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh database on the session's server, named after the test; CES_PG_* point at it.
    Its default time zone is not UTC, like many servers': every session of the build must
    set UTC itself."""
    import re

    from orchestration.ingest import warehouse as wh

    name = "ces_" + re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:50]
    from orchestration.settings import PostgresConnection

    admin = wh.connect_postgres(
        PostgresConnection(
            host=postgres_server["CES_PG_HOST"],
            port=int(postgres_server["CES_PG_PORT"]),
            user=postgres_server["CES_PG_USER"],
            dbname="postgres",
        )
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"drop database if exists {name}")
        cursor.execute(f"create database {name}")
        cursor.execute(f"alter database {name} set timezone = 'America/New_York'")
    admin.close()
    env = {**postgres_server, "CES_PG_DATABASE": name}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium, installed by scripts/chromium.sh (make test). Missing: skip, or fail
    under CI."""

    from orchestration.report import find_chromium

    found = find_chromium()
    if found is None:
        unavailable("Chromium is not installed: bash scripts/chromium.sh install (needs root)")
    return found


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory, dbt_manifest) -> Path:
    """A warehouse folder after one `ces build` of a small sample (75 days), its serving
    copy and report included; shared by the tests that only read it."""
    from orchestration.build import run_build
    from orchestration.sample import generate_sample

    root = tmp_path_factory.mktemp("built")
    generate_sample(root / "landing", responses=3000, days=75, seed=11)
    with pytest.MonkeyPatch.context() as patch:
        for name in (
            "CES_LANDING_DIR",
            "CES_WAREHOUSE_DIR",
            "CES_DBT_TARGET",
            "CES_PSEUDONYM_SALT",
        ):
            patch.setenv(name, "placeholder")  # restored (to unset) when the context ends
            patch.delenv(name)
        settings = Settings.from_env(landing_dir=root / "landing", warehouse_dir=root / "wh")
        outcome = run_build(settings, check_report=True)
    assert outcome.exit_code == 0, outcome.errors + outcome.checks_failed
    return root / "wh"
