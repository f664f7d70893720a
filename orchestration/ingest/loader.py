"""Load landing files into `raw.*`, recording every file in `audit.load_manifest` and every
structurally bad record in `audit.rejected_rows`.

Guarantees (tested in tests/test_ingest.py):
- each file loads in one transaction: a crash before commit leaves the warehouse as it was;
- per file, rows landed = rows loaded into raw + rows rejected;
- a file whose content (sha256) was already loaded for the stream is not read again;
- a bad record never stops the good records of its file from loading;
- a file that cannot be read at all is quarantined (status `quarantined`, each of its
  records rejected with the reason) and never stops the other files; it is read again
  next run.

The loader owns discovery, hashing, the file's transaction, the raw / audit writes and the
manifest; reading a file is its reader's (orchestration/ingest/readers/: one per format,
`plan` before the transaction, `stage` inside it). DuckDB's own readers parse the files;
Python touches only the header, the byte-level encoding check and the rejected records.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration.ingest import pseudonym
from orchestration.ingest.contract import SUPPORTED_EXTENSIONS, Stream, visible_files
from orchestration.ingest.readers import CONTRACT_READERS
from orchestration.ingest.sinks import (
    REJECT_COLUMNS,
    REJECTS_TABLE,
    RETRIED_STATUSES,
    DuckDBSink,
    Sink,
)
from orchestration.ingest.sources import SourceConfig, SourceConfigError
from orchestration.ingest.staging import (
    MAX_LINE_BYTES,
    FileFacts,
    FileLoadResult,
    LandingFile,
    UnreadableFileError,
    create_reject_stage,
    drop_tables,
    file_sha256,
    literal_path,
    scan_file,
    utf8_copy,
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
    reload: Collection[str] | None = None,
) -> list[FileLoadResult]:
    """Load every file of one stream that the manifest has not seen yet: the contract
    folder, then the files of each vendor source (config/sources/) feeding this stream.
    `conn` reads and stages the files; `sink` (default: the same DuckDB file) receives
    the rows, rejects and manifest records (orchestration/ingest/sinks.py). With `reload`
    (paths relative to the landing folder), only those files are loaded, each read again
    and replacing its earlier load (load_landing_file).

    A file that cannot be read is quarantined (quarantine_reason). A file whose load fails
    for a reason that is not the file's (memory, disk, a bug) is rolled back, recorded as
    `failed` in the manifest and retried on the next run; the other files still load.
    """
    work: list[tuple[Path, SourceConfig | None]] = [
        (path, None) for path in discover_files(landing_dir / stream.folder)
    ]
    claimed: dict[Path, SourceConfig] = {}
    for source in sources:
        if stream.name in source.streams:
            for path in source.matches(landing_dir):
                if path in claimed:
                    # the second config would be skipped as the same content: say so
                    raise SourceConfigError(
                        f"{path.relative_to(landing_dir).as_posix()} is read by two source "
                        f"configs for {stream.name}, {claimed[path].path.name} "
                        f"({claimed[path].files}) and {source.path.name} ({source.files}): "
                        "one config per file and stream; list every question of a file in "
                        "one config (outputs.survey_responses.questions)"
                    )
                claimed[path] = source
                work.append((path, source))
    sink = sink or DuckDBSink(conn)
    # What each path holds already (one query per stream, not per file).
    loaded: dict[str, set[str]] = {}
    for file_path, file_hash in sink.execute(
        "select file_path, file_hash from audit.load_manifest "
        f"where stream = ? and status not in {RETRIED_STATUSES}",
        [stream.name],
    ):
        loaded.setdefault(file_path, set()).add(file_hash)
    if reload is not None:
        work = [(p, s) for p, s in work if p.relative_to(landing_dir).as_posix() in reload]
    results = []
    for path, source in work:
        try:
            results.append(
                load_landing_file(
                    conn, stream, path, landing_dir, source, sink, loaded, reload is not None
                )
            )
        except Exception as error:
            results.append(
                record_failed_file(
                    sink, stream, path, landing_dir, error, source, reload is not None
                )
            )
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
    loaded: dict[str, set[str]] | None = None,
    reload: bool = False,
) -> FileLoadResult:
    """Load one file in one transaction and return what happened to it. With a source
    config the file is a vendor export read by that config's reader; the guarantees are
    the same. `reload` reads a file already loaded under this path again (a corrected
    source config or date format) and, in the same transaction, replaces the rows,
    rejects and manifest record of its earlier load of the same content (`ces reload`)."""
    sink = sink or DuckDBSink(conn)
    started = time.perf_counter()
    relative = path.relative_to(landing_dir).as_posix()
    file_format = _file_format(path, source)
    # A file already loaded under this path is only hashed (issue 21: the full scan, which
    # also checks the encoding, took 9.6 s over the 25 files of a 10 M-answer year on every
    # daily build, the hash alone 1.5 s). `loaded`: the stream's loaded hashes by path,
    # read by load_stream; looked up here when a caller loads one file.
    if loaded is None:
        rows = sink.execute(
            "select file_hash from audit.load_manifest "
            f"where stream = ? and file_path = ? and status not in {RETRIED_STATUSES}",
            [stream.name, relative],
        )
        loaded = {relative: {row[0] for row in rows}}
    refused = refused_link(path, landing_dir)
    if refused is not None:
        known = loaded.get(relative, set())
        return _refuse_link(sink, stream, relative, file_format, *refused, known, started)
    hashes = set() if reload else loaded.get(relative, set())
    digest = file_sha256(path) if hashes else None
    if digest in hashes:
        return FileLoadResult(
            stream=stream.name,
            file_path=relative,
            file_hash=digest,
            file_format=file_format,
            status="already_loaded",
        )
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
        f"where stream = ? and file_hash = ? and status not in {RETRIED_STATUSES} "
        "order by (file_path = ?) desc, loaded_at limit 1",
        [stream.name, facts.sha256, relative],
    )
    seen = seen_rows[0] if seen_rows else None
    if seen is not None and seen[0] == relative:
        if not reload:
            result.status = "already_loaded"
            return result
        seen = None
        result.warnings.append("reloaded: the rows of its earlier load replaced")

    # The file is read into the stage tables before its transaction opens: a DuckDB error
    # inside a transaction aborts it ("Current transaction is aborted"), hiding the cause.
    # Whatever reading the file raises quarantines it (each record rejected with the
    # reason, retried on later runs); only the warehouse's own failures fail the load.
    staged = False
    unreadable: UnreadableFileError | None = None
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
        reader = source.reader() if source is not None else CONTRACT_READERS[file_format]
        # DuckDB reads a path as a glob pattern: a file named `*.csv` would read every CSV
        # of its folder, `glob[A].csv` the file globA.csv. Such a file is read through a
        # link under a plain name, so each file is read by its exact path.
        with literal_path(path) as readable:
            file = LandingFile(conn, stream, readable, facts, result)
            try:
                plan = reader.plan(file)
                create_reject_stage(conn)
                result.skipped = reader.stage(file, plan)
                staged = True
            except Exception as error:
                unreadable = quarantine_reason(error, readable, path)
            finally:
                file.close()
            if unreadable is not None:
                result.skipped = {}
                header_lines = _header_lines(path, source)
                _stage_unreadable(conn, readable, unreadable, facts, header_lines)

    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    sink.begin(stream.name, facts.sha256)
    try:
        if reload:
            sink.forget_load(stream, relative, facts.sha256)
        if staged or unreadable is not None:
            _write_staged(conn, sink, stream, result, loaded_at)
        if unreadable is not None:
            result.status = "quarantined"
            result.warnings.append(f"quarantined: {unreadable.reason}")
        result.duration_ms = int((time.perf_counter() - started) * 1000)
        # a retry replaces the record of an earlier failed attempt; a reload any record
        _record_manifest(sink, result, facts, loaded_at, replace="any" if reload else "failed")
        for hook in BEFORE_COMMIT_HOOKS:
            hook(result)
        sink.commit()
    except BaseException:
        sink.rollback()
        raise
    finally:
        drop_tables(conn, "_stage", "_stage_rejects")
    return result


def refused_link(path: Path, landing_dir: Path) -> tuple[Path, str] | None:
    """(where it leads, why) for a symbolic link the loader must not follow: one leading out
    of the landing folder (the file's own link, or a folder's on the way; it could expose
    any file the build can read: /proc/self/environ held the build's environment), or one
    to a folder or to nothing. None for an ordinary file or a link to a file inside."""
    real = path.resolve()
    if not real.is_relative_to(landing_dir.resolve()):
        return real, f"a symbolic link to {real}, outside the landing folder: not read"
    if not path.is_file():
        what = "a folder" if path.is_dir() else "nothing (a broken link)"
        return real, f"a symbolic link to {what} ({real}): not read"
    return None


def _refuse_link(
    sink: Sink,
    stream: Stream,
    relative: str,
    file_format: str,
    target: Path,
    reason: str,
    known: set[str],
    started: float,
) -> FileLoadResult:
    """Record a link refused_link refuses as `refused_link`, without reading it. Its 'hash'
    is that of the link's target path, so it is recorded once (`known`: the hashes the
    manifest holds for this path), and again only when it points elsewhere."""
    digest = hashlib.sha256(f"symlink:{target}".encode()).hexdigest()
    result = FileLoadResult(
        stream=stream.name,
        file_path=relative,
        file_hash=digest,
        file_format=file_format,
        status="refused_link",
    )
    if digest in known:
        result.status = "already_loaded"
        return result
    result.warnings.append(
        f"{reason} (copy the file into the landing folder, or link to a file inside it)"
    )
    facts = FileFacts(
        sha256=digest, size=0, is_utf8=True, has_nul=False, has_blank_line=False, utf16_bom=False
    )
    result.duration_ms = int((time.perf_counter() - started) * 1000)
    sink.begin(stream.name, digest)
    try:
        _record_manifest(sink, result, facts, datetime.now(UTC).replace(tzinfo=None), "failed")
        sink.commit()
    except BaseException:
        sink.rollback()
        raise
    return result


def record_failed_file(
    sink: Sink,
    stream: Stream,
    path: Path,
    landing_dir: Path,
    error: Exception,
    source: SourceConfig | None = None,
    reload: bool = False,
) -> FileLoadResult:
    """Record a file whose load failed unexpectedly (nothing of it was kept; retried next
    run). A failed reload keeps the earlier load, rows and manifest record, as they were."""
    facts = scan_file(path)
    result = FileLoadResult(
        stream=stream.name,
        file_path=path.relative_to(landing_dir).as_posix(),
        file_hash=facts.sha256,
        file_format=_file_format(path, source),
        status="failed",
        warnings=[
            (
                "reload failed, the earlier load kept: "
                if reload
                else "load failed, nothing kept, retried next run: "
            )
            + f"{type(error).__name__}: {error}"
        ],
    )
    sink.rollback()  # whatever the failed attempt left open
    if reload:  # the earlier load's manifest record stands (one record per path and hash)
        return result
    sink.begin(result.stream, result.file_hash)
    _record_manifest(sink, result, facts, datetime.now(UTC).replace(tzinfo=None), replace="any")
    sink.commit()
    return result


# Errors that are the warehouse's or the loader's, not the file's: the load fails (the file
# is retried next run) and the ingest step fails with the cause.
_NOT_THE_FILE = (
    duckdb.OutOfMemoryException,
    MemoryError,
    AttributeError,
    ImportError,
    KeyError,
    NameError,
    TypeError,
    AssertionError,
)


def quarantine_reason(
    error: Exception, path: Path, landing_path: Path | None = None
) -> UnreadableFileError:
    """The quarantine reason for an error raised while reading `path`, or the error
    itself re-raised when it is not the file's (memory, disk, a bug in the loader).
    `landing_path`: the landing file `path` is a link to (literal_path), named instead."""
    if isinstance(error, UnreadableFileError):
        return error
    if isinstance(error, _NOT_THE_FILE):
        raise error
    message = str(error)
    if isinstance(error, (OSError, duckdb.IOException)) and str(path) not in message:
        raise error  # a disk or temp-folder failure, not this file
    if landing_path is not None:
        message = message.replace(str(path), str(landing_path))
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    first = lines[0] if lines else type(error).__name__
    if isinstance(error, UnicodeError):
        return UnreadableFileError(
            "unreadable_encoding", f"text cannot be decoded: {first}; re-export it as UTF-8", None
        )
    hint = _hint(message)
    reason = f"the file cannot be read ({type(error).__name__}): {first}"
    return UnreadableFileError(
        "unreadable_file", reason + (f"; {hint}" if hint else ""), _error_line(message)
    )


def _hint(message: str) -> str:
    lowered = message.lower()
    if "magic bytes" in lowered or "parquet" in lowered:
        return "the Parquet file is damaged or truncated: export it again"
    if "invalid state" in lowered or "not rfc 4180" in lowered or "quote" in lowered:
        return "check its quoting: the landing contract is RFC 4180 CSV (double quotes)"
    if "json" in lowered:
        return "check that it is JSON as the format expects"
    return ""


def _error_line(message: str) -> int | None:
    found = re.search(r"\bline (\d+)", message, flags=re.IGNORECASE)
    return int(found.group(1)) if found else None


def _header_lines(path: Path, source: SourceConfig | None) -> int:
    """The header lines of a text file that cannot be read: none in JSON, the reader's in
    a vendor export (Qualtrics: 3, a csv config's header_rows), else 1."""
    if path.suffix.lower() in (".json", ".jsonl"):
        return 0
    if source is not None:
        return int(getattr(source.options, "header_lines", None) or 1)
    return 1


def _stage_unreadable(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    error: UnreadableFileError,
    facts: FileFacts,
    header_lines: int,
) -> None:
    """A file that cannot be read: each of its records is rejected with the reason, so
    that rows landed count what the file held. A text file's records are its non-blank
    lines after the header (each line as UTF-8, else as Windows-1252; a quoted value
    over several lines counts as several); a binary file (Parquet, NUL bytes), a JSON document,
    or a text file without data lines is one rejected record at the line the error names."""
    drop_tables(conn, "_stage")
    create_reject_stage(conn)
    binary = facts.has_nul or path.suffix.lower() in (".parquet", ".json")
    if not binary:
        rejected = _reject_lines(conn, path, error, header_lines)
        if not rejected:
            # not UTF-8 (DuckDB has no Windows-1252): each line as UTF-8, else Windows-1252
            copy, _ = utf8_copy(path, "windows-1252")
            try:
                rejected = _reject_lines(conn, copy, error, header_lines)
            finally:
                copy.unlink(missing_ok=True)
        if rejected:
            return
    with path.open("rb") as handle:
        head = handle.read(200)
    conn.execute(
        "insert into _stage_rejects values (?, ?, ?, ?)",
        [error.line, error.error_type, error.reason, head.decode("latin-1")],
    )


def _reject_lines(
    conn: duckdb.DuckDBPyConnection, path: Path, error: UnreadableFileError, header_lines: int
) -> int:
    """Each non-blank line after the header of a UTF-8 text file, rejected with the reason;
    how many (0 when the file is not UTF-8)."""
    try:
        conn.execute(
            f"""
            insert into _stage_rejects
            select line, ?, ?, left(text, 2000)
            from (
                select row_number() over () as line, text
                from read_csv(
                    {sql_literal(str(path))}, columns = {{'text': 'VARCHAR'}},
                    header = false, auto_detect = false, delim = '\x1e\x1f',
                    quote = '', escape = '', encoding = 'utf-8', strict_mode = false,
                    null_padding = true, max_line_size = {MAX_LINE_BYTES}
                )
            )
            where line > ? and trim(coalesce(text, '')) <> ''
            """,
            [error.error_type, error.reason, header_lines],
        )
    except duckdb.Error:
        conn.execute("delete from _stage_rejects")
        return 0
    return conn.execute("select count(*) from _stage_rejects").fetchone()[0]


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
        # the customer pseudonym, its key bound as parameters (never in the SQL text),
        # computed once per distinct customer of the file (HMAC is two hashes: a 10 M-row
        # load of 200,000 customers takes 2.9 s instead of 19 s)
        customer_key, key_params = pseudonym.duckdb_sql("_cid")
        sink.insert_select(
            conn,
            stream.qualified_table,
            [
                *columns,
                "_extra",
                "_source_file",
                "_source_line",
                "_loaded_at",
                "_file_hash",
                "_customer_key",
            ],
            f"select {', '.join(columns)}, _extra, ?, _line, ?, ?, _keys._customer_key "
            f"from _stage left join (select _cid, {customer_key} as _customer_key from "
            "(select distinct customer_id as _cid from _stage)) as _keys "
            "on _stage.customer_id = _keys._cid order by _line",
            [result.file_path, loaded_at, result.file_hash, *key_params],
        )
        result.rows_accepted = conn.execute("select count(*) from _stage").fetchone()[0]
    sink.insert_select(
        conn,
        REJECTS_TABLE,
        [name for name, _, _ in REJECT_COLUMNS],
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


def _record_manifest(
    sink: Sink, result: FileLoadResult, facts: FileFacts, loaded_at: datetime, replace: str
) -> None:
    sink.write_manifest(
        {
            "load_id": result.load_id,
            "stream": result.stream,
            "file_path": result.file_path,
            "file_hash": result.file_hash,
            "file_size_bytes": facts.size,
            "file_format": result.file_format,
            "encoding": result.encoding,
            "rows_landed": result.rows_landed,
            "rows_accepted": result.rows_accepted,
            "rows_rejected": result.rows_rejected,
            "status": result.status,
            "warning": result.warning,
            "loaded_at": loaded_at,
            "duration_ms": result.duration_ms,
            "rows_skipped": result.rows_skipped,
            "skip_reasons": json.dumps(result.skipped) if result.skipped else None,
        },
        replace,
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
