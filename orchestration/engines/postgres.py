"""PostgreSQL: the warehouse is a database on a server (CES_PG_*); BI users read its
`marts` schema in place as the role `bi_reader`.

DuckDB still reads and stages every landing file (`ServerEngine.staging_database`);
`PostgresSink` copies each file into the server in one transaction. dbt grants bi_reader
select on every mart (the marts' `grants` config, macros/grants.sql); the serving step
checks on the server that the grants are what they must be: every mart readable by
bi_reader, no table outside marts readable by it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.engines.base import Published, ServerEngine
from orchestration.ingest import warehouse
from orchestration.ingest.sinks import PostgresSink, Sink
from orchestration.settings import DEFAULT_DUCKDB_MEMORY_LIMIT, EngineConfig, PostgresConnection
from orchestration.sql import sql_identifier

BI_READER = "bi_reader"  # the role of dbt_project.yml's marts grants and macros/grants.sql


class PostgresEngine(ServerEngine):
    name = "postgres"
    connection: PostgresConnection

    def __init__(
        self,
        warehouse_dir: Path,
        connection: PostgresConnection,
        memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT,
    ) -> None:
        super().__init__(warehouse_dir, connection, memory_limit)

    @classmethod
    def create(cls, config: EngineConfig) -> PostgresEngine:
        return cls(config.warehouse_dir, config.postgres, config.memory_limit)

    @contextmanager
    def ingesting(self) -> Iterator[tuple[duckdb.DuckDBPyConnection, Sink]]:
        with self.staging_database() as stage:
            pg = warehouse.connect_postgres(self.connection)
            try:
                warehouse.ensure_schema_postgres(pg)
                yield stage, PostgresSink(pg)
            finally:
                pg.close()

    @contextmanager
    def reading(self) -> Iterator[Sink]:
        pg = warehouse.connect_postgres(self.connection)
        try:
            pg.set_session(readonly=True, autocommit=True)
            yield PostgresSink(pg)
        finally:
            pg.close()

    def serving(self):
        return self.reading()  # BI users read the marts schema in place

    @property
    def serving_label(self) -> str:
        return f"the marts schema of {self.location}"

    def publish(self, marts: list[str], incremental: dict[str, list[str]]) -> Published:
        with self.reading() as db:
            tables = check_postgres_serving(db, marts)
        return Published(
            tables=tables,
            metadata={"served_to": f"PostgreSQL role {BI_READER}, schema marts"},
            message=f"marts readable by {BI_READER}, and nothing else",
        )

    def publish_summary(self, published: bool) -> str:
        if published:
            return "marts served in place to the PostgreSQL role bi_reader: grants verified"
        return (
            "serving step NOT run (a blocking check or step failed): the marts bi_reader "
            "reads may hold this build's rows; see the failures above"
        )

    def connection_string(self) -> str:
        """SQLAlchemy URL of the warehouse."""
        from sqlalchemy.engine import URL

        pg = self.connection
        return URL.create(
            "postgresql+psycopg2",
            username=pg.user,
            password=pg.password or None,
            host=pg.host,
            port=pg.port,
            database=pg.dbname,
        ).render_as_string(hide_password=False)

    def add_ge_datasource(self, context, name: str):
        return context.data_sources.add_or_update_postgres(
            name=name,
            connection_string=self.connection_string(),
            kwargs={"connect_args": {"options": "-c timezone=UTC"}},
        )


def check_postgres_serving(db: Sink, marts: list[str], role: str = BI_READER) -> dict[str, dict]:
    """Per mart: its row count and whether `role` may read it. Raises dg.Failure naming
    every mart the role cannot read and every other table it can."""
    if not db.execute("select 1 from pg_roles where rolname = ?", [role]):
        raise dg.Failure(description=f"PostgreSQL role {role} does not exist (see README)")
    tables: dict[str, dict] = {}
    for mart in marts:
        relation = f"marts.{sql_identifier(mart)}"
        (readable,) = db.execute(
            "select has_schema_privilege(?, 'marts', 'usage') "
            "and has_table_privilege(?, ?, 'select')",
            [role, role, relation],
        )[0]
        rows = db.execute(f"select count(*) from {relation}")[0][0]
        tables[mart] = {"rows": rows, "readable_by": role if readable else "nobody"}
    exposed = [
        name
        for (name,) in db.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema not in ('marts', 'pg_catalog', 'information_schema') "
            "and has_schema_privilege(?, table_schema, 'usage') "
            "and has_table_privilege(?, quote_ident(table_schema) || '.' "
            "|| quote_ident(table_name), 'select') order by 1",
            [role, role],
        )
    ]
    unreadable = [mart for mart, t in tables.items() if t["readable_by"] != role]
    if unreadable or exposed:
        problems = []
        if unreadable:
            problems.append(f"{role} cannot read marts {', '.join(unreadable)}")
        if exposed:
            problems.append(f"{role} can read tables outside marts: {', '.join(exposed)}")
        raise dg.Failure(description="; ".join(problems))
    return tables
