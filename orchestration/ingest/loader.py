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

import codecs
import csv
import hashlib
import io
import json
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration.ingest.contract import SUPPORTED_EXTENSIONS, Stream
from orchestration.ingest.sinks import DuckDBSink, Sink
from orchestration.ingest.sources import SourceConfig

_CHUNK = 1 << 20
_MAX_LINE_BYTES = 8 << 20

# Hooks called after a file's rows are inserted and before its transaction commits.
# Production code registers none; the atomicity test registers one that kills the process.
BEFORE_COMMIT_HOOKS: list[Callable[[FileLoadResult], None]] = []

# DuckDB's CSV error types, as the audit table names them, with a sentence for humans.
_CSV_ERRORS: dict[str, tuple[str, str]] = {
    "TOO MANY COLUMNS": ("wrong_column_count", "wrong column count"),
    "MISSING COLUMNS": ("wrong_column_count", "wrong column count"),
    "UNQUOTED VALUE": ("malformed_quoting", "malformed quoting"),
    "INVALID STATE": ("malformed_quoting", "malformed quoting"),
    "INVALID ENCODING": ("invalid_encoding", "invalid UTF-8 byte sequence"),
    "LINE SIZE OVER MAXIMUM": ("line_too_long", f"line longer than {_MAX_LINE_BYTES} bytes"),
}


class UnreadableFileError(Exception):
    """The file cannot be read as the format its name says (the whole file is rejected)."""

    def __init__(self, error_type: str, reason: str, line: int | None = 1):
        super().__init__(reason)
        self.error_type = error_type
        self.reason = reason
        self.line = line


@dataclass
class FileLoadResult:
    stream: str
    file_path: str
    file_hash: str
    file_format: str
    status: str
    rows_landed: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    # records that are not rows of this stream by design (e.g. a ticket never rated):
    # counted with their reason, neither loaded nor rejected
    rows_skipped: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    encoding: str | None = None
    warnings: list[str] = field(default_factory=list)
    duration_ms: int = 0
    load_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def warning(self) -> str | None:
        return "; ".join(self.warnings) or None


@dataclass
class _FileFacts:
    """What one streaming pass over the bytes tells: hash, size, encoding, oddities."""

    sha256: str
    size: int
    is_utf8: bool
    has_nul: bool
    has_blank_line: bool
    utf16_bom: bool


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_identifier(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def scan_file(path: Path) -> _FileFacts:
    """Hash the file and check its encoding in one streaming pass (constant memory)."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    is_utf8 = True
    size = 0
    has_nul = False
    has_blank = False
    first = b""
    previous_tail = b""
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            if not first:
                first = chunk[:4]
            digest.update(chunk)
            size += len(chunk)
            has_nul = has_nul or b"\x00" in chunk
            window = previous_tail + chunk
            has_blank = has_blank or b"\n\n" in window or b"\n\r\n" in window
            previous_tail = chunk[-2:]
            if is_utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    is_utf8 = False
    if is_utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            is_utf8 = False
    return _FileFacts(
        sha256=digest.hexdigest(),
        size=size,
        is_utf8=is_utf8,
        has_nul=has_nul,
        has_blank_line=has_blank,
        utf16_bom=first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)),
    )


def choose_text_encoding(facts: _FileFacts, result: FileLoadResult) -> str:
    """UTF-8 (with or without BOM) is the contract; Latin-1 is read with a warning."""
    if facts.utf16_bom or facts.has_nul:
        raise UnreadableFileError(
            "unreadable_encoding",
            "file is not text in UTF-8 or Latin-1 (UTF-16 byte-order mark or NUL bytes); "
            "re-export it as UTF-8",
        )
    if facts.is_utf8:
        return "utf-8"
    result.warnings.append(
        "file is not valid UTF-8: read as Latin-1 (ISO-8859-1); check accented characters"
    )
    return "latin-1"


def discover_files(folder: Path) -> list[Path]:
    """Every regular, non-hidden file below the stream's folder, in name order."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


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
    from orchestration.ingest import vendors

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
    facts: _FileFacts,
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
    python_encoding = "utf-8-sig" if encoding == "utf-8" else encoding
    with path.open("r", encoding=python_encoding, newline="") as handle:
        records = csv.reader(handle)
        header = next(records, None)
        if header is not None and not any(cell.strip() for cell in header):
            if next(records, None) is not None:
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
        key = name.strip().lower()
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


def _duckdb_reader_rejects(conn: duckdb.DuckDBPyConnection, table: str, header_lines: int) -> None:
    """Move DuckDB's reader rejects into `_stage_rejects` and fix up good rows' line numbers.

    DuckDB numbers reject lines itself; good rows only carry their order (`_rec`). With
    the sorted reject lines r_1 < r_2 < ..., the k-th good row follows reject i exactly when
    fewer than k good rows precede reject i, i.e. when r_i - header_lines - i < k.
    """
    cases = " ".join(
        f"when {sql_literal(k)} then {sql_literal(code)}" for k, (code, _) in _CSV_ERRORS.items()
    )
    texts = " ".join(
        f"when {sql_literal(k)} then {sql_literal(text)}" for k, (_, text) in _CSV_ERRORS.items()
    )
    conn.execute(
        f"""
        insert into _stage_rejects
        select
            line::bigint,
            first(case upper(error_type::varchar) {cases} else 'malformed_record' end),
            first(case upper(error_type::varchar) {texts} else 'malformed record' end)
                || ': ' || string_agg(distinct error_message, '; '),
            first(csv_line)
        from _reader_rejects
        group by line
        """
    )
    conn.execute(
        f"""
        create or replace temp table _line_shift as
        select line - {header_lines} - row_number() over (order by line) as accepted_before,
               row_number() over (order by line) as rejects_so_far
        from (select distinct line from _stage_rejects)
        """
    )
    if conn.execute("select count(*) from _line_shift").fetchone()[0]:
        conn.execute(
            f"""
            create or replace temp table {table} as
            select s.* replace (
                s._rec + {header_lines} + coalesce(j.rejects_so_far, 0) as _line
            )
            from {table} s
            asof left join (
                select accepted_before, max(rejects_so_far) as rejects_so_far
                from _line_shift group by accepted_before
            ) j on s._rec > j.accepted_before
            """
        )
    conn.execute("drop table if exists _line_shift")
    conn.execute("drop table if exists _reader_rejects")
    conn.execute("drop table if exists _reader_scans")


def _reject_options() -> str:
    return (
        "store_rejects = true, rejects_table = '_reader_rejects', "
        f"rejects_scan = '_reader_scans', max_line_size = {_MAX_LINE_BYTES}"
    )


def _stage_csv(conn: duckdb.DuckDBPyConnection, stream: Stream, path: Path, plan: _FilePlan):
    header, mapping, encoding = plan.names, plan.mapping, plan.encoding or "utf-8"
    positional = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header)))
    select = _contract_select(stream, {k: f"c{i}" for k, i in mapping.items()})
    extra_json = _extra_json({header[i]: f"c{i}" for i in plan.extras})
    conn.execute(
        f"""
        create or replace temp table _stage as
        select
            row_number() over () as _rec,
            row_number() over () + 1 as _line,
            {select},
            {extra_json} as _extra
        from read_csv(
            {sql_literal(str(path))},
            columns = {{{positional}}},
            header = true, auto_detect = false, strict_mode = true,
            delim = ',', quote = '"', escape = '"',
            encoding = {sql_literal(encoding)},
            {_reject_options()}
        )
        """
    )
    _duckdb_reader_rejects(conn, "_stage", header_lines=1)
    _reject_for_missing_columns(conn, stream, mapping)


