"""Format `csv`: any delimited export whose columns a source config maps to contract fields,
per stream (`outputs`), optionally keeping only the records that pass `only_when`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import duckdb

from orchestration.ingest.contract import STREAMS, Stream
from orchestration.ingest.readers.base import VendorSource
from orchestration.ingest.readers.delimited import (
    HeaderColumns,
    read_delimited,
    read_vendor_header,
    rejected_for_missing_columns,
)
from orchestration.ingest.readers.fields import (
    FieldSpec,
    check_keys,
    config_error,
    field_sql,
    parse_fields,
    require_fields,
)
from orchestration.ingest.staging import (
    LandingFile,
    contract_select,
    create_stage,
    drop_tables,
)
from orchestration.sql import sql_literal


@dataclass(frozen=True)
class Output:
    """The rows one file gives one stream."""

    stream: str
    fields: dict[str, FieldSpec]
    only_when: dict[str, Any] = field(default_factory=dict)
    skip_reason: str = "filtered out by only_when"


@dataclass(frozen=True)
class MappedCsvOptions:
    outputs: dict[str, Output]

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(self.outputs)


@dataclass
class _Plan:
    encoding: str
    header: list[str]


class MappedCsvReader:
    format: ClassVar[str] = "csv"
    config_keys: ClassVar[frozenset[str]] = frozenset({"outputs"})

    def __init__(self, source: VendorSource) -> None:
        self.source = source
        self.options: MappedCsvOptions = source.options

    @staticmethod
    def parse_options(path: Path, raw: dict) -> MappedCsvOptions:
        outputs = raw.get("outputs")
        if not isinstance(outputs, dict) or not outputs:
            raise config_error(path, "outputs", "map at least one stream to its fields")
        parsed = {}
        for stream_name, spec in outputs.items():
            where = f"outputs.{stream_name}"
            if stream_name not in STREAMS:
                raise config_error(path, where, f"unknown stream; streams: {sorted(STREAMS)}")
            if not isinstance(spec, dict):
                raise config_error(path, where, "a mapping with `fields`")
            check_keys(path, where, spec, {"fields", "only_when", "skip_reason"})
            fields = parse_fields(path, f"{where}.fields", spec.get("fields"), stream_name)
            require_fields(path, f"{where}.fields", stream_name, set(fields))
            only_when = spec.get("only_when") or {}
            if only_when:
                check_keys(path, f"{where}.only_when", only_when, {"column", "present", "in"})
                if "column" not in only_when:
                    raise config_error(path, f"{where}.only_when", "names a `column`")
            parsed[stream_name] = Output(
                stream=stream_name,
                fields=fields,
                only_when=only_when,
                skip_reason=str(spec.get("skip_reason") or "filtered out by only_when"),
            )
        return MappedCsvOptions(outputs=parsed)

    def plan(self, file: LandingFile) -> _Plan:
        encoding = file.text_encoding()
        header = read_vendor_header(file.path, encoding, self.source.delimiter, 1)[0]
        return _Plan(encoding=encoding, header=header)

    def stage(self, file: LandingFile, plan: _Plan) -> dict[str, int]:
        """Rows of one `outputs` stream; records outside `only_when` are skipped."""
        try:
            return self._stage(file.conn, file.stream, file.path, plan)
        finally:
            drop_tables(file.conn, "_src")

    def _stage(
        self, conn: duckdb.DuckDBPyConnection, stream: Stream, path: Path, plan: _Plan
    ) -> dict[str, int]:
        read_delimited(conn, path, plan.header, 1, self.source.delimiter, plan.encoding)
        output = self.options.outputs[stream.name]
        columns = HeaderColumns(plan.header)
        fields = {name: field_sql(spec, columns) for name, spec in output.fields.items()}
        condition = "true"
        if output.only_when:
            value = f"nullif(trim({columns(output.only_when['column'])}), '')"
            if "in" in output.only_when:
                allowed = ", ".join(sql_literal(str(v).lower()) for v in output.only_when["in"])
                condition = f"lower({value}) in ({allowed})"
            elif output.only_when.get("present", True):
                condition = f"{value} is not null"
            else:
                condition = f"{value} is null"
        if rejected_for_missing_columns(conn, self.source, stream, columns):
            return {}
        create_stage(
            conn,
            stream,
            f"select _rec, _line, {contract_select(stream, fields)}, "
            f"{columns.extra_json(self.source.drop)} as _extra from _src where {condition}",
        )
        skipped = conn.execute(f"select count(*) from _src where not ({condition})").fetchone()[0]
        return {output.skip_reason: skipped} if skipped else {}
