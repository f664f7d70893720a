"""Great Expectations quality gates: suites from expectations/*.json, validated by SQL
push-down against the warehouse, summarised for Dagster asset checks.

Each suite file names the table it validates and gives every expectation a severity in
its `meta`: `error` expectations block publishing, `warn` ones are reported only.

DuckDB and GE: GE's SQL engine reads query results after handing the connection back to
the pool, and duckdb-engine drops unread results at that point ("list index out of
range" on every expectation). `install_duckdb_result_buffering` buffers each cursor's
rows as soon as the statement ran (DuckDB dialect only), so validation runs as SQL in
the database and no table is ever loaded into pandas.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestration.settings import PROJECT_DIR

if TYPE_CHECKING:
    from orchestration.engines import Engine

SUITES_DIR = PROJECT_DIR / "expectations"
SEVERITIES = ("error", "warn")
WAREHOUSE_SEARCH_PATH = "marts,intermediate,registry,audit,staging,raw,main"
DOCS_SITE = "ces_data_docs"

_buffering_installed = False
# Pool records of the DuckDB connections GE opened; closed after each validation.
_open_duckdb_connections: list = []
_context_lock = threading.Lock()


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    schema: str
    table: str
    asset_key: tuple[str, ...]
    description: str
    expectations: list[dict[str, Any]]
    path: Path

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass
class ExpectationOutcome:
    expectation_type: str
    column: str | None
    severity: str
    success: bool
    observed: str
    unexpected_count: int | None = None
    sample: list[Any] = field(default_factory=list)
    note: str = ""

    def describe(self) -> str:
        where = f"{self.column}: " if self.column else ""
        return f"{self.expectation_type} ({where}{self.observed})"


@dataclass
class SuiteOutcome:
    suite: SuiteSpec
    outcomes: list[ExpectationOutcome]
    data_docs_index: Path | None

    @property
    def failed_errors(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "error"]

    @property
    def failed_warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "warn"]


def load_suites(suites_dir: Path | None = None) -> list[SuiteSpec]:
    """Every suite file, checked for the fields the gate relies on."""
    folder = suites_dir or SUITES_DIR
    suites = []
    for path in sorted(folder.glob("*.json")):
        spec = json.loads(path.read_text(encoding="utf-8"))
        for expectation in spec["expectations"]:
            severity = expectation.get("meta", {}).get("severity")
            if severity not in SEVERITIES:
                raise ValueError(
                    f"{path.name}: expectation {expectation['type']} needs meta.severity "
                    f"'error' or 'warn', found {severity!r}"
                )
        suites.append(
            SuiteSpec(
                name=path.stem,
                schema=spec["schema"],
                table=spec["table"],
                asset_key=tuple(spec["asset_key"]),
                description=spec.get("description", ""),
                expectations=spec["expectations"],
                path=path,
            )
        )
    return suites


def install_duckdb_result_buffering() -> None:
    """Buffer every DuckDB cursor's rows right after execution (see module docstring), and
    give DuckDB connections a search path over the warehouse's schemas."""
    global _buffering_installed
    if _buffering_installed:
        return
    from duckdb_engine import ConnectionWrapper
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    @event.listens_for(Pool, "connect")
    def _search_path(dbapi_connection, connection_record):
        # GE's column reflection falls back to an unqualified "select * from <table>":
        # let DuckDB find the warehouse's tables in every schema the suites validate.
        if isinstance(dbapi_connection, ConnectionWrapper):
            present = {
                row[0]
                for row in dbapi_connection.execute(
                    "select schema_name from duckdb_schemas()"
                ).fetchall()
            }
            path = ",".join(s for s in WAREHOUSE_SEARCH_PATH.split(",") if s in present)
            dbapi_connection.execute(f"set search_path = '{path}'")
            _open_duckdb_connections.append(connection_record)

    @event.listens_for(Engine, "after_cursor_execute")
    def _buffer_rows(conn, cursor, statement, parameters, context, executemany):
        if conn.dialect.name != "duckdb" or cursor.description is None:
            return
        description = cursor.description
        rows = cursor.fetchall()
        position = 0

        def fetchone():
            nonlocal position
            if position >= len(rows):
                return None
            position += 1
            return rows[position - 1]

        def fetchmany(size=None):
            nonlocal position
            size = size or 1
            chunk = rows[position : position + size]
            position += len(chunk)
            return chunk

        def fetchall():
            nonlocal position
            rest = rows[position:]
            position = len(rows)
            return rest

        cursor.description = description
        cursor.fetchone, cursor.fetchmany, cursor.fetchall = fetchone, fetchmany, fetchall

    _buffering_installed = True


