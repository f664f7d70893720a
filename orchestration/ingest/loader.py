"""Load landing files into `raw.*`, recording every file in `audit.load_manifest` and every
structurally bad record in `audit.rejected_rows`.

Guarantees (tested in tests/test_ingest.py):
- each file loads in one transaction: a crash before commit leaves the warehouse as it was;
- per file, rows landed = rows loaded into raw + rows rejected;
- a file whose content (sha256) was already loaded for the stream is not read again;
- a bad record never stops the good records of its file from loading.

DuckDB's own readers parse the files (read_csv with a rejects table, read_parquet); Python
touches only the header, the byte-level encoding check and the rejected records.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration.ingest import vendors
from orchestration.ingest.contract import SUPPORTED_EXTENSIONS, Stream, visible_files
from orchestration.ingest.sinks import DuckDBSink, Sink
from orchestration.ingest.sources import SourceConfig
from orchestration.ingest.staging import (
    FileFacts,
    FileLoadResult,
    UnreadableFileError,
    choose_text_encoding,
    column_key,
    contract_select,
    duckdb_reader_rejects,
    extra_json,
    read_header_records,
    read_json_lines,
    reject_options,
    scan_file,
)
from orchestration.sql import sql_identifier, sql_literal

# Hooks called after a file's rows are inserted and before its transaction commits.
# Production code registers none; the atomicity test registers one that kills the process.
BEFORE_COMMIT_HOOKS: list[Callable[[FileLoadResult], None]] = []


def discover_files(folder: Path) -> list[Path]:
    """Every regular, non-hidden file below the stream's folder, in name order."""
    if not folder.is_dir():
        return []
    return visible_files(folder.rglob("*"), folder)


def load_stream(
    conn: duckdb.DuckDBPyConnection,
    stream: Stream,
    landing_dir: Path,
    sources: Sequence[SourceConfig] = (),
    sink: Sink | None = None,
) -> list[FileLoadResult]:
    """Load every file of one stream that the manifest has not seen yet: the contract
    folder, then the files of each vendor source (config/sources/) feeding this stream.
    `conn` reads and stages the files; `sink` (default: the same DuckDB file) receives
    the rows, rejects and manifest records (orchestration/ingest/sinks.py).

    A file whose load fails unexpectedly (an I/O error, a bug) is rolled back, recorded as
    `failed` in the manifest and retried on the next run; the other files still load.
    """
    work: list[tuple[Path, SourceConfig | None]] = [
        (path, None) for path in discover_files(landing_dir / stream.folder)
    ]
    for source in sources:
        if stream.name in source.streams:
            work += [(path, source) for path in source.matches(landing_dir)]
    sink = sink or DuckDBSink(conn)
    results = []
    for path, source in work:
        try:
            results.append(load_landing_file(conn, stream, path, landing_dir, source, sink))
        except Exception as error:
            results.append(record_failed_file(sink, stream, path, landing_dir, error, source))
    return results


def _file_format(path: Path, source: SourceConfig | None) -> str:
    if source is not None:
        return source.format
    return SUPPORTED_EXTENSIONS.get(path.suffix.lower(), "unsupported")


