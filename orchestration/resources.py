"""Dagster resources: the warehouse (DuckDB file, PostgreSQL or Spark) and the dbt CLI."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from contextlib import AbstractContextManager
from functools import cached_property
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from packaging import version

from orchestration.dbt_project import DBT_EXECUTABLE, DBT_PROJECT, VENV_DBT
from orchestration.engines import Engine, make_engine
from orchestration.ingest.sinks import Sink
from orchestration.settings import (
    DEFAULT_DUCKDB_MEMORY_LIMIT,
    EngineConfig,
    PostgresConnection,
    Settings,
    SparkConnection,
)


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
    """Where landing files are read from and where the warehouse is, resolved once from
    Settings: the engine of the dbt target (orchestration/engines/) does the rest. The
    assets and checks reach the warehouse only through this resource."""

    landing_dir: str
    warehouse_dir: str
    dbt_target: str = "duckdb"
    engine_name: str = "duckdb"  # the target's adapter type in profiles.yml
    memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    pg_host: str = "localhost"
    pg_port: int = 5432
    pg_user: str = "postgres"
    pg_password: str = ""
    pg_database: str = "ces"
    spark_host: str = "127.0.0.1"
    spark_port: int = 10000
    spark_user: str = "ces"
    spark_schema: str = "ces"
    spark_stage_dir: str = ""
    # The pinned project clock (CES_NOW) as "YYYY-MM-DD HH:MM:SS" UTC, or None: the machine's.
    clock_now: str | None = None

    @property
    def landing_path(self) -> Path:
        return Path(self.landing_dir)

    @property
    def engine(self) -> Engine:
        """The warehouse's engine: sessions, quality datasource, publishing."""
        postgres = PostgresConnection(
            host=self.pg_host,
            port=self.pg_port,
            user=self.pg_user,
            password=self.pg_password,
            dbname=self.pg_database,
        )
        spark = SparkConnection(
            host=self.spark_host,
            port=self.spark_port,
            user=self.spark_user,
            schema=self.spark_schema,
            stage_dir=self.spark_stage_dir,
        )
        return make_engine(
            self.engine_name,
            EngineConfig(Path(self.warehouse_dir), self.memory_limit, postgres, spark),
        )

    def ingesting(self) -> AbstractContextManager[tuple[duckdb.DuckDBPyConnection, Sink]]:
        """The staging connection and the sink ingestion writes through."""
        return self.engine.ingesting()

    def reading(self) -> AbstractContextManager[Sink]:
        """Read-only queries (`?` placeholders) on the warehouse."""
        return self.engine.reading()

    @property
    def report_dir(self) -> Path:
        return Path(self.warehouse_dir) / "report"

    def serving(self) -> AbstractContextManager[Sink]:
        """Read-only queries on what BI users read."""
        return self.engine.serving()

    @property
    def serving_label(self) -> str:
        return self.engine.serving_label


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    pg = settings.postgres
    return {
        "warehouse": WarehouseResource(
            landing_dir=str(settings.landing_dir),
            warehouse_dir=str(settings.warehouse_dir),
            dbt_target=settings.dbt_target,
            engine_name=settings.engine,
            memory_limit=settings.memory_limit,
            pg_host=pg.host,
            pg_port=pg.port,
            pg_user=pg.user,
            # shown masked in the UI when it comes from the environment
            pg_password=dg.EnvVar("CES_PG_PASSWORD") if pg.password else "",
            pg_database=pg.dbname,
            spark_host=settings.spark.host,
            spark_port=settings.spark.port,
            spark_user=settings.spark.user,
            spark_schema=settings.spark.schema,
            spark_stage_dir=settings.spark.stage_dir,
            clock_now=settings.pinned_now and settings.pinned_now.isoformat(sep=" "),
        ),
        "dbt": LeanDbtCliResource(
            project_dir=DBT_PROJECT, target=settings.dbt_target, dbt_executable=DBT_EXECUTABLE
        ),
    }
