"""The dbt project (the repository root) and its manifest.

dagster-dbt builds one asset per dbt node from `target/manifest.json`. `prepare_if_dev`
only parses under `dagster dev`, so the code location makes sure the manifest exists and
is newer than every dbt source file before it loads (a fresh clone has none).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from orchestration.settings import PROJECT_DIR

DBT_PROJECT = DbtProject(project_dir=PROJECT_DIR, profiles_dir=PROJECT_DIR)

# The dbt installed beside this interpreter (the project's .venv), whether or not the
# venv is on PATH; `dbt` from PATH otherwise.
VENV_DBT = Path(sys.executable).parent / "dbt"
DBT_EXECUTABLE = str(VENV_DBT) if VENV_DBT.exists() else (shutil.which("dbt") or "dbt")

_DBT_INPUTS = ("models", "macros", "seeds", "tests/dbt", "dbt_project.yml", "profiles.yml")


def _newest_input_mtime(project_dir: Path) -> float:
    newest = 0.0
    for name in _DBT_INPUTS:
        path = project_dir / name
        candidates = path.rglob("*") if path.is_dir() else [path]
        for candidate in candidates:
            if candidate.is_file():
                newest = max(newest, candidate.stat().st_mtime)
    return newest


def manifest_is_stale(project: DbtProject = DBT_PROJECT) -> bool:
    manifest = project.manifest_path
    if not manifest.exists():
        return True
    return manifest.stat().st_mtime < _newest_input_mtime(project.project_dir)


def ensure_manifest(project: DbtProject = DBT_PROJECT) -> Path:
    """Run `dbt parse` when the manifest is missing or older than a dbt source file."""
    if manifest_is_stale(project):
        dbt = DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
        dbt.cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project.manifest_path


def read_manifest(manifest_path: Path | None = None) -> dict:
    """The parsed dbt manifest (parsed first when stale), the one reader of the file for
    the assets, the serving step and the freshness checks."""
    path = Path(manifest_path) if manifest_path is not None else ensure_manifest()
    return json.loads(path.read_text())


def model_nodes(manifest: dict, folder: str | None = None) -> list[dict]:
    """The manifest's model nodes, those under models/<folder>/ when folder is given."""
    return [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and (folder is None or node["fqn"][1:2] == [folder])
    ]