def load_landing_file(
    conn: duckdb.DuckDBPyConnection,
    stream: Stream,
    path: Path,
    landing_dir: Path,
    source: SourceConfig | None = None,
    sink: Sink | None = None,
) -> FileLoadResult:
    """Load one file in one transaction and return what happened to it. With a source
    config the file is a vendor export read as that config says (orchestration/ingest/
    vendors.py); the guarantees are the same."""
    sink = sink or DuckDBSink(conn)
    started = time.perf_counter()
    relative = path.relative_to(landing_dir).as_posix()
    file_format = _file_format(path, source)
    facts = scan_file(path)
    result = FileLoadResult(
        stream=stream.name,
        file_path=relative,
        file_hash=facts.sha256,
        file_format=file_format,
        status="loaded",
    )
    seen_rows = sink.execute(
        "select file_path, status from audit.load_manifest "
        "where stream = ? and file_hash = ? and status <> 'failed' "
        "order by (file_path = ?) desc, loaded_at limit 1",
        [stream.name, facts.sha256, relative],
    )
    seen = seen_rows[0] if seen_rows else None
    if seen is not None and seen[0] == relative:
        result.status = "already_loaded"
        return result

    # Everything that may fail on a bad file is probed before the transaction opens:
    # a DuckDB error inside a transaction aborts it.
    plan = _FilePlan()
    vendor_plan = None
    if seen is not None:
        result.status = "duplicate_content"
        result.warnings.append(f"same content as {seen[0]}, already loaded: not read again")
    elif file_format == "unsupported":
        result.status = "unsupported_format"
        result.warnings.append(
            f"extension {path.suffix or '(none)'} is not a landing format "
            f"({', '.join(sorted(SUPPORTED_EXTENSIONS))}): file not read"
        )
    elif facts.size == 0:
        result.status = "empty"
    else:
        try:
            if source is not None:
                vendor_plan = vendors.plan_vendor_file(conn, source, path, facts, result)
            else:
                plan = _plan_file(conn, stream, path, facts, result)
        except UnreadableFileError as error:
            plan = _FilePlan(unreadable=error)

    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    conn.execute("begin transaction")
    try:
        if plan.unreadable is not None:
            _stage_unreadable(conn, path, plan.unreadable)
            _write_staged(conn, sink, stream, result, loaded_at)
        elif result.status == "loaded" and vendor_plan is not None:
            _create_reject_stage(conn)
            result.skipped = vendors.stage_vendor_file(conn, source, stream.name, path, vendor_plan)
            _write_staged(conn, sink, stream, result, loaded_at)
        elif result.status == "loaded":
            _stage_file(conn, stream, path, plan, result)
            _write_staged(conn, sink, stream, result, loaded_at)
        result.duration_ms = int((time.perf_counter() - started) * 1000)
        sink.execute(  # a retry replaces the record of an earlier failed attempt
            "delete from audit.load_manifest "
            "where stream = ? and file_path = ? and file_hash = ? and status = 'failed'",
            [stream.name, relative, facts.sha256],
        )
        _record_manifest(sink, result, facts, loaded_at)
        for hook in BEFORE_COMMIT_HOOKS:
            hook(result)
        sink.commit()
        conn.execute("commit")
    except BaseException:
        sink.rollback()
        conn.execute("rollback")
        raise
    finally:
        conn.execute("drop table if exists _stage")
        conn.execute("drop table if exists _stage_rejects")
    return result


def record_failed_file(
    sink: Sink,
    stream: Stream,
    path: Path,
    landing_dir: Path,
    error: Exception,
    source: SourceConfig | None = None,
) -> FileLoadResult:
    """Record a file whose load failed unexpectedly (nothing of it was kept; retried next run)."""
    facts = scan_file(path)
    result = FileLoadResult(
        stream=stream.name,
        file_path=path.relative_to(landing_dir).as_posix(),
        file_hash=facts.sha256,
        file_format=_file_format(path, source),
        status="failed",
        warnings=[f"load failed, nothing kept, retried next run: {type(error).__name__}: {error}"],
    )
    sink.rollback()  # whatever the failed attempt left open
    sink.execute(
        "delete from audit.load_manifest where stream = ? and file_path = ? and file_hash = ?",
        [result.stream, result.file_path, result.file_hash],
    )
    _record_manifest(sink, result, facts, datetime.now(UTC).replace(tzinfo=None))
    sink.commit()
    return result


@dataclass
class _FilePlan:
    """How to read a file, decided before its transaction opens."""

    encoding: str | None = None
    names: list[str] = field(default_factory=list)  # column names in file order
    mapping: dict[str, int] = field(default_factory=dict)  # contract field -> position
    extras: list[int] = field(default_factory=list)  # positions the contract does not know
    empty: bool = False
    unreadable: UnreadableFileError | None = None