def _read_json_lines(conn: duckdb.DuckDBPyConnection, path: Path, encoding: str) -> None:
    """Each physical line into `_jsonl` (_rec, _line, _raw, _kind = its JSON type, null when
    it is not JSON); lines that are not a JSON object are rejected with their reason, blank
    lines are not records.

    DuckDB's JSON type is text, so every JSON function parses the line again: the type is
    found with one parse here, and staging parses each object twice more (values, keys).
    """
    conn.execute(
        f"""
        create or replace temp table _jsonl as
        select _rec, _line, _raw, try(json_type(_raw)) as _kind
        from (
            select row_number() over () as _rec, row_number() over () as _line, j as _raw
            from read_csv(
                {sql_literal(str(path))},
                columns = {{'j': 'VARCHAR'}},
                header = false, auto_detect = false,
                delim = '\x1e', quote = '', escape = '',
                encoding = {sql_literal(encoding)},
                {_reject_options()}
            )
        )
        """
    )
    _duckdb_reader_rejects(conn, "_jsonl", header_lines=0)
    # Blank lines are not records: they neither land nor are rejected.
    conn.execute(
        """
        insert into _stage_rejects
        select _line, 'malformed_json', 'malformed JSON: the line is not a valid JSON value', _raw
        from _jsonl where _kind is null and trim(_raw) <> ''
        union all
        select _line, 'not_an_object', 'a JSON line must hold one object, found '
            || lower(_kind), _raw
        from _jsonl where _kind <> 'OBJECT'
        """
    )


def _stage_jsonl(conn: duckdb.DuckDBPyConnection, stream: Stream, path: Path, encoding: str):
    """JSON Lines: each physical line is read as text, then parsed by DuckDB's JSON functions."""
    _read_json_lines(conn, path, encoding)
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
    select = _contract_select(
        stream, {k: f"{sql_identifier(names[i])}::varchar" for k, i in mapping.items()}
    )
    extra_json = _extra_json(
        {names[i]: f"{sql_identifier(names[i])}::varchar" for i in plan.extras}
    )
    conn.execute(
        f"""
        create or replace temp table _stage as
        select
            file_row_number + 1 as _rec,
            file_row_number + 1 as _line,
            {select},
            {extra_json} as _extra
        from read_parquet({sql_literal(str(path))}, file_row_number = true)
        """
    )
    _reject_for_missing_columns(conn, stream, mapping)


def _contract_select(stream: Stream, sources: dict[str, str]) -> str:
    return ",\n            ".join(
        f"{sources.get(name, 'null::varchar')} as {sql_identifier(name)}" for name in stream.columns
    )


def _extra_json(sources: dict[str, str]) -> str:
    if not sources:
        return "null::varchar"
    pairs = ", ".join(f"{sql_literal(name)}, {expr}" for name, expr in sources.items())
    return f"json_object({pairs})::varchar"


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
    sink: Sink, result: FileLoadResult, facts: _FileFacts, loaded_at: datetime
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
