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
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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
    crlf: int = 0  # line breaks CR LF, bare LF and bare CR
    bare_lf: int = 0
    bare_cr: int = 0

    @property
    def line_endings_to_normalise(self) -> bool:
        """CR-only breaks or a mix of kinds (Excel exports appended to by a script): the
        readers get a copy with every break as LF."""
        return bool(self.bare_cr) or (self.crlf > 0 and self.bare_lf > 0)


@dataclass
class LandingFile:
    """One file being loaded for one stream: what a reader reads (the staging connection
    holds its temp tables) and what it reports to (`result`: warnings, encoding).

    After `text_encoding()`, `path` is the file to read: the landing file itself, or a
    UTF-8 copy with LF line breaks when the file is UTF-16, Windows-1252 or has CR-only
    or mixed line breaks (`source_path` stays the landing file). The loader deletes the
    copy (`close()`)."""

    conn: duckdb.DuckDBPyConnection
    stream: Stream
    path: Path
    facts: FileFacts
    result: FileLoadResult
    source_path: Path | None = None
    _copy: Path | None = None

    def text_encoding(self) -> str:
        """The text encoding to read `path` with (the source's is recorded on the result)."""
        if self._copy is not None:
            return "utf-8"
        self.source_path = self.source_path or self.path
        decoding = choose_text_encoding(self.facts, self.result)
        self.result.encoding = decoding
        if decoding == "utf-8" and not self.facts.line_endings_to_normalise:
            return "utf-8"
        self._copy, fallback_lines = utf8_copy(self.source_path, decoding)
        self.path = self._copy
        facts = self.facts
        if facts.line_endings_to_normalise:
            self.result.warnings.append(
                f"line breaks of more than one kind ({facts.crlf} CR LF, {facts.bare_lf} LF, "
                f"{facts.bare_cr} CR): every one read as a line break"
                if facts.crlf + facts.bare_lf
                else "CR-only line breaks: read as line breaks"
            )
        if decoding == "windows-1252":
            self.result.warnings.append(
                f"file is not valid UTF-8: {fallback_lines:,} line(s) read as Windows-1252 "
                "(the encoding of Excel's CSV export), the others as UTF-8; "
                "check accented characters"
            )
        return "utf-8"

    def close(self) -> None:
        """Delete the readable copy, if one was made."""
        if self._copy is not None:
            self._copy.unlink(missing_ok=True)


def file_sha256(path: Path) -> str:
    """The file's SHA-256 (its identity in audit.load_manifest), read in one pass."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def scan_file(path: Path) -> FileFacts:
    """Hash the file, check its encoding and count its line breaks in one streaming pass
    (constant memory)."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    is_utf8 = True
    size = 0
    has_nul = False
    has_blank = False
    first = b""
    previous_tail = b""
    crlf = cr = lf = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            if not first:
                first = chunk[:4]
            digest.update(chunk)
            size += len(chunk)
            has_nul = has_nul or b"\x00" in chunk
            window = previous_tail + chunk
            has_blank = has_blank or b"\n\n" in window or b"\n\r\n" in window
            crlf += chunk.count(b"\r\n") + (previous_tail[-1:] == b"\r" and chunk[:1] == b"\n")
            cr += chunk.count(b"\r")
            lf += chunk.count(b"\n")
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
        crlf=crlf,
        bare_lf=lf - crlf,
        bare_cr=cr - crlf,
    )


def choose_text_encoding(facts: FileFacts, result: FileLoadResult) -> str:
    """UTF-8 (with or without BOM) is the contract. A UTF-16 file with a byte-order mark
    is read as UTF-16, any other file that is not valid UTF-8 line by line as UTF-8 or
    Windows-1252 (what Excel writes; a superset of Latin-1's printable characters)."""
    if facts.utf16_bom:
        result.warnings.append("file is UTF-16 (byte-order mark): read as UTF-16")
        return "utf-16"
    if facts.has_nul:
        raise UnreadableFileError(
            "unreadable_encoding",
            "file holds NUL bytes: it is binary, or UTF-16 without a byte-order mark; "
            "re-export it as UTF-8 text",
        )
    return "utf-8" if facts.is_utf8 else "windows-1252"


_BYTE_BREAK = re.compile(rb"\r\n|\r|\n")
_TEXT_BREAK = re.compile(r"\r\n|\r|\n")


def _decode_line(line: bytes) -> tuple[str, bool]:
    """A line as UTF-8, else as Windows-1252 (its five undefined bytes as Latin-1)."""
    try:
        return line.decode("utf-8"), False
    except UnicodeDecodeError:
        return line.decode("cp1252", errors="ces_latin1"), True


