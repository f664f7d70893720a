"""Reading a delimited vendor export (the mapped CSV and Qualtrics readers): the header
records, the data records into `_src` as positional text columns, and the header names a
config asks for matched against the file's (case and surrounding blanks ignored)."""

from __future__ import annotations

import re
from dataclasses import dataclass
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
    read_header,
    reject_options,
)
from orchestration.sql import sql_literal


@dataclass(frozen=True)
class VendorHeader:
    """A delimited export's header: its records, the column names made of them
    (header_names) and the lines of the file they span."""

    records: list[list[str]]
    names: list[str]
    lines: int


def read_vendor_header(
    path: Path, encoding: str, delimiter: str, header_lines: int, name_rows: int | None = None
) -> VendorHeader:
    """The header of `header_lines` records, its column names made of the first
    `name_rows` of them (all by default); a file whose first line is blank, or whose header
    is one column split by another delimiter, is unreadable."""
    records, lines = read_header(path, encoding, delimiter, header_lines)
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
    names = header_names(records[: name_rows or header_lines])
    return VendorHeader(records=records, names=names, lines=lines)


def header_names(records: list[list[str]]) -> list[str]:
    """The column names of a header of one or more rows, each unique and not blank.

    With several rows (SurveyMonkey: the question, then the option or "Response"), a blank
    cell of the first row repeats the name to its left (a matrix or multi-select question
    spans several columns) and a cell of a later row is added after " / " ("How easy was
    it? / Response", "Rate us / Checkout"). A column still without a name is "column N"
    (its position from 1). A name that appears more than once is numbered in every place
    it appears ("Q1 (1)", "Q1 (2)"), so that a config names the one it means and `_extra`
    keeps both."""
    width = max(len(r) for r in records)
    rows = [list(r) + [""] * (width - len(r)) for r in records]
    names = []
    for i in range(width):
        parts = []
        for depth, row in enumerate(rows):
            cell = row[i].strip()
            if not cell and depth == 0 and len(rows) > 1:
                cell = next((row[j].strip() for j in range(i - 1, -1, -1) if row[j].strip()), "")
            if cell:
                parts.append(cell)
        names.append(" / ".join(parts) or f"column {i + 1}")
    seen: dict[str, int] = {}
    for name in names:
        seen[column_key(name)] = seen.get(column_key(name), 0) + 1
    counter: dict[str, int] = {}
    unique = []
    for name in names:
        key = column_key(name)
        if seen[key] > 1:
            counter[key] = counter.get(key, 0) + 1
            name = f"{name} ({counter[key]})"
        unique.append(name)
    return unique


class HeaderColumns:
    """Header names -> positional columns c0, c1 ... of `_src`, matched ignoring case and
    surrounding blanks; names a config asks for but the file lacks are collected. A name
    that appears more than once in the file (header_names numbers it) cannot be asked for
    bare: the file is quarantined naming the numbered names to use."""

    def __init__(self, header: list[str]) -> None:
        self.header = header
        self.positions: dict[str, int] = {}
        for i, name in enumerate(header):
            self.positions.setdefault(column_key(name), i)
        # the numbered names of a name that appears more than once ("Q1 (1)", "Q1 (2)")
        self.numbered: dict[str, list[str]] = {}
        for name in header:
            found = re.fullmatch(r"(.*) \((\d+)\)", name.strip())
            if found:
                self.numbered.setdefault(column_key(found.group(1)), []).append(name)
        self.missing: list[str] = []
        self.used: set[int] = set()

    def __call__(self, name: str) -> str:
        position = self.positions.get(column_key(name))
        if position is None:
            numbered = self.numbered.get(column_key(name), [])
            if len(numbered) > 1:
                raise UnreadableFileError(
                    "duplicate_column",
                    f"column {name!r} appears {len(numbered)} times in the header: name the one "
                    f"the config means, {' or '.join(repr(n) for n in numbered)}",
                )
            if name not in self.missing:
                self.missing.append(name)
            return "null::varchar"
        self.used.add(position)
        return f"c{position}"

    def near_misses(self) -> str:
        """The file's names that begin with a missing name (a name of a multi-row header
        is its rows joined with " / "), as a hint; empty when there are none."""
        hints = []
        for name in self.missing:
            near = [n for n in self.header if column_key(n).startswith(column_key(name))]
            if near:
                hints.append(f"for {name!r} it has {', '.join(repr(n) for n in near[:3])}")
        return f" ({'; '.join(hints)})" if hints else ""

    def matching(self, pattern: str) -> list[tuple[str, re.Match]]:
        """The names that `pattern` (a regular expression) matches whole, case ignored,
        with the match, in file order."""
        compiled = re.compile(pattern, flags=re.IGNORECASE)
        return [(n, m) for n in self.header if (m := compiled.fullmatch(n.strip()))]

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
    header: VendorHeader,
    delimiter: str,
    encoding: str,
) -> None:
    """Data records into `_src` (c0, c1 ... as text), structural rejects into the stage.
    Line numbers count the header's lines as the file has them (DuckDB counts records)."""
    header_lines = len(header.records)
    positional = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header.names)))
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
    spanned = header.lines - header_lines  # line breaks inside quoted header cells
    if spanned > 0:
        conn.execute(f"update _src set _line = _line + {spanned}")
        conn.execute(f"update _stage_rejects set line = line + {spanned}")


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
            "are not in the file's header" + columns.near_misses()
        ],
    )
    return True
