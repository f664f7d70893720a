"""The warehouse engines, one class each behind `orchestration.engines.base.Engine`."""

from __future__ import annotations

from orchestration.engines.base import Engine, Published
from orchestration.engines.duckdb import DuckDBEngine
from orchestration.engines.postgres import PostgresEngine
from orchestration.engines.spark import SparkEngine
from orchestration.settings import ENGINES, EngineConfig, Settings

ENGINE_CLASSES: dict[str, type[Engine]] = {
    cls.name: cls for cls in (DuckDBEngine, PostgresEngine, SparkEngine)
}
assert tuple(ENGINE_CLASSES) == ENGINES, "settings.ENGINES names the registered engines"


def make_engine(name: str, config: EngineConfig) -> Engine:
    """The engine called `name` (a dbt adapter type of profiles.yml)."""
    return ENGINE_CLASSES[name].create(config)


def engine_for(settings: Settings) -> Engine:
    """The engine of the settings' dbt target."""
    return make_engine(settings.engine, settings.engine_config)


__all__ = [
    "ENGINE_CLASSES",
    "DuckDBEngine",
    "Engine",
    "PostgresEngine",
    "Published",
    "SparkEngine",
    "engine_for",
    "make_engine",
]
