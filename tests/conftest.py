from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.ingest import warehouse
from orchestration.settings import Settings


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
