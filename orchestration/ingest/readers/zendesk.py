"""Format `zendesk`: a Zendesk ticket export (a JSON document with `tickets[]`, optionally
sideloaded `metric_sets[]`, or JSON Lines of tickets). Tickets go to the tickets stream;
good/bad satisfaction ratings become CSAT answers (offered-but-unanswered ones are
skipped, with their reason)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import duckdb

from orchestration.ingest.contract import SURVEY_RESPONSES, TICKETS, Stream
from orchestration.ingest.readers.base import VendorSource
from orchestration.ingest.readers.fields import ISO_UTC, check_keys
from orchestration.ingest.staging import (
    LandingFile,
    UnreadableFileError,
    contract_select,
    create_stage,
    drop_tables,
    read_json_lines,
)
from orchestration.sql import sql_literal

SKIP_REASONS = {
    "offered": "satisfaction survey offered, not answered",
    "unoffered": "satisfaction survey not offered",
    "none": "no satisfaction_rating",
}


@dataclass(frozen=True)
class ZendeskOptions:
    ticket_id_prefix: str = ""
    touchpoint: dict[str, Any] = field(default_factory=dict)
    csat_survey_id: str = "csat_good_bad"
    language: str | None = None

    @property
    def streams(self) -> tuple[str, ...]:
        return (TICKETS.name, SURVEY_RESPONSES.name)


@dataclass
class _Plan:
    encoding: str
    json_document: bool


class ZendeskReader:
    format: ClassVar[str] = "zendesk"
    config_keys: ClassVar[frozenset[str]] = frozenset(
        {"ticket_id_prefix", "touchpoint", "csat_survey_id", "language"}
    )

    def __init__(self, source: VendorSource) -> None:
        self.source = source
        self.options: ZendeskOptions = source.options

    @staticmethod
    def parse_options(path: Path, raw: dict) -> ZendeskOptions:
        touchpoint = raw.get("touchpoint") or {}
        check_keys(path, "touchpoint", touchpoint, {"tags", "custom_field_id", "default"})
        return ZendeskOptions(
            ticket_id_prefix=str(raw.get("ticket_id_prefix") or ""),
            touchpoint=touchpoint,
            csat_survey_id=str(raw.get("csat_survey_id") or "csat_good_bad"),
            language=raw.get("language"),
        )

    def plan(self, file: LandingFile) -> _Plan:
        encoding = file.text_encoding()
        document = file.path.suffix.lower() == ".json"
        if document:
            valid, kind = file.conn.execute(
                "select json_valid(content), case when json_valid(content) "
                "then json_type(content::json, '$.tickets') end "
                f"from read_text({sql_literal(str(file.path))})"
            ).fetchone()
            if not valid:
                raise UnreadableFileError("malformed_json", "not a valid JSON document")
            if kind != "ARRAY":
                raise UnreadableFileError(
                    "not_a_ticket_export", "a Zendesk JSON export holds a `tickets` array"
                )
        return _Plan(encoding=encoding, json_document=document)

    def stage(self, file: LandingFile, plan: _Plan) -> dict[str, int]:
        try:
            self._read_tickets(file.conn, file.path, plan)
            if file.stream.name == TICKETS.name:
                self._stage_tickets(file.conn, file.stream)
                return {}
            return self._stage_ratings(file.conn, file.stream)
        finally:
            drop_tables(file.conn, "_zd", "_zdm")

    def _read_tickets(self, conn: duckdb.DuckDBPyConnection, path: Path, plan: _Plan) -> None:
        """Tickets into `_zdm` (_rec, _line, _doc json, _metric json); unreadable records
        into the rejects."""
        if plan.json_document:  # checked by plan: valid, with a tickets array
            # `line` of a record in a JSON document is its position in tickets[] (from 1).
            conn.execute(
                f"""
                create or replace temp table _zd as
                select
                    i + 1 as _rec,
                    i + 1 as _line,
                    json_extract(doc, '$.tickets[' || i || ']') as _doc,
                    json_extract(doc, '$.metric_sets') as _metric_sets
                from (select content::json as doc from read_text({sql_literal(str(path))})),
                    range(json_array_length(doc, '$.tickets')::bigint) t(i)
                """
            )
        else:
            read_json_lines(conn, path, plan.encoding)
            conn.execute(
                "create or replace temp table _zd as "
                "select _rec, _line, _raw::json as _doc, null::json as _metric_sets "
                "from _jsonl where _kind = 'OBJECT'"
            )
            drop_tables(conn, "_jsonl")
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
            where json_type(z._doc) = 'OBJECT' and (z._doc->>'$.id') is not null
            """
        )

    def _ticket_id(self) -> str:
        return f"({sql_literal(self.options.ticket_id_prefix)} || (_doc->>'$.id'))"

    def _stage_tickets(self, conn: duckdb.DuckDBPyConnection, stream: Stream) -> None:
        fields = {
            "ticket_id": self._ticket_id(),
            "customer_id": "(_doc->>'$.requester_id')",
            "touchpoint": self._touchpoint(),
            "channel": "lower(_doc->>'$.via.channel')",
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
        create_stage(
            conn,
            stream,
            f"select _rec, _line, {contract_select(stream, fields)}, {extra} as _extra from _zdm",
        )

    def _stage_ratings(self, conn: duckdb.DuckDBPyConnection, stream: Stream) -> dict[str, int]:
        """The good/bad satisfaction ratings as CSAT answers; the others skipped, by reason."""
        options = self.options
        score = "lower(_doc->>'$.satisfaction_rating.score')"
        fields = {
            "response_id": (
                "('zendesk-csat-' || coalesce(_doc->>'$.satisfaction_rating.id', _doc->>'$.id'))"
            ),
            "survey_id": sql_literal(options.csat_survey_id),
            "customer_id": "(_doc->>'$.requester_id')",
            "touchpoint": self._touchpoint(),
            "channel": "lower(_doc->>'$.via.channel')",
            "interaction_id": self._ticket_id(),
            "responded_at": (
                "coalesce(_doc->>'$.satisfaction_rating.updated_at', "
                "_doc->>'$.satisfaction_rating.created_at', _doc->>'$.updated_at')"
            ),
            "answer": score,
            "comment": "nullif(trim(_doc->>'$.satisfaction_rating.comment'), '')",
            "language": sql_literal(options.language) if options.language else "null::varchar",
        }
        not_answers = "('offered', 'unoffered')"
        create_stage(
            conn,
            stream,
            f"select _rec, _line, {contract_select(stream, fields)}, null::varchar as _extra "
            f"from _zdm where {score} is not null and {score} not in {not_answers}",
        )
        skipped = conn.execute(
            f"""
            select coalesce({score}, 'none') as kind, count(*) from _zdm
            where {score} is null or {score} in {not_answers}
            group by 1 order by 1
            """
        ).fetchall()
        return {SKIP_REASONS[kind]: n for kind, n in skipped}

    def _touchpoint(self) -> str:
        """Touchpoint from the first tag in `touchpoint.tags`, else a custom field, else
        the default."""
        rule = self.options.touchpoint
        candidates = []
        tags = rule.get("tags") or {}
        if tags:
            cases = " ".join(
                f"when list_contains(json_extract_string(_doc, '$.tags[*]'), "
                f"{sql_literal(str(t))}) then {sql_literal(str(tp))}"
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
