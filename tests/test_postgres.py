"""The warehouse on a real PostgreSQL server (issue 8), started by scripts/postgres_cluster.sh:
ingestion with the same manifest and reject guarantees as on DuckDB, and every mart equal
to the DuckDB build of the same files."""

from __future__ import annotations

import math
import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration.ingest import loader, warehouse
from orchestration.ingest.contract import STREAMS, SURVEY_RESPONSES
from orchestration.ingest.sinks import PostgresSink
from orchestration.sample import generate_sample
from orchestration.settings import PostgresConnection

# Compared between the engines: every column but those that differ per load (ids, clocks).
NOT_COMPARED = {"_loaded_at", "load_id", "rejected_at", "loaded_at", "duration_ms"}
TABLES = ("raw.survey_responses", "raw.tickets", "audit.rejected_rows", "audit.load_manifest")


def compared_columns(duck, table: str, excluded: set[str] = NOT_COMPARED) -> list[str]:
    """The columns of a DuckDB table, in order, without the excluded ones."""
    schema, name = table.split(".")
    columns = duck.execute(
        "select column_name from duckdb_columns() where schema_name = ? and table_name = ? "
        "order by column_index",
        [schema, name],
    ).fetchall()
    return [c for (c,) in columns if c not in excluded]


def as_text(rows) -> list[tuple]:
    return sorted(tuple(None if v is None else str(v) for v in row) for row in rows)


def postgres_query(pg, sql: str) -> list[tuple]:
    with pg.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


