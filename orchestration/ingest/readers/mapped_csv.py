"""Format `csv`: any delimited export whose columns a source config maps to contract fields,
per stream (`outputs`), optionally keeping only the records that pass `only_when`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import duckdb

from orchestration.ingest.contract import STREAMS, SURVEY_RESPONSES, Stream
from orchestration.ingest.readers.base import VendorSource
from orchestration.ingest.readers.delimited import (
    HeaderColumns,
    VendorHeader,
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
from orchestration.ingest.readers.questions import (
    Question,
    answer_columns,
    answer_selects,
    parse_questions,
    unanswered_sql,
)
from orchestration.ingest.staging import (
    LandingFile,
    UnreadableFileError,
    contract_select,
    create_stage,
    drop_tables,
)
from orchestration.sql import sql_literal


@dataclass(frozen=True)
class Output:
    """The rows one file gives one stream. With `questions` (survey_responses only), each
    record gives one answer per question; `fields.response_id` is then the record's id."""

    stream: str
    fields: dict[str, FieldSpec]
    only_when: dict[str, Any] = field(default_factory=dict)
    skip_reason: str = "filtered out by only_when"
    questions: tuple[Question, ...] = ()


@dataclass(frozen=True)
class MappedCsvOptions:
    outputs: dict[str, Output]
    header_rows: int = 1

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(self.outputs)

    @property
    def header_lines(self) -> int:
        return self.header_rows


@dataclass
class _Plan:
    encoding: str
    header: VendorHeader


class MappedCsvReader:
    format: ClassVar[str] = "csv"
    config_keys: ClassVar[frozenset[str]] = frozenset({"outputs", "header_rows"})

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
            check_keys(path, where, spec, {"fields", "only_when", "skip_reason", "questions"})
            fields = parse_fields(path, f"{where}.fields", spec.get("fields"), stream_name)
            questions: tuple[Question, ...] = ()
            if "questions" in spec:
                if stream_name != SURVEY_RESPONSES.name:
                    raise config_error(path, f"{where}.questions", "only for survey_responses")
                questions = parse_questions(path, f"{where}.questions", spec["questions"])
                for derived in ("survey_id", "answer"):
                    if derived in fields:
                        raise config_error(
                            path, f"{where}.fields.{derived}", "given by each question; not mapped"
                        )
            require_fields(
                path,
                f"{where}.fields",
                stream_name,
                set(fields) | ({"survey_id", "answer"} if questions else set()),
            )
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
                questions=questions,
            )
        header_rows = raw.get("header_rows", 1)
        if not isinstance(header_rows, int) or isinstance(header_rows, bool) or header_rows < 1:
            raise config_error(path, "header_rows", "the number of header rows, 1 or more")
        return MappedCsvOptions(outputs=parsed, header_rows=header_rows)

    def plan(self, file: LandingFile) -> _Plan:
        encoding = file.text_encoding()
        rows = self.options.header_rows
        header = read_vendor_header(file.path, encoding, self.source.delimiter, rows)
        if len(header.records) < rows:
            raise UnreadableFileError(
                "missing_header",
                f"the config says {rows} header rows; the file has {len(header.records)} lines",
            )
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
        read_delimited(conn, path, plan.header, self.source.delimiter, plan.encoding)
        output = self.options.outputs[stream.name]
        columns = HeaderColumns(plan.header.names)
        fields = {name: field_sql(spec, columns) for name, spec in output.fields.items()}
        condition = "true"
        if output.only_when:
            value = f"nullif(trim({columns(output.only_when['column'])}), '')"
            if "in" in output.only_when:
                allowed = ", ".join(sql_literal(str(v).lower()) for v in output.only_when["in"])
                # a blank value is not in the list: skipped like any other
                condition = f"coalesce(lower({value}) in ({allowed}), false)"
            elif output.only_when.get("present", True):
                condition = f"{value} is not null"
            else:
                condition = f"{value} is null"
        answers = answer_columns(output.questions, columns)
        extra = columns.extra_json(self.source.drop)
        if rejected_for_missing_columns(conn, self.source, stream, columns):
            return {}
        if output.questions:
            record_id = fields.pop("response_id")
            select = answer_selects(stream, columns, answers, fields, record_id, condition, extra)
        else:
            select = (
                f"select _rec, _line, {contract_select(stream, fields)}, {extra} as _extra "
                f"from _src where {condition}"
            )
        create_stage(conn, stream, select)
        skipped = {}
        filtered = conn.execute(f"select count(*) from _src where not ({condition})").fetchone()[0]
        if filtered:
            skipped[output.skip_reason] = filtered * max(len(answers), 1)
        if output.questions:
            blank = conn.execute(
                f"select coalesce(sum({unanswered_sql(columns, answers)}), 0) "
                f"from _src where {condition}"
            ).fetchone()[0]
            if blank:
                skipped["question not answered"] = int(blank)
        return skipped
