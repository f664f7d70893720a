"""Reading a delimited vendor export (the mapped CSV and Qualtrics readers): the header
records, the data records into `_src` as positional text columns, and the header names a
config asks for matched against the file's (case and surrounding blanks ignored)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from orchestration.ingest.contract import Stream
from orchestration.ingest.readers.base import VendorSource
from orchestration.ingest.staging import (
    DELIMITER_NAMES,
    UnreadableFileError,
    column_key,
    duckdb_reader_rejects,
    empty_stage,
    extra_json,
    foreign_delimiter,
    read_header_records,
    reject_options,
)
from orchestration.sql import sql_literal


def read_vendor_header(
    path: Path, encoding: str, delimiter: str, header_lines: int
) -> list[list[str]]:
    """The header records; a file whose first line is blank is unreadable."""
    records = read_header_records(path, encoding, delimiter, header_lines)
    if not records or not any(cell.strip() for cell in records[0]):
        raise UnreadableFileError("missing_header", "line 1 is blank: the header must be on line 1")
    other = foreign_delimiter(records[0], delimiter)
    if other is not None:
        raise UnreadableFileError(
            "wrong_delimiter",
            f"delimiter {DELIMITER_NAMES[other]} found in the header, but the source config "
            f"reads {DELIMITER_NAMES.get(delimiter, repr(delimiter))}: set "
            f"`delimiter: {DELIMITER_NAMES[other]}` in its config",
        )
    return records


class HeaderColumns:
    """Header names -> positional columns c0, c1 ... of `_src`, matched ignoring case and
    surrounding blanks; names a config asks for but the file lacks are collected."""

    def __init__(self, header: list[str]) -> None:
        self.header = header
        self.positions: dict[str, int] = {}
        for i, name in enumerate(header):
            self.positions.setdefault(column_key(name), i)
        self.missing: list[str] = []
        self.used: set[int] = set()

    def __call__(self, name: str) -> str:
        position = self.positions.get(column_key(name))
        if position is None:
            if name not in self.missing:
                self.missing.append(name)
            return "null::varchar"
        self.used.add(position)
        return f"c{position}"

    def extra_json(self, drop: tuple[str, ...]) -> str:
        dropped = {column_key(d) for d in drop}
        return extra_json(
            {
                name: f"c{i}"
                for i, name in enumerate(self.header)
                if i not in self.used and column_key(name) not in dropped
            }
        )


def read_delimited(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    header: list[str],
    header_lines: int,
    delimiter: str,
    encoding: str,
) -> None:
    """Data records into `_src` (c0, c1 ... as text), structural rejects into the stage."""
    positional = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header)))
    conn.execute(
        f"""
        create or replace temp table _src as
        select row_number() over () as _rec, row_number() over () + {header_lines} as _line, *
        from read_csv(
            {sql_literal(str(path))},
            columns = {{{positional}}},
            header = false, skip = {header_lines}, auto_detect = false, strict_mode = true,
            delim = {sql_literal(delimiter)}, quote = '"', escape = '"',
            encoding = {sql_literal(encoding)},
            {reject_options()}
        )
        """
    )
    duckdb_reader_rejects(conn, "_src", header_lines=header_lines)


def rejected_for_missing_columns(
    conn: duckdb.DuckDBPyConnection, source: VendorSource, stream: Stream, columns: HeaderColumns
) -> bool:
    """A column the config names is not in the file: no record can be mapped, every one is
    rejected naming the columns and the config (True when that happened)."""
    if not columns.missing:
        return False
    empty_stage(conn, stream)
    conn.execute(
        """
        insert into _stage_rejects
        select _line, 'missing_required_column', ?, null from _src
        """,
        [
            f"column(s) {', '.join(columns.missing)} named by config/sources/{source.path.name} "
            "are not in the file's header"
        ],
    )
    return True