def _plan_file(
    conn: duckdb.DuckDBPyConnection,
    stream: Stream,
    path: Path,
    facts: FileFacts,
    result: FileLoadResult,
) -> _FilePlan:
    if result.file_format == "parquet":
        try:
            described = conn.execute(
                f"describe select * from read_parquet({sql_literal(str(path))})"
            ).fetchall()
        except duckdb.Error as error:
            raise UnreadableFileError(
                "unreadable_file", f"not a readable Parquet file: {error}".splitlines()[0]
            ) from error
        names = [row[0] for row in described]
        mapping, extras = _match_columns(stream, names)
        return _FilePlan(names=names, mapping=mapping, extras=extras)

    encoding = choose_text_encoding(facts, result)
    result.encoding = encoding
    if result.file_format == "jsonl":
        return _FilePlan(encoding=encoding)
    if facts.has_blank_line:
        result.warnings.append(
            "file has blank lines: they are skipped, and _source_line of later rows may be "
            "lower than the physical line by the number of blank lines before them"
        )
    header = _read_csv_header(path, encoding)
    if header is None:
        return _FilePlan(encoding=encoding, empty=True)
    mapping, extras = _match_columns(stream, header)
    return _FilePlan(encoding=encoding, names=header, mapping=mapping, extras=extras)


# --- staging a file into the temp tables `_stage` (good rows) and `_stage_rejects` ---------


def _create_reject_stage(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(
        "create or replace temp table _stage_rejects "
        "(line bigint, error_type varchar, reason varchar, raw_text varchar)"
    )


def _stage_unreadable(conn: duckdb.DuckDBPyConnection, path: Path, error: UnreadableFileError):
    """A file that cannot be parsed at all is one rejected record naming the reason."""
    conn.execute("drop table if exists _stage")
    _create_reject_stage(conn)
    with path.open("rb") as handle:
        head = handle.read(200)
    conn.execute(
        "insert into _stage_rejects values (?, ?, ?, ?)",
        [error.line, error.error_type, error.reason, head.decode("latin-1")],
    )


def _stage_file(
    conn: duckdb.DuckDBPyConnection,
    stream: Stream,
    path: Path,
    plan: _FilePlan,
    result: FileLoadResult,
) -> None:
    _create_reject_stage(conn)
    if result.file_format == "parquet":
        _stage_parquet(conn, stream, path, plan)
    elif result.file_format == "jsonl":
        _stage_jsonl(conn, stream, path, plan.encoding or "utf-8")
    elif not plan.empty:
        _stage_csv(conn, stream, path, plan)


def _read_csv_header(path: Path, encoding: str) -> list[str] | None:
    """The header record, parsed by Python's csv module (quoted names allowed)."""
    records = read_header_records(path, encoding, count=1)
    header = records[0] if records else None
    if header is not None and not any(cell.strip() for cell in header):
        # only then read on: a record after the header may be far longer than csv allows
        if len(read_header_records(path, encoding, count=2)) > 1:
            raise UnreadableFileError(
                "missing_header", "line 1 is blank: the header must be on the first line"
            )
        return None
    return header


def _match_columns(stream: Stream, names: Iterable[str]) -> tuple[dict[str, int], list[int]]:
    """Map contract fields to file column positions (case and surrounding blanks ignored).

    Returns the mapping and the positions of columns the contract does not know.
    """
    mapping: dict[str, int] = {}
    extras: list[int] = []
    for position, name in enumerate(names):
        key = column_key(name)
        if key in stream.columns:
            if key in mapping:
                raise UnreadableFileError(
                    "duplicate_column", f"column {key!r} appears twice in the header"
                )
            mapping[key] = position
        else:
            extras.append(position)
    return mapping, extras


def _missing_required(stream: Stream, mapping: dict[str, int]) -> list[str]:
    return [name for name in stream.required if name not in mapping]


def _stage_csv(conn: duckdb.DuckDBPyConnection, stream: Stream, path: Path, plan: _FilePlan):
    header, mapping, encoding = plan.names, plan.mapping, plan.encoding or "utf-8"
    positional = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header)))
    select = contract_select(stream, {k: f"c{i}" for k, i in mapping.items()})
    extras = extra_json({header[i]: f"c{i}" for i in plan.extras})
    conn.execute(
        f"""
        create or replace temp table _stage as
        select
            row_number() over () as _rec,
            row_number() over () + 1 as _line,
            {select},
            {extras} as _extra
        from read_csv(
            {sql_literal(str(path))},
            columns = {{{positional}}},
            header = true, auto_detect = false, strict_mode = true,
            delim = ',', quote = '"', escape = '"',
            encoding = {sql_literal(encoding)},
            {reject_options()}
        )
        """
    )
    duckdb_reader_rejects(conn, "_stage", header_lines=1)
    _reject_for_missing_columns(conn, stream, mapping)


