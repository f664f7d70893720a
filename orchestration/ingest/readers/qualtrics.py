"""Format `qualtrics`: a Qualtrics CSV response export (three header rows: ids, question
texts, ImportId objects). `questions` say which columns are CES / CSAT answers of which
survey; `fields` how the rest of the contract is derived."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import duckdb

from orchestration.ingest.contract import SURVEY_RESPONSES, Stream
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
    column_key,
    create_stage,
    drop_tables,
)
from orchestration.sql import sql_literal

QUALTRICS_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
HEADER_LINES = 3
# Qualtrics columns that identify a person: never kept in _extra.
QUALTRICS_PERSONAL = (
    "IPAddress",
    "RecipientLastName",
    "RecipientFirstName",
    "RecipientEmail",
    "LocationLatitude",
    "LocationLongitude",
)
QUALTRICS_QUESTION_KEYS = frozenset({"column", "import_id", "survey_id", "comment_column"})


@dataclass(frozen=True)
class QualtricsOptions:
    questions: tuple[Question, ...]
    fields: dict[str, FieldSpec]
    normal_statuses: tuple[str, ...] = ("IP Address", "0")

    @property
    def streams(self) -> tuple[str, ...]:
        return (SURVEY_RESPONSES.name,)

    @property
    def header_lines(self) -> int:
        return HEADER_LINES


@dataclass
class _Plan:
    encoding: str
    header: VendorHeader
    import_ids: dict[str, dict] = field(default_factory=dict)  # column -> ImportId object

    def time_zone(self, column: str) -> str | None:
        """The timeZone the ImportId row gives a column (matched ignoring case)."""
        for name, value in self.import_ids.items():
            if column_key(name) == column_key(column):
                return value.get("timeZone")
        return None


class QualtricsReader:
    format: ClassVar[str] = "qualtrics"
    config_keys: ClassVar[frozenset[str]] = frozenset({"questions", "fields", "normal_statuses"})

    def __init__(self, source: VendorSource) -> None:
        self.source = source
        self.options: QualtricsOptions = source.options

    @staticmethod
    def parse_options(path: Path, raw: dict) -> QualtricsOptions:
        fields = parse_fields(path, "fields", raw.get("fields") or {}, SURVEY_RESPONSES.name)
        for derived in ("response_id", "survey_id", "answer"):
            if derived in fields:
                raise config_error(
                    path, f"fields.{derived}", "derived from the question; not mapped"
                )
        fields.setdefault("responded_at", FieldSpec(column="RecordedDate"))
        require_fields(
            path,
            "fields",
            SURVEY_RESPONSES.name,
            set(fields) | {"response_id", "survey_id", "answer"},
        )
        questions = parse_questions(
            path, "questions", raw.get("questions"), QUALTRICS_QUESTION_KEYS
        )
        options = QualtricsOptions(questions=questions, fields=fields)
        if "normal_statuses" in raw:
            options = dataclasses.replace(
                options, normal_statuses=tuple(str(s) for s in raw["normal_statuses"])
            )
        return options

    def plan(self, file: LandingFile) -> _Plan:
        encoding = file.text_encoding()
        header = read_vendor_header(
            file.path, encoding, self.source.delimiter, HEADER_LINES, name_rows=1
        )
        if _is_legacy_layout(header.records):
            raise UnreadableFileError(
                "unsupported_layout",
                "Qualtrics' legacy export layout (two header rows, V1, V2 ... or ResponseID, "
                "ResponseSet ...): export the responses again as CSV in the current layout "
                "(Data & Analysis, Export data, legacy format off), which has three header "
                "rows: ids, question texts, ImportIds",
            )
        if len(header.records) < HEADER_LINES:
            raise UnreadableFileError(
                "missing_header",
                "a Qualtrics export has three header rows (ids, question texts, ImportIds)",
            )
        plan = _Plan(encoding=encoding, header=header)
        for name, cell in zip(header.names, header.records[2], strict=False):
            try:
                value = json.loads(cell)
            except ValueError:
                value = None
            if isinstance(value, dict):
                plan.import_ids[name] = value
        if not plan.import_ids:
            raise UnreadableFileError(
                "missing_header",
                'row 3 holds no ImportId objects ({"ImportId":"QID1"}): a Qualtrics CSV export '
                "in the current layout has them (Data & Analysis, Export data, CSV); a file "
                "re-saved by a spreadsheet may have lost the row",
                line=3,
            )
        when = self.options.fields.get("responded_at")
        if (
            when is not None
            and when.column is not None
            and when.timezone is None
            and plan.time_zone(when.column) is None
        ):
            file.result.warnings.append(
                f"no timeZone in the ImportId row of {when.column}: its times are read as "
                "UTC; set `timezone:` on fields.responded_at if they are not"
            )
        return plan

    def stage(self, file: LandingFile, plan: _Plan) -> dict[str, int]:
        """One answer row per (response, configured question) with an answer; responses
        whose Status is not a normal response are rejected once each, with the status."""
        try:
            return self._stage(file.conn, file.stream, file.path, plan)
        finally:
            drop_tables(file.conn, "_src")

    def _stage(
        self, conn: duckdb.DuckDBPyConnection, stream: Stream, path: Path, plan: _Plan
    ) -> dict[str, int]:
        source, options = self.source, self.options
        read_delimited(conn, path, plan.header, source.delimiter, plan.encoding)
        columns = HeaderColumns(plan.header.names)
        by_import_id = {v.get("ImportId"): name for name, v in plan.import_ids.items()}
        shared = {}
        for name, spec in options.fields.items():
            if name == "responded_at" and spec.column is not None:
                # the ImportId row's timeZone, unless the config names one; Qualtrics'
                # own time format unless the config gives another
                zone = plan.time_zone(spec.column)
                spec = dataclasses.replace(
                    spec,
                    format=spec.format or QUALTRICS_TIME_FORMAT,
                    timezone=spec.timezone or zone,
                )
            shared[name] = field_sql(spec, columns)
        response_id = columns("ResponseId")
        status = f"trim({columns('Status')})"
        normal = ", ".join(sql_literal(s) for s in options.normal_statuses)
        answers = answer_columns(options.questions, columns, by_import_id)
        extra = columns.extra_json((*QUALTRICS_PERSONAL, *source.drop))
        if rejected_for_missing_columns(conn, source, stream, columns):
            return {}
        create_stage(
            conn,
            stream,
            answer_selects(
                stream, columns, answers, shared, response_id, f"{status} in ({normal})", extra
            ),
        )
        conn.execute(
            f"""
            insert into _stage_rejects
            select _line, 'excluded_response',
                   'Status ' || coalesce('''' || {status} || '''', 'missing')
                       || ' is not a normal response (previews, tests and spam are excluded; '
                       || {sql_literal("normal: " + ", ".join(options.normal_statuses))} || ')',
                   {response_id}
            from _src where {status} is null or {status} not in ({normal})
            """
        )
        unanswered = unanswered_sql(columns, answers)
        skipped = conn.execute(
            f"select coalesce(sum({unanswered}), 0) from _src where {status} in ({normal})"
        ).fetchone()[0]
        return {"question not answered": int(skipped)} if skipped else {}


def _is_legacy_layout(records: list[list[str]]) -> bool:
    """Qualtrics' legacy CSV: row 1 V1, V2 ... (or the column ids with `ResponseID` and
    `ResponseSet`), row 2 the question texts, data from row 3."""
    first = [cell.strip() for cell in records[0]]
    numbered = len(first) > 2 and all(cell == f"V{i + 1}" for i, cell in enumerate(first[:3]))
    ids = {cell.strip() for row in records[:2] for cell in row}
    return numbered or {"ResponseID", "ResponseSet"} <= ids
