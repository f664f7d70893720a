"""The engine interface: everything the pipeline does that depends on where the warehouse
is built. Assets, checks, the build summary and the report talk to an engine only through
`WarehouseResource` (orchestration/resources.py) or `engine_for(settings)`; no other module
asks which engine it is.

A new engine is one module in this package with one `Engine` subclass, registered in
`orchestration/engines/__init__.py`, plus a dbt target of its adapter type in profiles.yml.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import duckdb

from orchestration.ingest.sinks import Sink
from orchestration.settings import PostgresConnection


@dataclass
class Published:
    """What the serving step did: per mart its rows and how BI users get it, the asset's
    extra Dagster metadata, and a line for the log."""

    tables: dict[str, dict]
    metadata: dict[str, Any] = field(default_factory=dict)
    message: str = ""


class Engine(ABC):
    """One warehouse engine. `warehouse_dir` always exists locally: it holds the dbt log,
    the Great Expectations context and Data Docs, the report and the build status."""

    name: ClassVar[str]  # the dbt adapter type in profiles.yml

    def __init__(self, warehouse_dir: Path, memory_limit: str) -> None:
        self.warehouse_dir = Path(warehouse_dir)
        self.memory_limit = memory_limit

    @classmethod
    @abstractmethod
    def create(cls, warehouse_dir: Path, memory_limit: str, postgres: PostgresConnection) -> Engine:
        """The engine of a resolved configuration (orchestration/engines/__init__.py)."""

    @property
    @abstractmethod
    def location(self) -> str:
        """The warehouse for messages: a file path or a server address (no password)."""

    @abstractmethod
    def has_warehouse(self) -> bool:
        """Whether there is a warehouse to read yet (a DuckDB file exists, a server is
        configured)."""

    @abstractmethod
    def ingesting(self) -> AbstractContextManager[tuple[duckdb.DuckDBPyConnection, Sink]]:
        """The DuckDB connection that reads and stages landing files, and the sink that
        commits each file's rows, rejects and manifest row atomically (raw and audit
        schemas created)."""

    @abstractmethod
    def reading(self) -> AbstractContextManager[Sink]:
        """A read-only session on the warehouse (`?` placeholders)."""

    @abstractmethod
    def serving(self) -> AbstractContextManager[Sink]:
        """A read-only session on what BI users read."""

    @property
    @abstractmethod
    def serving_label(self) -> str:
        """What BI users read, in words (the report names its source)."""

    @abstractmethod
    def publish(self, marts: list[str], incremental: dict[str, list[str]]) -> Published:
        """Make the marts available to BI users, after every blocking check passed;
        `incremental` maps incremental marts to their unique key. Raises when BI users
        could not read them as they must."""

    @abstractmethod
    def publish_summary(self, published: bool) -> str:
        """The build summary's line about what BI users see after this build."""

    @abstractmethod
    def add_ge_datasource(self, context, name: str):
        """The Great Expectations SQL datasource that validates the warehouse by push-down."""
