"""The staging helpers every landing-file reader shares (orchestration/ingest/readers/):
the file's bytes scanned once, the text encoding chosen, DuckDB's reader rejects turned
into audit rows, JSON Lines read as text, columns outside the contract kept as JSON, and
the stage tables themselves.

Readers stage into temporary tables of the loader's connection (`_stage`,
`_stage_rejects`); the loader owns the transaction and the manifest.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.ingest.contract import Stream
from orchestration.sql import sql_identifier, sql_literal

CHUNK_BYTES = 1 << 20

MAX_LINE_BYTES = 8 << 20

# DuckDB's CSV error types, as the audit table names them, with a sentence for humans.
CSV_ERRORS: dict[str, tuple[str, str]] = {
    "TOO MANY COLUMNS": ("wrong_column_count", "wrong column count"),
    "MISSING COLUMNS": ("wrong_column_count", "wrong column count"),
    "UNQUOTED VALUE": ("malformed_quoting", "malformed quoting"),
    "INVALID STATE": ("malformed_quoting", "malformed quoting"),
    "INVALID ENCODING": ("invalid_encoding", "invalid UTF-8 byte sequence"),
    "LINE SIZE OVER MAXIMUM": ("line_too_long", f"line longer than {MAX_LINE_BYTES} bytes"),
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
class FileFacts:
    """What one streaming pass over the bytes tells: hash, size, encoding, oddities."""

    sha256: str
    size: int
    is_utf8: bool
    has_nul: bool
    has_blank_line: bool
    utf16_bom: bool


@dataclass
class LandingFile:
    """One file being loaded for one stream: what a reader reads (the staging connection
    holds its temp tables) and what it reports to (`result`: warnings, encoding)."""

    conn: duckdb.DuckDBPyConnection
    stream: Stream
    path: Path
    facts: FileFacts
    result: FileLoadResult

    def text_encoding(self) -> str:
        """The text encoding to read the file with, recorded on the result."""
        self.result.encoding = choose_text_encoding(self.facts, self.result)
        return self.result.encoding


def file_sha256(path: Path) -> str:
    """The file's SHA-256 (its identity in audit.load_manifest), read in one pass."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def scan_file(path: Path) -> FileFacts:
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
        while chunk := handle.read(CHUNK_BYTES):
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
    return FileFacts(
        sha256=digest.hexdigest(),
        size=size,
        is_utf8=is_utf8,
        has_nul=has_nul,
        has_blank_line=has_blank,
        utf16_bom=first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)),
    )


def choose_text_encoding(facts: FileFacts, result: FileLoadResult) -> str:
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


def duckdb_reader_rejects(conn: duckdb.DuckDBPyConnection, table: str, header_lines: int) -> None:
    """Move DuckDB's reader rejects into `_stage_rejects` and fix up good rows' line numbers.

    DuckDB numbers reject lines itself; good rows only carry their order (`_rec`). With
    the sorted reject lines r_1 < r_2 < ..., the k-th good row follows reject i exactly when
    fewer than k good rows precede reject i, i.e. when r_i - header_lines - i < k.
    """
    cases = " ".join(
        f"when {sql_literal(k)} then {sql_literal(code)}" for k, (code, _) in CSV_ERRORS.items()
    )
    texts = " ".join(
        f"when {sql_literal(k)} then {sql_literal(text)}" for k, (_, text) in CSV_ERRORS.items()
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


def reject_options() -> str:
    return (
        "store_rejects = true, rejects_table = '_reader_rejects', "
        f"rejects_scan = '_reader_scans', max_line_size = {MAX_LINE_BYTES}"
    )


def read_json_lines(conn: duckdb.DuckDBPyConnection, path: Path, encoding: str) -> None:
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
                {reject_options()}
            )
        )
        """
    )
    duckdb_reader_rejects(conn, "_jsonl", header_lines=0)
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


def extra_json(sources: dict[str, str]) -> str:
    if not sources:
        return "null::varchar"
    pairs = ", ".join(f"{sql_literal(name)}, {expr}" for name, expr in sources.items())
    return f"json_object({pairs})::varchar"


def read_header_records(
    path: Path, encoding: str, delimiter: str = ",", count: int = 1
) -> list[list[str]]:
    """The first `count` CSV records, parsed by Python's csv module (quoted names and
    values spanning lines allowed); a UTF-8 BOM is dropped."""
    python_encoding = "utf-8-sig" if encoding == "utf-8" else encoding
    with path.open("r", encoding=python_encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        return [row for _, row in zip(range(count), reader, strict=False)]


def column_key(name: str) -> str:
    """A file's column name as it is matched with the contract and with source configs:
    case and surrounding blanks ignored."""
    return name.strip().lower()


def contract_select(stream: Stream, expressions: dict[str, str]) -> str:
    """The select list of a staged row: every contract column of the stream in order, from
    its SQL expression in `expressions`, null text where the file has none."""
    return ", ".join(
        f"{expressions.get(name, 'null::varchar')} as {sql_identifier(name)}"
        for name in stream.columns
    )


# --- the stage tables a reader fills ------------------------------------------------------


def create_reject_stage(conn: duckdb.DuckDBPyConnection) -> None:
    """`_stage_rejects`, the file's rejected records (created by the loader for a reader)."""
    conn.execute(
        "create or replace temp table _stage_rejects "
        "(line bigint, error_type varchar, reason varchar, raw_text varchar)"
    )


def create_stage(conn: duckdb.DuckDBPyConnection, stream: Stream, select_sql: str) -> None:
    """`_stage` from a select giving `_rec`, `_line`, the stream's contract columns and
    `_extra`, in the contract's column order."""
    conn.execute(f"create or replace temp table _stage as {select_sql}")
    conn.execute(
        "create or replace temp table _stage as select _rec, _line, "
        + ", ".join(sql_identifier(c) for c in stream.columns)
        + ", _extra from _stage"
    )


def empty_stage(conn: duckdb.DuckDBPyConnection, stream: Stream) -> None:
    """An empty `_stage` of the stream (a file none of whose records can be mapped)."""
    columns = ", ".join(f"{sql_identifier(c)} varchar" for c in stream.columns)
    conn.execute(
        "create or replace temp table _stage "
        f"(_rec bigint, _line bigint, {columns}, _extra varchar)"
    )


def drop_tables(conn: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Drop a reader's scratch tables."""
    for name in names:
        conn.execute(f"drop table if exists {name}")
