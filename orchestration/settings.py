"""One settings object for the whole project, read from the environment once.

Every path the project touches (landing folder, warehouse files, the dbt project) is
resolved here to an absolute path, so that Dagster, dbt (a subprocess) and the CLI agree
on where things are whatever the current directory is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from orchestration.ingest import pseudonym

PROJECT_DIR = Path(__file__).resolve().parent.parent

# Every step that opens the warehouse file runs in this Dagster concurrency pool; the
# instance limits it to one at a time (.dagster/dagster.yaml), because DuckDB allows one
# writing process per file and no reader beside it.
WAREHOUSE_POOL = "ces_warehouse"

# Development default only: production deployments set CES_PSEUDONYM_SALT to a secret.
DEV_PSEUDONYM_SALT = pseudonym.DEV_KEY

# DuckDB's buffer limit for every process that opens the warehouse (ingest, dbt, quality
# checks, publish). DuckDB's own default is 80 % of RAM; with this limit its joins, sorts
# and windows spill to a temporary folder beside the database file instead, so a build of
# 10 M answers stays under 2 GiB (bench/README.md gives the time this costs).
DEFAULT_DUCKDB_MEMORY_LIMIT = "1GB"

# The DuckDB files in the warehouse folder: the warehouse, and the copy BI users read.
WAREHOUSE_FILE = "ces.duckdb"
SERVING_FILE = "ces_marts.duckdb"


@dataclass(frozen=True)
class PostgresConnection:
    """The PostgreSQL warehouse (CES_PG_*, the variables profiles.yml reads too)."""

    host: str = "localhost"
    port: int = 5432
    user: str = "postgres"
    password: str = ""
    dbname: str = "ces"

    @classmethod
    def from_env(cls) -> PostgresConnection:
        return cls(
            host=os.environ.get("CES_PG_HOST") or "localhost",
            port=int(os.environ.get("CES_PG_PORT") or 5432),
            user=os.environ.get("CES_PG_USER") or "postgres",
            password=os.environ.get("CES_PG_PASSWORD") or "",
            dbname=os.environ.get("CES_PG_DATABASE") or "ces",
        )

    @property
    def location(self) -> str:
        """postgresql://user@host:port/database, without the password, for messages."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def connect_kwargs(self, **overrides) -> dict[str, str | int]:
        """Keyword arguments of psycopg2.connect."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": self.dbname,
            **overrides,
        }


@dataclass(frozen=True)
class SparkConnection:
    """The Spark warehouse's Thrift (HiveServer2) endpoint (CES_SPARK_*, the variables
    profiles.yml reads too), and the folder ingestion stages files in for it.

    `stage_dir` must be readable by the Spark cluster under the same path (the local test
    cluster: any local folder; a remote cluster: a shared mount); empty means
    `<warehouse>/spark_stage`."""

    host: str = "127.0.0.1"
    port: int = 10000
    user: str = "ces"
    schema: str = "ces"
    stage_dir: str = ""

    @classmethod
    def from_env(cls) -> SparkConnection:
        return cls(
            host=os.environ.get("CES_SPARK_HOST") or "127.0.0.1",
            port=int(os.environ.get("CES_SPARK_PORT") or 10000),
            user=os.environ.get("CES_SPARK_USER") or "ces",
            schema=os.environ.get("CES_SPARK_SCHEMA") or "ces",
            stage_dir=os.environ.get("CES_SPARK_STAGE_DIR") or "",
        )

    @property
    def location(self) -> str:
        """spark://user@host:port (the Thrift endpoint), for messages."""
        return f"spark+thrift://{self.user}@{self.host}:{self.port}"


def parse_clock(text: str | None) -> datetime | None:
    """CES_NOW as a naive UTC datetime: an ISO-8601 date or time, with or without offset
    (without offset means UTC, as in the landing contract); None when unset or blank."""
    if text is None or not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"CES_NOW={text!r} is not an ISO-8601 date or time (e.g. 2026-11-01 or "
            "2026-11-01T06:00:00Z)"
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0)


