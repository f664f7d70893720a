"""The engine interface: everything the pipeline does that depends on where the warehouse
is built. Assets, checks, the build summary and the report talk to an engine only through
`WarehouseResource` (orchestration/resources.py) or `engine_for(settings)`; no other module
asks which engine it is.

A new engine is one module in this package with one `Engine` subclass, registered in
`orchestration/engines/__init__.py`, plus a dbt target of its adapter type in profiles.yml.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import duckdb

from orchestration.ingest.sinks import Sink
from orchestration.settings import EngineConfig


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
    def create(cls, config: EngineConfig) -> Engine:
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

    def relations(self, db: Sink, schemas: Sequence[str]) -> list[str]:
        """The tables and views of `schemas` as schema.name, in the order of `schemas`
        and then by name (information_schema; engines without it override this)."""
        found = db.execute(
            "select table_schema, table_name from information_schema.tables "
            f"where table_schema in ({', '.join('?' for _ in schemas)})",
            list(schemas),
        )
        order = {schema: i for i, schema in enumerate(schemas)}
        return [f"{s}.{t}" for s, t in sorted(found, key=lambda r: (order[r[0]], r[1]))]

    def wait_until_writable(self, seconds: float) -> None:
        """Wait up to `seconds` for the warehouse to be free to write, or raise
        WarehouseBusyError naming what holds it. A server engine takes its own locks, and
        a reader never blocks a writer there: nothing to wait for."""
        return None

    @abstractmethod
    def add_ge_datasource(self, context, name: str):
        """The Great Expectations SQL datasource that validates the warehouse by push-down."""


class ServerEngine(Engine):
    """An engine whose warehouse is on a server: `connection` says where. DuckDB still
    reads and stages every landing file, in an in-memory database spilling beside the
    warehouse folder, so reject reasons and line numbers are the same on every engine."""

    def __init__(self, warehouse_dir: Path, connection: Any, memory_limit: str) -> None:
        super().__init__(warehouse_dir, memory_limit)
        self.connection = connection

    @property
    def location(self) -> str:
        return self.connection.location

    def has_warehouse(self) -> bool:
        return True

    @contextmanager
    def staging_database(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The in-memory DuckDB database that reads and stages the landing files."""
        self.warehouse_dir.mkdir(parents=True, exist_ok=True)
        stage = duckdb.connect(
            config={
                "memory_limit": self.memory_limit,
                "temp_directory": str(self.warehouse_dir / "ingest_stage.tmp"),
            }
        )
        try:
            stage.execute("set TimeZone = 'UTC'")
            yield stage
        finally:
            stage.close()