@pytest.fixture
def sample_landing(tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    generate_sample(landing, responses=1500, days=40, seed=8, end_date=date(2026, 3, 31))
    return landing


def test_ingest_into_postgres_keeps_every_guarantee_and_equals_duckdb(
    pg_database, sample_landing, tmp_path
):
    """The same landing files give the same raw rows, rejects (file, line, reason) and
    manifest on PostgreSQL as on DuckDB; a second run reads nothing again."""
    duck = warehouse.connect(tmp_path / "warehouse" / "ces.duckdb")
    warehouse.ensure_schema(duck)
    pg = warehouse.connect_postgres(PostgresConnection.from_env())
    warehouse.ensure_schema_postgres(pg)
    stage = duckdb.connect()
    sink = PostgresSink(pg)

    on_duckdb, on_postgres = [], []
    for stream in STREAMS.values():
        on_duckdb += loader.load_stream(duck, stream, sample_landing)
        on_postgres += loader.load_stream(stage, stream, sample_landing, sink=sink)

    assert [(r.file_path, r.status, r.rows_landed, r.rows_rejected) for r in on_postgres] == [
        (r.file_path, r.status, r.rows_landed, r.rows_rejected) for r in on_duckdb
    ]
    assert sum(r.rows_accepted for r in on_postgres) > 1500  # answers and tickets
    assert any(r.rows_rejected for r in on_postgres)  # the sample's malformed lines
    for r in on_postgres:
        assert r.rows_landed == r.rows_accepted + r.rows_rejected + r.rows_skipped
    for table in TABLES:
        sql = f"select {', '.join(compared_columns(duck, table))} from {table}"
        assert as_text(postgres_query(pg, sql)) == as_text(duck.execute(sql).fetchall()), table
    assert postgres_query(pg, "select count(*) from raw.survey_responses") == [
        (sum(r.rows_accepted for r in on_postgres if r.stream == "survey_responses"),)
    ]

    manifest_rows = postgres_query(pg, "select count(*) from audit.load_manifest")
    again = [
        result
        for stream in STREAMS.values()
        for result in loader.load_stream(stage, stream, sample_landing, sink=sink)
    ]
    assert {r.status for r in again} == {"already_loaded"}
    assert postgres_query(pg, "select count(*) from audit.load_manifest") == manifest_rows
    pg.close()


def test_a_file_that_fails_before_commit_leaves_nothing_in_postgres(pg_database, landing):
    """One transaction per file on PostgreSQL too: a failure after the rows were copied in
    and before commit keeps none of them, records the file as failed, and the next run
    loads it."""
    path = landing / "survey_responses" / "answers.csv"
    path.write_text(
        ",".join(SURVEY_RESPONSES.columns)
        + "\n"
        + "R1,ces2_agree_7,C1,checkout,web,,2026-03-01T10:00:00Z,6,,en\n"
        + 'R2,ces2_agree_7,C2,checkout,web,,2026-03-01T10:00:00Z,5,"a, b",en\n'
        + "R3,ces2_agree_7,C3,checkout\n",
        encoding="utf-8",
    )
    pg = warehouse.connect_postgres(PostgresConnection.from_env())
    warehouse.ensure_schema_postgres(pg)
    stage, sink = duckdb.connect(), PostgresSink(pg)

    def crash(result):
        raise RuntimeError("disk full")

    loader.BEFORE_COMMIT_HOOKS.append(crash)
    try:
        (failed,) = loader.load_stream(stage, SURVEY_RESPONSES, landing, sink=sink)
    finally:
        loader.BEFORE_COMMIT_HOOKS.remove(crash)

    def count(sql: str) -> int:
        return postgres_query(pg, sql)[0][0]

    assert failed.status == "failed" and "disk full" in failed.warning
    assert count("select count(*) from raw.survey_responses") == 0
    assert count("select count(*) from audit.rejected_rows") == 0
    assert count("select count(*) from audit.load_manifest where status = 'failed'") == 1

    (retried,) = loader.load_stream(stage, SURVEY_RESPONSES, landing, sink=sink)
    assert (retried.status, retried.rows_accepted, retried.rows_rejected) == (
        "loaded_with_rejects",
        2,
        1,
    )
    with pg.cursor() as cursor:
        cursor.execute(
            "select response_id, comment, _source_line from raw.survey_responses order by 3"
        )
        assert cursor.fetchall() == [("R1", None, 2), ("R2", "a, b", 3)]
        cursor.execute("select line, error_type from audit.rejected_rows")
        assert cursor.fetchall() == [(4, "wrong_column_count")]
        cursor.execute("select status from audit.load_manifest")
        assert cursor.fetchall() == [("loaded_with_rejects",)]
    pg.close()


# Not compared in the marts: when the row's file was loaded and the row written (two loads,
# two builds; rpt_build_info's build and load times likewise), and the period checksum,
# engine-specific by design (DuckDB's hash() on DuckDB, md5 on PostgreSQL; each engine
# only compares it with its own earlier value).
ENGINE_SPECIFIC = NOT_COMPARED | {
    "refreshed_at",
    "built_at",
    "source_loaded_at",
    "newest_answer_loaded_at",
    "source_checksum",
    "last_seen_at",
}


def assert_same_tables(duck, tables, excluded, rows_of) -> None:
    """Every table has the same rows on the other engine (`rows_of(sql)`: its rows) as in
    the DuckDB connection, at least one, floats within 1e-9: compared by the DuckDB
    table's columns less `excluded`, sorted by every compared column, nulls last."""
    for table in tables:
        columns = compared_columns(duck, table, excluded)
        sql = f"select {', '.join(columns)} from {table} order by " + ", ".join(
            f"{c} nulls last" for c in columns
        )
        on_duckdb, on_other = duck.execute(sql).fetchall(), rows_of(sql)
        assert len(on_other) == len(on_duckdb) > 0, table
        for left, right in zip(on_duckdb, on_other, strict=True):
            differing = [
                (column, a, b)
                for column, a, b in zip(columns, left, right, strict=True)
                if not same_value(a, b)
            ]
            assert not differing, (table, left[:3], differing)


def same_value(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def ces_build(target: str, landing: Path, warehouse_dir: Path, capsys) -> str:
    """`ces build --target <target>`: the exit code must be 0; what it printed."""
    from orchestration.cli import main

    code = main(
        ["build", "--target", target, "--landing", str(landing), "--warehouse", str(warehouse_dir)]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    return printed


def parity_builds(
    target: str, landing: Path, duck_dir: Path, other_dir: Path, capsys, second_batch: int
) -> tuple[str, str]:
    """`ces build` on DuckDB and on `target` from the same landing files, then again
    after a second batch of `second_batch` answers (new ids, and their tickets) for the
    following two weeks: what the two incremental builds printed, DuckDB's first. The
    clock is pinned to the morning after the second batch, so that the marts of the
    latest days (alerts, the follow-up queue) have rows to compare."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CES_NOW", "2026-04-15T06:00:00Z")
        for name, folder in (("duckdb", duck_dir), (target, other_dir)):
            ces_build(name, landing, folder, capsys)
        generate_sample(
            landing,
            responses=second_batch,
            days=14,
            seed=9,
            end_date=date(2026, 4, 14),
            id_offset=10**6,
        )
        return ces_build("duckdb", landing, duck_dir, capsys), ces_build(
            target, landing, other_dir, capsys
        )


def test_every_mart_has_the_same_rows_on_postgres_and_duckdb(
    pg_database, dbt_manifest, settings, sample_landing, tmp_path, capsys
):
    """Parity: `ces build --target duckdb` and `ces build --target postgres` on the same
    landing files, then again after a second batch arrived (an incremental build), give
    every mart the same rows and values (floats within 1e-9). On PostgreSQL the serving
    step verified that bi_reader reads the marts and nothing else."""
    duck_dir, pg_dir = tmp_path / "wh_duckdb", tmp_path / "wh_postgres"
    on_duckdb, printed = parity_builds("postgres", sample_landing, duck_dir, pg_dir, capsys, 400)
    assert "warehouse: postgresql://" in printed and "/" + pg_database["CES_PG_DATABASE"] in printed
    assert "marts served in place to the PostgreSQL role bi_reader: grants verified" in printed
    assert f"CES report: {pg_dir / 'report' / 'index.html'} (browser check " in printed
    assert not (pg_dir / "ces.duckdb").exists()
    # the second builds were incremental, and recomputed the same answers and periods
    recomputed = re.compile(r"recomputed by this build: ([\d,]+) CES answers.*")
    pg = warehouse.connect_postgres(PostgresConnection.from_env())
    total = postgres_query(pg, "select count(*) from marts.fct_ces_responses")[0][0]
    assert 0 < int(recomputed.search(printed).group(1).replace(",", "")) < total, printed
    assert recomputed.search(printed).group(0) == recomputed.search(on_duckdb).group(0)
    duck = duckdb.connect(str(duck_dir / "ces.duckdb"), read_only=True)
    marts = [
        name
        for (name,) in duck.execute(
            "select table_name from duckdb_tables() where schema_name = 'marts' order by 1"
        ).fetchall()
    ]
    assert len(marts) == 19
    assert_same_tables(
        duck, [f"marts.{t}" for t in marts], ENGINE_SPECIFIC, lambda sql: postgres_query(pg, sql)
    )
    pg.close()
    duck.close()
    assert_bi_reader_sees_only_marts(pg_database)
    assert_serving_step_refuses_wrong_grants()
    assert_quality_gates_agree(duck_dir / "ces.duckdb", pg_dir / "ces.duckdb")


def assert_serving_step_refuses_wrong_grants() -> None:
    """The serving step's check on PostgreSQL names a mart bi_reader cannot read and a raw
    table it can."""
    import dagster as dg

    from orchestration.assets.publish import mart_models
    from orchestration.engines.postgres import PostgresEngine, check_postgres_serving

    admin = warehouse.connect_postgres(PostgresConnection.from_env())
    admin.autocommit = True
    postgres_query(
        admin,
        "grant usage on schema raw to bi_reader; grant select on raw.tickets to bi_reader; "
        "revoke select on marts.dim_date from bi_reader; select 1",
    )
    admin.close()
    engine = PostgresEngine(Path("unused"), PostgresConnection.from_env())
    with engine.reading() as db, pytest.raises(dg.Failure) as failure:
        check_postgres_serving(db, mart_models())
    assert failure.value.description == (
        "bi_reader cannot read marts dim_date; bi_reader can read tables outside marts: raw.tickets"
    )


def assert_quality_gates_agree(duck_path: Path, postgres_docs: Path) -> None:
    """Great Expectations by SQL push-down on PostgreSQL agrees with DuckDB."""
    from orchestration.engines import PostgresEngine

    assert_same_expectation_outcomes(
        PostgresEngine(postgres_docs.parent, PostgresConnection.from_env()), duck_path
    )


def assert_same_expectation_outcomes(engine, duck_path: Path, observed=lambda value: value):
    """Every expectation of every suite has the same outcome and observed value
    (`observed` of it) on `engine`'s warehouse as on the DuckDB warehouse at `duck_path`,
    and none errors."""
    from orchestration import quality
    from orchestration.engines import DuckDBEngine

    suites = quality.load_suites()
    on_duckdb = quality.validate_suites(suites, DuckDBEngine(duck_path))
    on_engine = quality.validate_suites(suites, engine)

    def outcomes(results):
        return sorted(
            (
                *(r.suite.name, o.expectation_type, o.column or "", o.success),
                observed(o.observed),
                -1 if o.unexpected_count is None else o.unexpected_count,
            )
            for r in results
            for o in r.outcomes
        )

    assert len(outcomes(on_engine)) > 40
    assert outcomes(on_engine) == outcomes(on_duckdb)
    assert not [o for r in on_engine for o in r.failed_errors]


def assert_bi_reader_sees_only_marts(env: dict[str, str]) -> None:
    """Connected as bi_reader: every mart reads; raw, audit, staging and intermediate
    refuse."""
    import psycopg2
    from psycopg2 import errors

    reader = warehouse.connect_postgres(
        PostgresConnection.from_env(), user="bi_reader", password=""
    )
    reader.autocommit = True
    try:
        for table in ("marts.fct_ces_touchpoint_period", "marts.fct_ces_responses"):
            assert postgres_query(reader, f"select count(*) from {table}")[0][0] > 0
        for table in (
            "raw.survey_responses",
            "audit.load_manifest",
            "audit.rejected_rows",
            "audit.audit_rejected_answers",
            "staging.stg_landing__survey_responses",
            "intermediate.int_answers_scored",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                postgres_query(reader, f"select count(*) from {table}")
        with pytest.raises(psycopg2.Error):
            postgres_query(reader, "create table marts.mine (x int)")
    finally:
        reader.close()