def close_validation_connections() -> None:
    """Close every DuckDB connection GE's engines opened. DuckDB refuses a second
    connection to a file, in one process, with other settings than an open one, so a
    connection GE's pool kept would stop the next reader or writer of the warehouse."""
    while _open_duckdb_connections:
        _open_duckdb_connections.pop().invalidate()


def build_expectations(suite: SuiteSpec) -> list:
    """GE expectation objects for a suite file's entries.

    The suite is built from the full list at once: adding expectations one by one lets GE
    merge every `unexpected_rows_expectation` of a suite into one (they share no column).
    """
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    return [
        ExpectationConfiguration(
            type=raw["type"], kwargs=dict(raw.get("kwargs", {})), meta=raw.get("meta", {})
        ).to_domain_obj()
        for raw in suite.expectations
    ]


def _context(warehouse_dir: Path):
    """A file-backed GE context under <warehouse>/gx with the Data Docs site configured."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=str(warehouse_dir))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    docs_dir = warehouse_dir / "data_docs"
    if DOCS_SITE not in context.get_site_names():
        context.add_data_docs_site(
            site_name=DOCS_SITE,
            site_config={
                "class_name": "SiteBuilder",
                # the index lists the latest results only; every result keeps its page
                "site_index_builder": {
                    "class_name": "DefaultSiteIndexBuilder",
                    "validation_results_limit": 100,
                },
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
            },
        )
    return context


def validate_suite(suite: SuiteSpec, engine: Engine, sample_size: int = 5) -> SuiteOutcome:
    """Run one suite against its table by SQL push-down and build the Data Docs."""
    return validate_suites([suite], engine, sample_size)[0]


def validate_suites(
    suites: list[SuiteSpec], engine: Engine, sample_size: int = 5
) -> list[SuiteOutcome]:
    """Run the suites against their tables by SQL push-down, in one GE checkpoint: one
    context, one connection pool and one Data Docs rebuild for all of them. The tables are
    read through the engine's datasource; the GE context and Data Docs live in its
    warehouse folder."""
    import great_expectations as gx

    install_duckdb_result_buffering()
    with _context_lock:
        context = _context(engine.warehouse_dir)
        datasource = engine.add_ge_datasource(context, "ces_warehouse")
        existing = {a.name for a in datasource.assets}
        validations = []
        for suite in suites:
            asset_name = f"{suite.schema}.{suite.table}"
            if asset_name in existing:
                datasource.delete_asset(asset_name)
            asset = datasource.add_table_asset(
                name=asset_name, table_name=suite.table, schema_name=suite.schema
            )
            existing.add(asset_name)
            batch = asset.add_batch_definition_whole_table("whole_table")
            expectation_suite = context.suites.add_or_update(
                gx.ExpectationSuite(name=suite.name, expectations=build_expectations(suite))
            )
            validations.append(
                context.validation_definitions.add_or_update(
                    gx.ValidationDefinition(name=suite.name, data=batch, suite=expectation_suite)
                )
            )
        name = suites[0].name if len(suites) == 1 else "ces_quality_gates"
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=f"{name}_checkpoint",
                validation_definitions=validations,
                result_format={
                    "result_format": "SUMMARY",
                    "partial_unexpected_count": sample_size,
                },
            )
        )
        try:
            result = checkpoint.run()
        finally:
            close_validation_connections()
        # The pages of these results and the index, built once (GE's UpdateDataDocsAction
        # rebuilds the index and copies the static assets once per suite).
        context.build_data_docs(
            site_names=[DOCS_SITE], resource_identifiers=list(result.run_results.keys())
        )
    by_suite = {r.suite_name: r for r in result.run_results.values()}
    outcomes = []
    for suite in suites:
        outcome = SuiteOutcome(
            suite=suite,
            outcomes=[_outcome(r) for r in by_suite[suite.name].results],
            data_docs_index=None,
        )
        with _context_lock:
            outcome.data_docs_index = write_quality_index(
                engine.warehouse_dir / "data_docs", outcome
            )
        outcomes.append(outcome)
    return outcomes


def prewarm() -> threading.Thread:
    """Import Great Expectations in a background thread (about 2.5 s of the fixed overhead):
    `ces build` starts it when the dbt subprocess starts, so the import overlaps dbt's run
    instead of delaying the checks."""

    def _import() -> None:
        import great_expectations  # noqa: F401

    thread = threading.Thread(target=_import, name="ge-prewarm", daemon=True)
    thread.start()
    return thread


def _latest_validation_page(docs_dir: Path, suite_name: str) -> str | None:
    pages = sorted((docs_dir / "validations" / suite_name).glob("*/*/*.html"))
    return pages[-1].relative_to(docs_dir).as_posix() if pages else None


def write_quality_index(docs_dir: Path, outcome: SuiteOutcome) -> Path:
    """Record this suite's result and rewrite `quality.html`: a self-contained page listing
    every suite's latest result with a link to its GE validation page. GE's own index.html
    builds its list with scripts from CDNs, so it shows nothing on a machine offline."""
    import html
    from datetime import UTC, datetime

    status_dir = docs_dir / "ces_status"
    status_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "suite": outcome.suite.name,
        "table": outcome.suite.qualified_table,
        "validated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "evaluated": len(outcome.outcomes),
        "failed_error": [o.describe() for o in outcome.failed_errors],
        "failed_warn": [o.describe() for o in outcome.failed_warnings],
        "page": _latest_validation_page(docs_dir, outcome.suite.name),
    }
    (status_dir / f"{outcome.suite.name}.json").write_text(json.dumps(record, indent=2))
    rows = []
    for path in sorted(status_dir.glob("*.json")):
        r = json.loads(path.read_text())
        state = "FAILED" if r["failed_error"] else ("WARNING" if r["failed_warn"] else "passed")
        problems = "<br>".join(html.escape(p) for p in [*r["failed_error"], *r["failed_warn"]])
        link = html.escape(r["suite"])
        if r["page"]:
            link = f'<a href="{html.escape(r["page"])}">{link}</a>'
        rows.append(
            f"<tr class='{state.lower()}'><td>{link}</td><td>{html.escape(r['table'])}</td>"
            f"<td>{state}</td><td>{r['evaluated']}</td><td>{problems or '&ndash;'}</td>"
            f"<td>{html.escape(r['validated_at'])}</td></tr>"
        )
    page = docs_dir / "quality.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>CES warehouse quality</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.4em .8em;text-align:left;vertical-align:top}"
        ".failed td{background:#fdd}.warning td{background:#ffd}.passed td{background:#efe}"
        "</style></head><body><h1>CES warehouse: quality checks</h1>"
        "<p>Latest Great Expectations validation of each suite in <code>expectations/</code>. "
        "FAILED = an error-severity expectation failed (the serving copy was not published); "
        "WARNING = a warn-severity expectation failed (reported only). Links open the full "
        "GE validation page.</p><table><tr><th>suite</th><th>table</th><th>status</th>"
        "<th>expectations</th><th>failed</th><th>validated</th></tr>"
        + "".join(rows)
        + "</table></body></html>",
        encoding="utf-8",
    )
    return page


def _outcome(result) -> ExpectationOutcome:
    config = result.expectation_config
    details = result.result or {}
    severity = (config.meta or {}).get("severity", "error")
    exception = _exception_message(result.exception_info or {})
    if exception:
        observed = f"could not be evaluated: {exception}"
    elif config.type == "unexpected_rows_expectation":
        observed = f"{details.get('observed_value')} unexpected row(s)"
    elif "observed_value" in details:
        observed = f"observed {details['observed_value']!r}"
    elif details.get("unexpected_count") is not None:
        observed = f"{details['unexpected_count']} unexpected of {details.get('element_count')}"
    else:
        observed = "ok" if result.success else "failed"
    sample = details.get("partial_unexpected_list") or details.get("details", {}).get(
        "unexpected_rows", []
    )
    return ExpectationOutcome(
        expectation_type=config.type,
        column=config.kwargs.get("column") or config.kwargs.get("column_A"),
        severity=severity,
        success=bool(result.success),
        observed=observed,
        unexpected_count=details.get("unexpected_count"),
        sample=[_jsonable(v) for v in list(sample)[:5]],
        note=(config.meta or {}).get("notes", ""),
    )


def _exception_message(info: dict) -> str | None:
    """GE reports an error either directly or per metric that failed to compute (keyed by
    metric id): the first message found."""
    if info.get("exception_message"):
        return info["exception_message"]
    for value in info.values():
        if isinstance(value, dict) and value.get("exception_message"):
            return value["exception_message"]
    return None


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)
