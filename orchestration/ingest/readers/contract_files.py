"""The landing contract's own formats (files in the stream folders, docs/landing-contract.md):
CSV with a header, JSON Lines, Parquet. Columns are matched with the contract by name
(case and surrounding blanks ignored); columns the contract does not know are kept in
`_extra`; a file without a required column has every row rejected with that reason."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.ingest.contract import Stream
from orchestration.ingest.staging import (
    DELIMITER_NAMES,
    LandingFile,
    UnreadableFileError,
    column_key,
    contract_select,
    drop_tables,
    duckdb_reader_rejects,
    extra_json,
    foreign_delimiter,
    read_header_records,
    read_json_lines,
    reject_options,
)
from orchestration.sql import sql_identifier, sql_literal


@dataclass
class _Plan:
    """How to read a file, decided before its transaction opens."""

    encoding: str = "utf-8"
    names: list[str] = field(default_factory=list)  # column names in file order
    mapping: dict[str, int] = field(default_factory=dict)  # contract field -> position
    extras: list[int] = field(default_factory=list)  # positions the contract does not know
    empty: bool = False


def match_columns(stream: Stream, names: Iterable[str]) -> tuple[dict[str, int], list[int]]:
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


def _reject_for_missing_columns(
    conn: duckdb.DuckDBPyConnection, stream: Stream, mapping: dict[str, int]
) -> None:
    """A file without a required column cannot give any row that field: reject every row."""
    missing = [name for name in stream.required if name not in mapping]
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


class ContractCsvReader:
    """Comma-separated, double-quoted, header on line 1 (docs/landing-contract.md)."""

    def plan(self, file: LandingFile) -> _Plan:
        encoding = file.text_encoding()
        if file.facts.has_blank_line:
            file.result.warnings.append(
                "file has blank lines: they are skipped, and _source_line of later rows may be "
                "lower than the physical line by the number of blank lines before them"
            )
        records = read_header_records(file.path, encoding, count=1)
        header = records[0] if records else None
        if header is None or not any(cell.strip() for cell in header):
            # only then read on: a record after the header may be far longer than csv allows
            if header is not None and len(read_header_records(file.path, encoding, count=2)) > 1:
                raise UnreadableFileError(
                    "missing_header", "line 1 is blank: the header must be on the first line"
                )
            return _Plan(encoding=encoding, empty=True)
        other = foreign_delimiter(header, ",")
        if other is not None:
            raise UnreadableFileError(
                "wrong_delimiter",
                f"delimiter {DELIMITER_NAMES[other]} found in the header; the landing contract "
                "is comma-separated: export the file with commas, or move it out of the "
                f"stream folder and read it through a source config (config/sources/, "
                f"format csv) with `delimiter: {DELIMITER_NAMES[other]}`",
            )
        mapping, extras = match_columns(file.stream, header)
        return _Plan(encoding=encoding, names=header, mapping=mapping, extras=extras)

    def stage(self, file: LandingFile, plan: _Plan) -> dict[str, int]:
        if plan.empty:
            return {}
        header, mapping = plan.names, plan.mapping
        positional = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header)))
        select = contract_select(file.stream, {k: f"c{i}" for k, i in mapping.items()})
        extras = extra_json({header[i]: f"c{i}" for i in plan.extras})
        file.conn.execute(
            f"""
            create or replace temp table _stage as
            select
                row_number() over () as _rec,
                row_number() over () + 1 as _line,
                {select},
                {extras} as _extra
            from read_csv(
                {sql_literal(str(file.path))},
                columns = {{{positional}}},
                header = true, auto_detect = false, strict_mode = true,
                delim = ',', quote = '"', escape = '"',
                encoding = {sql_literal(plan.encoding)},
                {reject_options()}
            )
            """
        )
        duckdb_reader_rejects(file.conn, "_stage", header_lines=1)
        _reject_for_missing_columns(file.conn, file.stream, mapping)
        return {}


class ContractJsonlReader:
    """One JSON object per line: each physical line is read as text, then parsed by
    DuckDB's JSON functions."""

    def plan(self, file: LandingFile) -> _Plan:
        encoding = file.text_encoding()
        return _Plan(encoding=encoding)

    def stage(self, file: LandingFile, plan: _Plan) -> dict[str, int]:
        try:
            self._stage(file.conn, file.stream, file.path, plan.encoding)
        finally:
            drop_tables(file.conn, "_jsonl")
        return {}

    @staticmethod
    def _stage(conn: duckdb.DuckDBPyConnection, stream: Stream, path: Path, encoding: str):
        read_json_lines(conn, path, encoding)
        required = "[" + ", ".join(sql_literal(c) for c in stream.required) + "]"
        known = "[" + ", ".join(sql_literal(c) for c in stream.columns) + "]"
        paths = "[" + ", ".join(sql_literal("$." + c) for c in stream.columns) + "]"
        field_exprs = ", ".join(
            f"_values[{i}] as {sql_identifier(c)}" for i, c in enumerate(stream.columns, start=1)
        )
        remove_known = json.dumps(dict.fromkeys(stream.columns))
        # _extra: the keys the contract does not know (the merge patch only runs when there
        # are any); _missing: required keys the object lacks.
        conn.execute(
            f"""
            create or replace temp table _stage as
            select
                _rec,
                _line,
                {field_exprs},
                case when len(list_filter(_keys, k -> not list_contains({known}, k))) > 0
                    then nullif(
                        json_merge_patch(_raw, {sql_literal(remove_known)})::varchar, '{{}}'
                    )
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


class ContractParquetReader:
    """Any Parquet file whose column names match the contract; values read as text."""

    def plan(self, file: LandingFile) -> _Plan:
        try:
            described = file.conn.execute(
                f"describe select * from read_parquet({sql_literal(str(file.path))})"
            ).fetchall()
        except duckdb.Error as error:
            raise UnreadableFileError(
                "unreadable_file", f"not a readable Parquet file: {error}".splitlines()[0]
            ) from error
        names = [row[0] for row in described]
        mapping, extras = match_columns(file.stream, names)
        return _Plan(names=names, mapping=mapping, extras=extras)

    def stage(self, file: LandingFile, plan: _Plan) -> dict[str, int]:
        names, mapping = plan.names, plan.mapping
        select = contract_select(
            file.stream, {k: f"{sql_identifier(names[i])}::varchar" for k, i in mapping.items()}
        )
        extras = extra_json({names[i]: f"{sql_identifier(names[i])}::varchar" for i in plan.extras})
        file.conn.execute(
            f"""
            create or replace temp table _stage as
            select
                file_row_number + 1 as _rec,
                file_row_number + 1 as _line,
                {select},
                {extras} as _extra
            from read_parquet({sql_literal(str(file.path))}, file_row_number = true)
            """
        )
        _reject_for_missing_columns(file.conn, file.stream, mapping)
        return {}