def _stage_jsonl(conn: duckdb.DuckDBPyConnection, stream: Stream, path: Path, encoding: str):
    """JSON Lines: each physical line is read as text, then parsed by DuckDB's JSON functions."""
    read_json_lines(conn, path, encoding)
    required = "[" + ", ".join(sql_literal(c) for c in stream.required) + "]"
    known = "[" + ", ".join(sql_literal(c) for c in stream.columns) + "]"
    paths = "[" + ", ".join(sql_literal("$." + c) for c in stream.columns) + "]"
    field_exprs = ", ".join(
        f"_values[{i}] as {sql_identifier(c)}" for i, c in enumerate(stream.columns, start=1)
    )
    remove_known = json.dumps(dict.fromkeys(stream.columns))
    # _extra: the keys the contract does not know (the merge patch only runs when there are
    # any); _missing: required keys the object lacks.
    conn.execute(
        f"""
        create or replace temp table _stage as
        select
            _rec,
            _line,
            {field_exprs},
            case when len(list_filter(_keys, k -> not list_contains({known}, k))) > 0
                then nullif(json_merge_patch(_raw, {sql_literal(remove_known)})::varchar, '{{}}')
            end as _extra,
            list_filter({required}, k -> not list_contains(_keys, k)) as _missing
        from (
            select
                _rec, _line, _raw,
                json_extract_string(_raw, {paths}) as _values,
                json_keys(_raw) as _keys
            from _jsonl
            where _kind = 'OBJECT'
        )
        """
    )
    conn.execute(
        """
        insert into _stage_rejects
        select s._line, 'missing_required_field',
               'missing required field(s): ' || array_to_string(s._missing, ', '), j._raw
        from _stage as s join _jsonl as j on s._line = j._line
        where len(s._missing) > 0
        """
    )
    if conn.execute("select count(*) from _stage where len(_missing) > 0").fetchone()[0]:
        conn.execute("delete from _stage where len(_missing) > 0")
    conn.execute("drop table _jsonl")


def _stage_parquet(conn: duckdb.DuckDBPyConnection, stream: Stream, path: Path, plan: _FilePlan):
    names, mapping = plan.names, plan.mapping
    select = contract_select(
        stream, {k: f"{sql_identifier(names[i])}::varchar" for k, i in mapping.items()}
    )
    extras = extra_json({names[i]: f"{sql_identifier(names[i])}::varchar" for i in plan.extras})
    conn.execute(
        f"""
        create or replace temp table _stage as
        select
            file_row_number + 1 as _rec,
            file_row_number + 1 as _line,
            {select},
            {extras} as _extra
        from read_parquet({sql_literal(str(path))}, file_row_number = true)
        """
    )
    _reject_for_missing_columns(conn, stream, mapping)