def _latin1_for_undefined(error: UnicodeDecodeError) -> tuple[str, int]:
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error("ces_latin1", _latin1_for_undefined)


# Characters DuckDB's readers take as a glob pattern in a path.
GLOB_CHARACTERS = frozenset("*?[]{}")


@contextmanager
def literal_path(path: Path) -> Iterator[Path]:
    """`path` as DuckDB reads it exactly: itself, or, when the path holds a glob character
    (`*.csv`, `glob[A].csv`), a symbolic link to it under a plain name in a temporary
    folder, removed afterwards. DuckDB has no way to escape a glob character."""
    if not GLOB_CHARACTERS & set(str(path)):
        yield path
        return
    folder = Path(tempfile.mkdtemp(prefix="ces-file-"))
    try:
        suffix = "".join(c for c in path.suffix if c not in GLOB_CHARACTERS)
        link = folder / f"landing_file{suffix}"
        link.symlink_to(path.resolve())
        yield link
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def utf8_copy(source: Path, decoding: str) -> tuple[Path, int]:
    """A temporary UTF-8 copy of `source` with LF line breaks (copy_as_utf8_lf), which the
    caller deletes, and the lines it read as Windows-1252."""
    handle, name = tempfile.mkstemp(prefix="ces-text-", suffix=source.suffix)
    os.close(handle)
    copy = Path(name)
    try:
        return copy, copy_as_utf8_lf(source, copy, decoding)
    except BaseException:
        copy.unlink(missing_ok=True)
        raise


def copy_as_utf8_lf(source: Path, target: Path, decoding: str) -> int:
    """Write `source` to `target` as UTF-8 with every line break (CR LF, CR, LF) as LF, in
    chunks (constant memory). `decoding` 'utf-16' decodes the whole file (a bad sequence
    raises UnicodeDecodeError); otherwise each line is UTF-8 or, failing that,
    Windows-1252. Line numbers stay the same. Returns the lines read as Windows-1252."""
    fallback = 0
    with source.open("rb") as src, target.open("w", encoding="utf-8", newline="") as out:
        if decoding == "utf-16":
            decoder = codecs.getincrementaldecoder("utf-16")("strict")
            pending = ""
            while chunk := src.read(CHUNK_BYTES):
                text = pending + decoder.decode(chunk)
                # a CR at the end may be the first half of CR LF
                text, pending = (text[:-1], "\r") if text.endswith("\r") else (text, "")
                out.write(_TEXT_BREAK.sub("\n", text))
            out.write(_TEXT_BREAK.sub("\n", pending + decoder.decode(b"", final=True)))
            return 0
        pending = b""
        while True:
            chunk = src.read(CHUNK_BYTES)
            data = pending + chunk
            if chunk:
                # up to the last complete line break (a final CR may be half of CR LF)
                cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1))
                if cut < 0:
                    pending = data
                    continue
                body, pending = data[: cut + 1], data[cut + 1 :]
            else:
                body = data
            try:
                out.write(_TEXT_BREAK.sub("\n", body.decode("utf-8")))
            except UnicodeDecodeError:
                *lines, last = _BYTE_BREAK.split(body)
                for line in lines:
                    text, fell_back = _decode_line(line)
                    fallback += fell_back
                    out.write(text + "\n")
                if last:
                    text, fell_back = _decode_line(last)
                    fallback += fell_back
                    out.write(text)
            if not chunk:
                return fallback


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
    return read_header(path, encoding, delimiter, count)[0]


def read_header(
    path: Path, encoding: str, delimiter: str = ",", count: int = 1
) -> tuple[list[list[str]], int]:
    """The first `count` CSV records and the lines of the file they span (a quoted
    question text with line breaks spans several)."""
    python_encoding = "utf-8-sig" if encoding == "utf-8" else encoding
    with path.open("r", encoding=python_encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        records = [row for _, row in zip(range(count), reader, strict=False)]
        return records, reader.line_num


DELIMITER_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}


def foreign_delimiter(header: list[str], delimiter: str) -> str | None:
    """The delimiter a one-column header is really split by (`;`, tab, `|` or `,`), when
    it is not the one the file is read with: the whole line came out as one name."""
    if len(header) != 1:
        return None
    found = [(header[0].count(d), d) for d in DELIMITER_NAMES if d != delimiter]
    count, candidate = max(found)
    return candidate if count else None


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
