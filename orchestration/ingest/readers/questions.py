"""Answer columns of a wide survey export: one answer row per record and question.

A survey tool writes one row per respondent and one column per question. A source config
lists the questions it loads (`questions:`), each with its own survey id; the mapped CSV
and the Qualtrics readers share what follows: parsing that list, one select per answer
column, and the count of questions left blank (skipped, "question not answered").

A question is one column (`column`, or for Qualtrics `import_id`), or every column whose
name a regular expression matches whole (`column_pattern`, case ignored: a matrix of
"Rate each step / Checkout", "... / Delivery"). Each answer's `response_id` is the
record's id, ":" and the question's key (its ImportId, or its column name), so that one
respondent's answers are separate rows and a re-export updates them instead of adding
new ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.ingest.contract import Stream
from orchestration.ingest.readers.delimited import HeaderColumns
from orchestration.ingest.readers.fields import check_keys, config_error
from orchestration.ingest.staging import contract_select
from orchestration.sql import sql_literal

QUESTION_KEYS = frozenset(
    {"column", "column_pattern", "survey_id", "comment_column", "touchpoint", "touchpoints"}
)


@dataclass(frozen=True)
class Question:
    """Which answer column(s) belong to which survey."""

    survey_id: str
    column: str | None = None
    import_id: str | None = None
    column_pattern: str | None = None
    comment_column: str | None = None
    touchpoint: str | None = None  # instead of the record's touchpoint field
    # a column_pattern's first group -> touchpoint id (a matrix row per touchpoint);
    # a group not listed is taken as the touchpoint id itself
    touchpoints: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AnswerColumn:
    """One column of answers: its name in the file, its key in `response_id`, and the
    question it answers."""

    name: str
    key: str
    question: Question
    touchpoint: str | None = None


def parse_questions(
    path: Path, where: str, raw: object, keys: frozenset[str] = QUESTION_KEYS
) -> tuple[Question, ...]:
    """The `questions` list of a config: each a mapping with `survey_id` and one of the
    column keys (`column`, `column_pattern`, and for Qualtrics `import_id`)."""
    if not isinstance(raw, list) or not raw:
        raise config_error(path, where, "list the answer columns and their survey_id")
    column_keys = [k for k in ("column", "import_id", "column_pattern") if k in keys]
    parsed = []
    for i, q in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(q, dict):
            raise config_error(path, at, "a mapping")
        check_keys(path, at, q, keys)
        if sum(k in q for k in column_keys) != 1 or "survey_id" not in q:
            raise config_error(
                path, at, f"give `survey_id` and one of {' / '.join(f'`{k}`' for k in column_keys)}"
            )
        pattern = q.get("column_pattern")
        if pattern is not None:
            try:
                re.compile(str(pattern))
            except re.error as error:
                raise config_error(
                    path, f"{at}.column_pattern", f"not a regular expression: {error}"
                ) from None
        touchpoints = q.get("touchpoints") or {}
        if not isinstance(touchpoints, dict) or (touchpoints and pattern is None):
            raise config_error(
                path, f"{at}.touchpoints", "maps a column_pattern's first group to touchpoints"
            )
        text = {k: str(v) for k, v in q.items() if v is not None and k != "touchpoints"}
        parsed.append(
            Question(
                survey_id=text["survey_id"],
                column=text.get("column"),
                import_id=text.get("import_id"),
                column_pattern=text.get("column_pattern"),
                comment_column=text.get("comment_column"),
                touchpoint=text.get("touchpoint"),
                touchpoints={str(k).strip().lower(): str(v) for k, v in touchpoints.items()},
            )
        )
    return tuple(parsed)


def answer_columns(
    questions: tuple[Question, ...],
    columns: HeaderColumns,
    by_import_id: dict[str, str] | None = None,
) -> list[AnswerColumn]:
    """Every answer column the questions name in this file, marked as used (not in
    `_extra`). A named column (or ImportId) the file lacks is recorded in
    `columns.missing`; a pattern that matches nothing too."""
    found = _answer_columns(questions, columns, by_import_id)
    for column in found:
        columns(column.name)
        if column.question.comment_column:
            columns(column.question.comment_column)
    return found


def _answer_columns(
    questions: tuple[Question, ...],
    columns: HeaderColumns,
    by_import_id: dict[str, str] | None,
) -> list[AnswerColumn]:
    found: list[AnswerColumn] = []
    for question in questions:
        if question.column_pattern is not None:
            matches = columns.matching(question.column_pattern)
            if not matches:
                columns.missing.append(f"columns matching {question.column_pattern!r}")
            for name, match in matches:
                group = match.group(1) if match.re.groups else None
                touchpoint = question.touchpoint
                if group is not None and (question.touchpoints or touchpoint is None):
                    touchpoint = question.touchpoints.get(group.strip().lower(), group.strip())
                found.append(AnswerColumn(name, name, question, touchpoint))
            continue
        if question.import_id is not None:
            name = (by_import_id or {}).get(question.import_id)
            if name is None:
                columns.missing.append(f"ImportId {question.import_id}")
                continue
            found.append(AnswerColumn(name, question.import_id, question, question.touchpoint))
            continue
        assert question.column is not None
        found.append(AnswerColumn(question.column, question.column, question, question.touchpoint))
    return found


def answer_selects(
    stream: Stream,
    columns: HeaderColumns,
    answers: list[AnswerColumn],
    shared: dict[str, str],
    record_id: str,
    where: str,
    extra: str,
) -> str:
    """One select per answer column over `_src`, unioned: the shared fields, the
    answer's response_id / survey_id / answer (and comment, touchpoint), for the records
    passing `where` whose answer is not blank."""
    selects = []
    for column in answers:
        answer = f"nullif(trim({columns(column.name)}), '')"
        fields = {
            **shared,
            "response_id": f"(nullif(trim({record_id}), '') || ':' || {sql_literal(column.key)})",
            "survey_id": sql_literal(column.question.survey_id),
            "answer": answer,
        }
        if column.question.comment_column:
            fields["comment"] = f"nullif(trim({columns(column.question.comment_column)}), '')"
        if column.touchpoint is not None:
            fields["touchpoint"] = sql_literal(column.touchpoint)
        selects.append(
            f"select _rec, _line, {contract_select(stream, fields)}, {extra} as _extra "
            f"from _src where ({where}) and {answer} is not null"
        )
    return " union all ".join(selects)


def unanswered_sql(columns: HeaderColumns, answers: list[AnswerColumn]) -> str:
    """Per record, how many of its answer columns are blank."""
    if not answers:
        return "0"
    return " + ".join(f"(nullif(trim({columns(a.name)}), '') is null)::int" for a in answers)