def _reject_for_missing_columns(
    conn: duckdb.DuckDBPyConnection, stream: Stream, mapping: dict[str, int]
) -> None:
    """A file without a required column cannot give any row that field: reject every row."""
    missing = _missing_required(stream, mapping)
    if not missing:
        return
    reason = f"missing required column(s): {', '.join(missing)}"
    present = [c for c in stream.columns if c in mapping]
    record = ", ".join(f"{sql_identifier(c)} := {sql_identifier(c)}" for c in present)
    conn.execute(
        f"""
        insert into _stage_rejects
        select _line, 'missing_required_column', ?,
               to_json(struct_pack({record}, _extra := _extra::json))::varchar
        from _stage
        """,
        [reason],
    )
    conn.execute("delete from _stage")


# --- writing the staged file into raw, audit and the manifest -----------------------------


def _write_staged(
    conn: duckdb.DuckDBPyConnection,
    sink: Sink,
    stream: Stream,
    result: FileLoadResult,
    loaded_at: datetime,
) -> None:
    has_stage = conn.execute(
        "select count(*) from duckdb_tables() where table_name = '_stage' and temporary"
    ).fetchone()[0]
    if has_stage:
        columns = [sql_identifier(c) for c in stream.columns]
        sink.insert_select(
            conn,
            stream.qualified_table,
            [*columns, "_extra", "_source_file", "_source_line", "_loaded_at", "_file_hash"],
            f"select {', '.join(columns)}, _extra, ?, _line, ?, ? from _stage order by _line",
            [result.file_path, loaded_at, result.file_hash],
        )
        result.rows_accepted = conn.execute("select count(*) from _stage").fetchone()[0]
    sink.insert_select(
        conn,
        "audit.rejected_rows",
        REJECT_COLUMNS,
        "select ?, ?, ?, ?, line, error_type, reason, raw_text, ? "
        "from _stage_rejects order by line",
        [result.load_id, stream.name, result.file_path, result.file_hash, loaded_at],
    )
    result.rows_rejected = conn.execute("select count(*) from _stage_rejects").fetchone()[0]
    result.rows_skipped = sum(result.skipped.values())
    result.rows_landed = result.rows_accepted + result.rows_rejected + result.rows_skipped
    if result.rows_landed == 0:
        result.status = "empty"
    elif result.rows_rejected:
        result.status = "loaded_with_rejects" if result.rows_accepted else "rejected"


REJECT_COLUMNS = [
    *("load_id", "stream", "file_path", "file_hash", "line"),
    *("error_type", "reason", "raw_text", "rejected_at"),
]


def _record_manifest(
    sink: Sink, result: FileLoadResult, facts: FileFacts, loaded_at: datetime
) -> None:
    sink.execute(
        "insert into audit.load_manifest (load_id, stream, file_path, file_hash, "
        "file_size_bytes, file_format, encoding, rows_landed, rows_accepted, rows_rejected, "
        "status, warning, loaded_at, duration_ms, rows_skipped, skip_reasons) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            result.load_id,
            result.stream,
            result.file_path,
            result.file_hash,
            facts.size,
            result.file_format,
            result.encoding,
            result.rows_landed,
            result.rows_accepted,
            result.rows_rejected,
            result.status,
            result.warning,
            loaded_at,
            result.duration_ms,
            result.rows_skipped,
            json.dumps(result.skipped) if result.skipped else None,
        ],
    )


def describe_results(results: list[FileLoadResult]) -> str:
    """One line per file, for logs."""
    out = io.StringIO()
    for r in results:
        out.write(
            f"{r.file_path}: {r.status}, landed {r.rows_landed}, loaded {r.rows_accepted}, "
            f"rejected {r.rows_rejected}"
            + (f", skipped {r.rows_skipped} ({_skips(r.skipped)})" if r.rows_skipped else "")
            + (f" ({r.warning})" if r.warning else "")
            + "\n"
        )
    return out.getvalue()


def _skips(skipped: dict[str, int]) -> str:
    return "; ".join(f"{reason}: {n}" for reason, n in skipped.items())