@dataclass(frozen=True)
class EngineConfig:
    """What an engine is made from (orchestration/engines/): the local warehouse folder,
    DuckDB's memory limit and the servers of the server engines."""

    warehouse_dir: Path
    memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    postgres: PostgresConnection = field(default_factory=PostgresConnection)
    spark: SparkConnection = field(default_factory=SparkConnection)


ENGINES = ("duckdb", "postgres", "spark")
PROFILE = "ces_warehouse"


def profile_targets() -> dict[str, str]:
    """The targets of profiles.yml and the engine (adapter type) of each."""
    import yaml

    profiles = yaml.safe_load((PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8"))
    return {name: output["type"] for name, output in profiles[PROFILE]["outputs"].items()}


def target_engine(target: str) -> str:
    """The engine a dbt target builds on (one of ENGINES); a clear error otherwise."""
    targets = profile_targets()
    if target not in targets:
        raise ValueError(
            f"unknown dbt target {target!r}: profiles.yml ({PROFILE}) defines "
            + ", ".join(sorted(targets))
        )
    if targets[target] not in ENGINES:
        raise ValueError(
            f"dbt target {target!r} is of type {targets[target]!r}; the warehouse builds on "
            + ", ".join(ENGINES[:-1])
            + f" or {ENGINES[-1]}"
        )
    return targets[target]


def _weekday(text: str) -> int:
    if text.strip() not in {str(day) for day in range(7)}:
        raise ValueError(
            f"CES_FULL_CHECKS_WEEKDAY={text!r} is not a weekday number (0 = Monday ... 6 = Sunday)"
        )
    return int(text)


@dataclass(frozen=True)
class Settings:
    landing_dir: Path
    warehouse_dir: Path
    dbt_target: str
    pseudonym_salt: str
    schedule_cron: str = "0 6 * * *"
    schedule_timezone: str = "UTC"
    # Marts not rebuilt within this many hours are flagged stale in the Dagster UI.
    freshness_hours: float = 36.0
    # The scheduled build of this weekday (0 = Monday ... 6 = Sunday, CES_FULL_CHECKS_WEEKDAY)
    # runs its data tests on whole tables (`ces build --full-checks`); the others check the
    # rows written since the last checked build (macros/check_scope.sql).
    full_checks_weekday: int = 6
    # The project's clock pinned by CES_NOW (naive UTC), or None: the machine's clock.
    # It is what "now" means for the data: the as-of date of the reports, the
    # future-timestamp check and `ces sample`'s default last day. Bookkeeping times (when a
    # file was loaded, a row refreshed, a run finished) always come from the machine.
    pinned_now: datetime | None = None
    # Where the warehouse is built: the dbt target's type in profiles.yml, resolved once.
    engine: str = "duckdb"
    # DuckDB's buffer limit for every connection of a build (CES_DUCKDB_MEMORY_LIMIT).
    memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    # The PostgreSQL warehouse (CES_PG_*), used by postgres targets.
    postgres: PostgresConnection = field(default_factory=PostgresConnection)
    # The Spark warehouse (CES_SPARK_*), used by spark targets.
    spark: SparkConnection = field(default_factory=SparkConnection)
    # How long `ces build` waits for another program holding the DuckDB warehouse file
    # open (a BI tool) to let go before it gives up naming it (CES_LOCK_WAIT_SECONDS).
    lock_wait_seconds: float = 30.0

    @property
    def engine_config(self) -> EngineConfig:
        return EngineConfig(self.warehouse_dir, self.memory_limit, self.postgres, self.spark)

    def now(self) -> datetime:
        """The project's now, naive UTC: CES_NOW when pinned, else the machine's clock."""
        return self.pinned_now or datetime.now(UTC).replace(tzinfo=None, microsecond=0)

    def yesterday(self) -> date:
        """The UTC day before the project's now: `ces sample`'s default last day."""
        return self.now().date() - timedelta(days=1)

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB file every layer (raw, audit, staging, marts) is built in (DuckDB
        targets; on PostgreSQL the folder keeps only logs, Data Docs and the status file)."""
        return self.warehouse_dir / WAREHOUSE_FILE

    @property
    def serving_path(self) -> Path:
        """The read-only copy of the marts that BI users open (DuckDB targets)."""
        return self.warehouse_dir / SERVING_FILE

    @classmethod
    def from_env(
        cls,
        landing_dir: str | os.PathLike[str] | None = None,
        warehouse_dir: str | os.PathLike[str] | None = None,
        dbt_target: str | None = None,
    ) -> Settings:
        """Explicit arguments win over CES_* environment variables, which win over defaults."""
        landing = landing_dir or os.environ.get("CES_LANDING_DIR") or "data/landing"
        warehouse = warehouse_dir or os.environ.get("CES_WAREHOUSE_DIR") or "warehouse"
        target = dbt_target or os.environ.get("CES_DBT_TARGET") or "duckdb"
        return cls(
            landing_dir=Path(landing).expanduser().resolve(),
            warehouse_dir=Path(warehouse).expanduser().resolve(),
            dbt_target=target,
            engine=target_engine(target),
            memory_limit=os.environ.get("CES_DUCKDB_MEMORY_LIMIT") or DEFAULT_DUCKDB_MEMORY_LIMIT,
            postgres=PostgresConnection.from_env(),
            spark=SparkConnection.from_env(),
            pseudonym_salt=os.environ.get("CES_PSEUDONYM_SALT") or DEV_PSEUDONYM_SALT,
            schedule_cron=os.environ.get("CES_SCHEDULE_CRON") or "0 6 * * *",
            schedule_timezone=os.environ.get("CES_SCHEDULE_TIMEZONE") or "UTC",
            freshness_hours=float(os.environ.get("CES_FRESHNESS_HOURS") or 36),
            full_checks_weekday=_weekday(os.environ.get("CES_FULL_CHECKS_WEEKDAY") or "6"),
            pinned_now=parse_clock(os.environ.get("CES_NOW")),
            lock_wait_seconds=float(os.environ.get("CES_LOCK_WAIT_SECONDS") or 30),
        )

    def export_env(self) -> None:
        """Publish the resolved settings to the environment read by dbt's profiles.yml (dbt
        runs in a subprocess); nothing in this process reads them back."""
        os.environ["CES_LANDING_DIR"] = str(self.landing_dir)
        os.environ["CES_WAREHOUSE_DIR"] = str(self.warehouse_dir)
        os.environ["CES_DBT_TARGET"] = self.dbt_target
        os.environ.setdefault("CES_PSEUDONYM_SALT", self.pseudonym_salt)
        # what the dbt models know of the key: its fingerprint (ingest/pseudonym.py)
        os.environ["CES_PSEUDONYM_KEY_FINGERPRINT"] = pseudonym.fingerprint(
            os.environ["CES_PSEUDONYM_SALT"].encode("utf-8")
        )
        os.environ["CES_DUCKDB_MEMORY_LIMIT"] = self.memory_limit
        pg = self.postgres
        for name, value in (
            ("CES_PG_HOST", pg.host),
            ("CES_PG_PORT", str(pg.port)),
            ("CES_PG_USER", pg.user),
            ("CES_PG_PASSWORD", pg.password),
            ("CES_PG_DATABASE", pg.dbname),
        ):
            os.environ[name] = value
        spark = self.spark
        for name, value in (
            ("CES_SPARK_HOST", spark.host),
            ("CES_SPARK_PORT", str(spark.port)),
            ("CES_SPARK_USER", spark.user),
            ("CES_SPARK_SCHEMA", spark.schema),
        ):
            os.environ[name] = value
