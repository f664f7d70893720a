"""What a new user meets in the first hour (issue 24): the README's routes work as written."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def test_the_duckdb_shell_of_the_readme_is_installed_and_reads_the_serving_copy(
    built_warehouse,
):
    """The README's BI route `.venv/bin/duckdb -readonly warehouse/ces_marts.duckdb` runs:
    the shell is installed with the project, at DuckDB's own pinned version."""
    readme = (PROJECT / "README.md").read_text()
    assert "`.venv/bin/duckdb -readonly warehouse/ces_marts.duckdb`" in readme
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    pins = {}
    for requirement in pyproject["project"]["dependencies"]:
        name, _, version = requirement.partition("==")
        pins[name] = version
    assert pins["duckdb-cli"] == pins["duckdb"]

    shell = Path(sys.executable).parent / "duckdb"
    result = subprocess.run(
        [
            str(shell),
            "-readonly",
            "-csv",
            str(built_warehouse / "ces_marts.duckdb"),
            "-c",
            "select count(*) > 0, version() from marts.rpt_effort_hotspots",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.splitlines()[1] == f"true,v{pins['duckdb']}"


def test_the_package_metadata_uses_the_spdx_license_string():
    """setuptools stops accepting `project.license` as a TOML table on 2027-02-18; the
    SPDX string needs setuptools 77 or later to build."""
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in pyproject["build-system"]["requires"]


def test_make_build_installs_nothing_from_the_system_package_manager():
    """The README says `make build` needs only python3.11: its target must not pull in the
    apt-installed browser, database or Java (those are `make test`'s)."""
    makefile = (PROJECT / "Makefile").read_text()
    prerequisites = re.search(r"^build:(.*)$", makefile, re.M).group(1).split()
    assert prerequisites == ["$(STAMP)"]


def test_the_dbt_docs_home_page_is_the_projects_overview_naming_real_models(dbt_manifest):
    """`make docs` opens on the project's overview (the `__overview__` docs block), not dbt's
    stock "Welcome!" page; every relation it names is a model or seed of the project."""
    import json

    manifest = json.loads(dbt_manifest.read_text())
    overview = manifest["docs"]["doc.ces_warehouse.__overview__"]["block_contents"]
    assert overview.startswith("# CES warehouse")
    assert "Polarity is never guessed from the scale length" in overview
    named = set(re.findall(r"`(?:marts|audit|intermediate|registry)\.(\w+)`", overview))
    known = {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("model", "seed")
    }
    assert len(named) >= 15
    assert named <= known, named - known
