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
    UnreadableFileError,
    contract_select,
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


@dataclass(frozen=True)
class Question:
    """A Qualtrics answer column: which survey its answers belong to."""

    column: str | None
    import_id: str | None
    survey_id: str
    comment_column: str | None = None


@dataclass(frozen=True)
class QualtricsOptions:
    questions: tuple[Question, ...]
    fields: dict[str, FieldSpec]
    normal_statuses: tuple[str, ...] = ("IP Address", "0")

    @property
    def streams(self) -> tuple[str, ...]:
        return (SURVEY_RESPONSES.name,)


@dataclass
class _Plan:
    encoding: str
    header: list[str]
    import_ids: dict[str, dict] = field(default_factory=dict)  # column -> ImportId object


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
        questions = raw.get("questions")
        if not isinstance(questions, list) or not questions:
            raise config_error(path, "questions", "list the answer columns and their survey_id")
        parsed = []
        for i, q in enumerate(questions):
            where = f"questions[{i}]"
            if not isinstance(q, dict):
                raise config_error(path, where, "a mapping")
            check_keys(path, where, q, {"column", "import_id", "survey_id", "comment_column"})
            if ("column" in q) == ("import_id" in q) or "survey_id" not in q:
                raise config_error(
                    path, where, "give `survey_id` and one of `column` / `import_id`"
                )
            parsed.append(
                Question(
                    column=q.get("column"),
                    import_id=q.get("import_id"),
                    survey_id=str(q["survey_id"]),
                    comment_column=q.get("comment_column"),
                )
            )
        options = QualtricsOptions(questions=tuple(parsed), fields=fields)
        if "normal_statuses" in raw:
            options = dataclasses.replace(
                options, normal_statuses=tuple(str(s) for s in raw["normal_statuses"])
            )
        return options

    def plan(self, file: LandingFile) -> _Plan:
        encoding = file.text_encoding()
        records = read_vendor_header(file.path, encoding, self.source.delimiter, HEADER_LINES)
        if len(records) < HEADER_LINES:
            raise UnreadableFileError(
                "missing_header",
                "a Qualtrics export has three header rows (ids, question texts, ImportIds)",
            )
        plan = _Plan(encoding=encoding, header=records[0])
        for name, cell in zip(records[0], records[2], strict=False):
            try:
                value = json.loads(cell)
            except ValueError:
                value = None
            if isinstance(value, dict):
                plan.import_ids[name] = value
        if not plan.import_ids:
            raise UnreadableFileError(
                "missing_header",
                'row 3 holds no ImportId objects ({"ImportId":"QID1"}): not a Qualtrics export '
                "with the ImportId row (export with 'Use internal IDs' in the header)",
                line=3,
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
        read_delimited(conn, path, plan.header, HEADER_LINES, source.delimiter, plan.encoding)
        columns = HeaderColumns(plan.header)
        by_import_id = {v.get("ImportId"): name for name, v in plan.import_ids.items()}
        shared = {}
        for name, spec in options.fields.items():
            if spec.format is None and name == "responded_at":
                timezone = spec.timezone or plan.import_ids.get(spec.column or "", {}).get(
                    "timeZone"
                )
                spec = dataclasses.replace(spec, format=QUALTRICS_TIME_FORMAT, timezone=timezone)
            shared[name] = field_sql(spec, columns)
        response_id = columns("ResponseId")
        status = f"trim({columns('Status')})"
        normal = ", ".join(sql_literal(s) for s in options.normal_statuses)
        selects = []
        answer_columns = []
        for question in options.questions:
            name = question.column or by_import_id.get(question.import_id)
            if name is None:
                columns.missing.append(f"ImportId {question.import_id}")
                continue
            answer = f"nullif(trim({columns(name)}), '')"
            answer_columns.append(answer)
            key = plan.import_ids.get(name, {}).get("ImportId") or name
            fields = {
                **shared,
                "response_id": f"(nullif(trim({response_id}), '') || ':' || {sql_literal(key)})",
                "survey_id": sql_literal(question.survey_id),
                "answer": answer,
            }
            if question.comment_column:
                fields["comment"] = f"nullif(trim({columns(question.comment_column)}), '')"
            selects.append(
                f"select _rec, _line, {contract_select(stream, fields)}, "
                "{extra} as _extra "
                f"from _src where {status} in ({normal}) and {answer} is not null"
            )
        extra = columns.extra_json((*QUALTRICS_PERSONAL, *source.drop))
        if rejected_for_missing_columns(conn, source, stream, columns):
            return {}
        create_stage(conn, stream, " union all ".join(s.replace("{extra}", extra) for s in selects))
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
        unanswered = " + ".join(f"({a} is null)::int" for a in answer_columns)
        skipped = conn.execute(
            f"select coalesce(sum({unanswered}), 0) from _src where {status} in ({normal})"
        ).fetchone()[0]
        return {"question not answered": int(skipped)} if skipped else {}
