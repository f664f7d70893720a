"""Reading vendor exports (config/sources/*.yml) into the staged rows of one stream.

Each function fills the loader's temp tables `_stage` (contract fields as text, `_rec`,
`_line`, `_extra`) and `_stage_rejects`, and returns the records skipped on purpose with
their reasons (a Zendesk ticket offered a survey but not rated is not an answer, and not an
error either). The loader then writes them in the file's one transaction, exactly as for
contract files: rows landed = accepted + rejected + skipped.

All reading and reshaping is DuckDB SQL; Python only reads the header records.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.ingest.contract import STREAMS, TICKETS
from orchestration.ingest.sources import FieldSpec, SourceConfig
from orchestration.ingest.staging import (
    FileFacts,
    FileLoadResult,
    UnreadableFileError,
    choose_text_encoding,
    column_key,
    contract_select,
    duckdb_reader_rejects,
    extra_json,
    read_header_records,
    read_json_lines,
    reject_options,
)
from orchestration.sql import sql_identifier, sql_literal

ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"
QUALTRICS_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Qualtrics columns that identify a person: never kept in _extra.
QUALTRICS_PERSONAL = (
    "IPAddress",
    "RecipientLastName",
    "RecipientFirstName",
    "RecipientEmail",
    "LocationLatitude",
    "LocationLongitude",
)


@dataclass
class VendorPlan:
    """What was read before the transaction: the header and where each column is."""

    encoding: str = "utf-8"
    header: list[str] = field(default_factory=list)
    header_lines: int = 1
    import_ids: dict[str, dict] = field(default_factory=dict)  # column -> ImportId object
    json_document: bool = False


# --- planning (before the transaction) -----------------------------------------------------


def plan_vendor_file(
    conn: duckdb.DuckDBPyConnection,
    source: SourceConfig,
    path: Path,
    facts: FileFacts,
    result: FileLoadResult,
) -> VendorPlan:
    """Probe the file before its transaction opens (a DuckDB error inside a transaction
    aborts it); a file that cannot be read at all raises UnreadableFileError."""
    encoding = choose_text_encoding(facts, result)
    result.encoding = encoding
    if source.format == "zendesk":
        document = path.suffix.lower() == ".json"
        if document:
            valid, kind = conn.execute(
                "select json_valid(content), case when json_valid(content) "
                "then json_type(content::json, '$.tickets') end "
                f"from read_text({sql_literal(str(path))})"
            ).fetchone()
            if not valid:
                raise UnreadableFileError("malformed_json", "not a valid JSON document")
            if kind != "ARRAY":
                raise UnreadableFileError(
                    "not_a_ticket_export", "a Zendesk JSON export holds a `tickets` array"
                )
        return VendorPlan(encoding=encoding, json_document=document)
    header_lines = 3 if source.format == "qualtrics" else 1
    records = read_header_records(path, encoding, source.delimiter, header_lines)
    if not records or not any(cell.strip() for cell in records[0]):
        raise UnreadableFileError("missing_header", "line 1 is blank: the header must be on line 1")
    plan = VendorPlan(encoding=encoding, header=records[0], header_lines=header_lines)
    if source.format == "qualtrics":
        if len(records) < 3:
            raise UnreadableFileError(
                "missing_header",
                "a Qualtrics export has three header rows (ids, question texts, ImportIds)",
            )
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


# --- SQL for one field ---------------------------------------------------------------------


def field_sql(spec: FieldSpec, column: Callable[[str], str]) -> str:
    """The DuckDB expression of a contract field (text) from its FieldSpec."""
    if spec.value is not None:
        expr = sql_literal(spec.value)
    else:
        expr = f"nullif(trim({column(spec.column)}), '')"
    if spec.lower:
        expr = f"lower({expr})"
    if spec.format:
        parsed = f"try_strptime({expr}, {sql_literal(spec.format)})"
        if spec.timezone:
            parsed = f"timezone('UTC', timezone({sql_literal(spec.timezone)}, {parsed}))"
        # a value not in the format is kept as sent: staging rejects it with its reason
        expr = f"coalesce(strftime({parsed}, {sql_literal(ISO_UTC)}), {expr})"
    if spec.recode:
        cases = " ".join(
            f"when {sql_literal(k.strip().lower())} then {sql_literal(v)}"
            for k, v in spec.recode.items()
        )
        fallback = sql_literal(spec.default) if spec.default is not None else expr
        expr = f"(case lower({expr}) {cases} else {fallback} end)"
    elif spec.default is not None:
        expr = f"coalesce({expr}, {sql_literal(spec.default)})"
    if spec.prefix:
        expr = f"({sql_literal(spec.prefix)} || {expr})"
    return expr


# --- delimited files (csv, qualtrics) ------------------------------------------------------


class _Columns:
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

    def has(self, name: str) -> bool:
        return column_key(name) in self.positions

    def extra_json(self, drop: tuple[str, ...]) -> str:
        dropped = {column_key(d) for d in drop}
        return extra_json(
            {
                name: f"c{i}"
                for i, name in enumerate(self.header)
                if i not in self.used and column_key(name) not in dropped
            }
        )


def _read_delimited(
    conn: duckdb.DuckDBPyConnection, source: SourceConfig, path: Path, plan: VendorPlan
) -> None:
    """Data records into `_src` (c0, c1 ... as text), structural rejects into the stage."""
    positional = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(plan.header)))
    conn.execute(
        f"""
        create or replace temp table _src as
        select row_number() over () as _rec, row_number() over () + {plan.header_lines} as _line, *
        from read_csv(
            {sql_literal(str(path))},
            columns = {{{positional}}},
            header = false, skip = {plan.header_lines}, auto_detect = false, strict_mode = true,
            delim = {sql_literal(source.delimiter)}, quote = '"', escape = '"',
            encoding = {sql_literal(plan.encoding)},
            {reject_options()}
        )
        """
    )
    duckdb_reader_rejects(conn, "_src", header_lines=plan.header_lines)


def _rejected_for_missing_columns(conn, source: SourceConfig, stream_name: str, columns) -> bool:
    """A column the config names is not in the file: no record can be mapped, every one is
    rejected naming the columns and the config (True when that happened)."""
    if not columns.missing:
        return False
    _empty_stage(conn, stream_name)
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


def _create_stage(conn, stream_name: str, select_sql: str) -> None:
    stream = STREAMS[stream_name]
    conn.execute(f"create or replace temp table _stage as {select_sql}")
    conn.execute(
        "create or replace temp table _stage as select _rec, _line, "
        + ", ".join(sql_identifier(c) for c in stream.columns)
        + ", _extra from _stage"
    )


def _empty_stage(conn, stream_name: str) -> None:
    stream = STREAMS[stream_name]
    columns = ", ".join(f"{sql_identifier(c)} varchar" for c in stream.columns)
    conn.execute(
        "create or replace temp table _stage "
        f"(_rec bigint, _line bigint, {columns}, _extra varchar)"
    )


def stage_csv_source(conn, source: SourceConfig, stream_name: str, path: Path, plan: VendorPlan):
    """Rows of one `outputs` stream; records outside `only_when` are skipped."""
    _read_delimited(conn, source, path, plan)
    output = source.outputs[stream_name]
    columns = _Columns(plan.header)
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
    if _rejected_for_missing_columns(conn, source, stream_name, columns):
        return {}
    _create_stage(
        conn,
        stream_name,
        f"select _rec, _line, {contract_select(STREAMS[stream_name], fields)}, "
        f"{columns.extra_json(source.drop)} as _extra from _src where {condition}",
    )
    skipped = conn.execute(f"select count(*) from _src where not ({condition})").fetchone()[0]
    return {output.skip_reason: skipped} if skipped else {}


def stage_qualtrics(conn, source: SourceConfig, stream_name: str, path: Path, plan: VendorPlan):
    """One answer row per (response, configured question) with an answer; responses whose
    Status is not a normal response are rejected once each, with the status named."""
    _read_delimited(conn, source, path, plan)
    columns = _Columns(plan.header)
    by_import_id = {v.get("ImportId"): name for name, v in plan.import_ids.items()}
    shared = {}
    for name, spec in source.fields.items():
        if spec.format is None and name == "responded_at":
            timezone = spec.timezone or plan.import_ids.get(spec.column or "", {}).get("timeZone")
            spec = dataclasses.replace(spec, format=QUALTRICS_TIME_FORMAT, timezone=timezone)
        shared[name] = field_sql(spec, columns)
    response_id = columns("ResponseId")
    status = f"trim({columns('Status')})"
    normal = ", ".join(sql_literal(s) for s in source.normal_statuses)
    selects = []
    answer_columns = []
    for question in source.questions:
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
            f"select _rec, _line, {contract_select(STREAMS[stream_name], fields)}, "
            "{extra} as _extra "
            f"from _src where {status} in ({normal}) and {answer} is not null"
        )
    drop = (*QUALTRICS_PERSONAL, *source.drop)
    extra = columns.extra_json(drop)
    if _rejected_for_missing_columns(conn, source, stream_name, columns):
        return {}
    _create_stage(
        conn, stream_name, " union all ".join(s.replace("{extra}", extra) for s in selects)
    )
    conn.execute(
        f"""
        insert into _stage_rejects
        select _line, 'excluded_response',
               'Status ' || coalesce('''' || {status} || '''', 'missing')
                   || ' is not a normal response (previews, tests and spam are excluded; '
                   || {sql_literal("normal: " + ", ".join(source.normal_statuses))} || ')',
               {response_id}
        from _src where {status} is null or {status} not in ({normal})
        """
    )
    unanswered = " + ".join(f"({a} is null)::int" for a in answer_columns)
    skipped = conn.execute(
        f"select coalesce(sum({unanswered}), 0) from _src where {status} in ({normal})"
    ).fetchone()[0]
    return {"question not answered": int(skipped)} if skipped else {}


# --- zendesk --------------------------------------------------------------------------------


def _zendesk_tickets(conn: duckdb.DuckDBPyConnection, path: Path, plan: VendorPlan) -> None:
    """Tickets into `_zd` (_rec, _line, _doc json); unreadable records into the rejects."""
    if plan.json_document:  # checked by plan_vendor_file: valid, with a tickets array
        conn.execute(
            f"create or replace temp table _zd_file as "
            f"select content::json as doc from read_text({sql_literal(str(path))})"
        )
        # `line` of a record in a JSON document is its position in tickets[] (from 1).
        conn.execute(
            """
            create or replace temp table _zd as
            select
                i + 1 as _rec,
                i + 1 as _line,
                json_extract(doc, '$.tickets[' || i || ']') as _doc,
                json_extract(doc, '$.metric_sets') as _metric_sets
            from _zd_file, range(json_array_length(doc, '$.tickets')::bigint) t(i)
            """
        )
        conn.execute("drop table _zd_file")
    else:
        read_json_lines(conn, path, plan.encoding)
        conn.execute(
            "create or replace temp table _zd as "
            "select _rec, _line, _raw::json as _doc, null::json as _metric_sets from _jsonl "
            "where _kind = 'OBJECT'"
        )
        conn.execute("drop table _jsonl")
    conn.execute(
        """
        insert into _stage_rejects
        select _line, 'not_an_object', 'a ticket must be a JSON object, found '
            || lower(json_type(_doc)), _doc::varchar
        from _zd where json_type(_doc) <> 'OBJECT'
        union all
        select _line, 'missing_required_field', 'ticket without an id', _doc::varchar
        from _zd where json_type(_doc) = 'OBJECT' and (_doc->>'$.id') is null
        """
    )
    conn.execute("delete from _zd where json_type(_doc) <> 'OBJECT' or (_doc->>'$.id') is null")


def stage_zendesk(conn, source: SourceConfig, stream_name: str, path: Path, plan: VendorPlan):
    """Tickets, or the good/bad satisfaction ratings as CSAT answers (others skipped)."""
    _zendesk_tickets(conn, path, plan)
    prefix = sql_literal(source.ticket_id_prefix)
    touchpoint = _zendesk_touchpoint(source)
    # Ticket metrics: inline (`metric_set`, or the fields on the ticket) or sideloaded
    # (`metric_sets[]` keyed by ticket_id).
    conn.execute(
        """
        create or replace temp table _zdm as
        select z.*, coalesce(
            z._doc->'$.metric_set',
            (select m from (select unnest(from_json(z._metric_sets, '["json"]')) as m)
             where json_extract_string(m, '$.ticket_id') = json_extract_string(z._doc, '$.id')
             limit 1),
            z._doc
        ) as _metric
        from _zd as z
        """
    )
    ticket_id = f"({prefix} || (_doc->>'$.id'))"
    channel = "lower(_doc->>'$.via.channel')"
    if stream_name == TICKETS.name:
        fields = {
            "ticket_id": ticket_id,
            "customer_id": "(_doc->>'$.requester_id')",
            "touchpoint": touchpoint,
            "channel": channel,
            "created_at": "(_doc->>'$.created_at')",
            "solved_at": (
                "coalesce(_metric->>'$.solved_at', strftime(try_cast(_doc->>'$.created_at' as "
                "timestamptz) + to_minutes(try_cast(_metric->>'$.full_resolution_time_in_minutes"
                f".calendar' as bigint)), {sql_literal(ISO_UTC)}))"
            ),
            "status": "lower(_doc->>'$.status')",
            "priority": "lower(_doc->>'$.priority')",
            "reply_count": "(_metric->>'$.replies')",
            "reopen_count": "(_metric->>'$.reopens')",
            "transfer_count": (
                "cast(case when try_cast(_metric->>'$.group_stations' as bigint) is not null then "
                "greatest(try_cast(_metric->>'$.group_stations' as bigint) - 1, 0) end as varchar)"
            ),
        }
        extra = (
            "json_object('updated_at', _doc->>'$.updated_at', 'group_id', _doc->>'$.group_id', "
            "'tags', _doc->'$.tags', 'assignee_stations', _metric->>'$.assignee_stations')::varchar"
        )
        _create_stage(
            conn,
            stream_name,
            f"select _rec, _line, {contract_select(STREAMS[stream_name], fields)}, "
            f"{extra} as _extra "
            "from _zdm",
        )
        return {}
    score = "lower(_doc->>'$.satisfaction_rating.score')"
    fields = {
        "response_id": (
            "('zendesk-csat-' || coalesce(_doc->>'$.satisfaction_rating.id', _doc->>'$.id'))"
        ),
        "survey_id": sql_literal(source.csat_survey_id),
        "customer_id": "(_doc->>'$.requester_id')",
        "touchpoint": touchpoint,
        "channel": channel,
        "interaction_id": ticket_id,
        "responded_at": (
            "coalesce(_doc->>'$.satisfaction_rating.updated_at', "
            "_doc->>'$.satisfaction_rating.created_at', _doc->>'$.updated_at')"
        ),
        "answer": score,
        "comment": "nullif(trim(_doc->>'$.satisfaction_rating.comment'), '')",
        "language": sql_literal(source.language) if source.language else "null::varchar",
    }
    not_answers = "('offered', 'unoffered')"
    _create_stage(
        conn,
        stream_name,
        f"select _rec, _line, {contract_select(STREAMS[stream_name], fields)}, "
        "null::varchar as _extra "
        f"from _zdm where {score} is not null and {score} not in {not_answers}",
    )
    skipped = conn.execute(
        f"""
        select coalesce({score}, 'none') as kind, count(*) from _zdm
        where {score} is null or {score} in {not_answers}
        group by 1 order by 1
        """
    ).fetchall()
    reasons = {
        "offered": "satisfaction survey offered, not answered",
        "unoffered": "satisfaction survey not offered",
        "none": "no satisfaction_rating",
    }
    return {reasons[kind]: n for kind, n in skipped}


def _zendesk_touchpoint(source: SourceConfig) -> str:
    """Touchpoint from the first tag in `touchpoint.tags`, else a custom field, else default."""
    rule = source.touchpoint
    candidates = []
    tags = rule.get("tags") or {}
    if tags:
        cases = " ".join(
            f"when list_contains(json_extract_string(_doc, '$.tags[*]'), {sql_literal(str(t))}) "
            f"then {sql_literal(str(tp))}"
            for t, tp in tags.items()
        )
        candidates.append(f"(case {cases} end)")
    if rule.get("custom_field_id") is not None:
        field_id = sql_literal(str(rule["custom_field_id"]))
        candidates.append(
            "(select f->>'$.value' from (select unnest(from_json(_doc->'$.custom_fields', "
            f"'[\"json\"]')) as f) where json_extract_string(f, '$.id') = {field_id} limit 1)"
        )
    if rule.get("default") is not None:
        candidates.append(sql_literal(str(rule["default"])))
    return f"coalesce({', '.join(candidates)})" if candidates else "null::varchar"


STAGERS = {"csv": stage_csv_source, "qualtrics": stage_qualtrics, "zendesk": stage_zendesk}


def stage_vendor_file(
    conn: duckdb.DuckDBPyConnection,
    source: SourceConfig,
    stream_name: str,
    path: Path,
    plan: VendorPlan,
) -> dict[str, int]:
    """Fill `_stage` / `_stage_rejects` for one stream; the records skipped, by reason."""
    try:
        return STAGERS[source.format](conn, source, stream_name, path, plan)
    finally:
        for table in ("_src", "_zd", "_zdm"):
            conn.execute(f"drop table if exists {table}")
