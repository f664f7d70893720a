"""Dagster resources: the warehouse (DuckDB file or PostgreSQL) and the dbt CLI."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import cached_property
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from packaging import version

from orchestration.dbt_project import DBT_EXECUTABLE, DBT_PROJECT, VENV_DBT
from orchestration.ingest import warehouse
from orchestration.ingest.sinks import Sink
from orchestration.settings import Settings, postgres_location, target_engine


class LeanDbtCliResource(DbtCliResource):
    """dagster-dbt's CLI resource without the two things it does before every invocation
    that this project does not use, which cost about 5 s of the fixed overhead (issue 7):

    - it runs `dbt --version` in a subprocess (about 2 s) to learn the dbt version: the
      dbt we run is the one installed beside this interpreter, whose version the package
      metadata gives;
    - it opens a dbt adapter in-process (about 3 s: imports dbt, loads the profile) for
      `fetch_row_counts()` / `fetch_column_metadata()`: row counts are read after dbt exits
      (orchestration/assets/dbt.py), column metadata comes from the manifest.

    With a dbt from PATH (no venv), the version is asked of the executable as before.
    tests/test_orchestration.py checks that dagster-dbt still has both hooks.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        if Path(self.dbt_executable) == VENV_DBT:
            return version.parse(importlib.metadata.version("dbt-core"))
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


class WarehouseResource(dg.ConfigurableResource):
    """Where landing files are read from and where the warehouse is: the DuckDB file in
    warehouse_dir, or the PostgreSQL server of CES_PG_* when the dbt target is a postgres
    one (warehouse_dir then keeps only logs, Data Docs and the build status)."""

    landing_dir: str
    warehouse_dir: str
    dbt_target: str = "duckdb"
    # The pinned project clock (CES_NOW) as "YYYY-MM-DD HH:MM:SS" UTC, or None: the machine's.
    clock_now: str | None = None

    @property
    def landing_path(self) -> Path:
        return Path(self.landing_dir)

    @property
    def warehouse_path(self) -> Path:
        return Path(self.warehouse_dir) / "ces.duckdb"

    @property
    def engine(self) -> str:
        return target_engine(self.dbt_target)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """The DuckDB warehouse file, closed on exit so dbt can open it afterwards."""
        conn = warehouse.connect(self.warehouse_path, read_only=read_only)
        try:
            if not read_only:
                warehouse.ensure_schema(conn)
            yield conn
        finally:
            conn.close()

    def ingesting(self) -> AbstractContextManager[tuple[duckdb.DuckDBPyConnection, Sink]]:
        """The staging connection and the sink ingestion writes through, on either engine."""
        return warehouse.ingesting(self.engine, self.warehouse_path)

    def reading(self) -> AbstractContextManager[Sink]:
        """Read-only queries (`?` placeholders) on the warehouse, on either engine."""
        return warehouse.reading(self.engine, self.warehouse_path)

    @property
    def serving_path(self) -> Path:
        return Path(self.warehouse_dir) / "ces_marts.duckdb"

    @property
    def report_dir(self) -> Path:
        return Path(self.warehouse_dir) / "report"

    def serving(self) -> AbstractContextManager[Sink]:
        """Read-only queries on what BI users read: the serving copy on DuckDB, the
        warehouse's marts on PostgreSQL."""
        return warehouse.reading(self.engine, self.serving_path)

    @property
    def serving_label(self) -> str:
        if self.engine == "postgres":
            return f"the marts schema of {postgres_location()}"
        return f"the serving copy {self.serving_path}"


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": WarehouseResource(
            landing_dir=str(settings.landing_dir),
            warehouse_dir=str(settings.warehouse_dir),
            dbt_target=settings.dbt_target,
            clock_now=settings.pinned_now and settings.pinned_now.isoformat(sep=" "),
        ),
        "dbt": LeanDbtCliResource(
            project_dir=DBT_PROJECT, target=settings.dbt_target, dbt_executable=DBT_EXECUTABLE
        ),
    }
