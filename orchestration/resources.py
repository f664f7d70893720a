"""Dagster resources: the warehouse file and the dbt CLI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource

from orchestration.dbt_project import DBT_EXECUTABLE, DBT_PROJECT
from orchestration.ingest import warehouse
from orchestration.settings import Settings


class WarehouseResource(dg.ConfigurableResource):
    """Where landing files are read from and the DuckDB warehouse is written to."""

    landing_dir: str
    warehouse_dir: str

    @property
    def landing_path(self) -> Path:
        return Path(self.landing_dir)

    @property
    def warehouse_path(self) -> Path:
        return Path(self.warehouse_dir) / "ces.duckdb"

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection that is closed on exit, so dbt can open the file afterwards."""
        conn = warehouse.connect(self.warehouse_path, read_only=read_only)
        try:
            if not read_only:
                warehouse.ensure_schema(conn)
            yield conn
        finally:
            conn.close()


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": WarehouseResource(
            landing_dir=str(settings.landing_dir), warehouse_dir=str(settings.warehouse_dir)
        ),
        "dbt": DbtCliResource(
            project_dir=DBT_PROJECT, target=settings.dbt_target, dbt_executable=DBT_EXECUTABLE
        ),
    }
