"""The warehouse engines, one class each behind `orchestration.engines.base.Engine`."""

from __future__ import annotations

from pathlib import Path

from orchestration.engines.base import Engine, Published
from orchestration.engines.duckdb import DuckDBEngine
from orchestration.engines.postgres import PostgresEngine
from orchestration.settings import ENGINES, PostgresConnection, Settings

ENGINE_CLASSES: dict[str, type[Engine]] = {cls.name: cls for cls in (DuckDBEngine, PostgresEngine)}
assert tuple(ENGINE_CLASSES) == ENGINES, "settings.ENGINES names the registered engines"


def make_engine(
    name: str, warehouse_dir: Path, memory_limit: str, postgres: PostgresConnection
) -> Engine:
    """The engine called `name` (a dbt adapter type of profiles.yml)."""
    return ENGINE_CLASSES[name].create(warehouse_dir, memory_limit, postgres)


def engine_for(settings: Settings) -> Engine:
    """The engine of the settings' dbt target."""
    return make_engine(
        settings.engine, settings.warehouse_dir, settings.memory_limit, settings.postgres
    )


__all__ = [
    "ENGINE_CLASSES",
    "DuckDBEngine",
    "Engine",
    "PostgresEngine",
    "Published",
    "engine_for",
    "make_engine",
]
