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
from orchestration.ingest.readers.fields import ISO_UTC, check_keys, config_error
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
CONNECTOR_MESSAGE = "connector message, not a record"
DELETED = "deleted in Zendesk (connector tombstone)"
RATING_NOT_TICKET = "a satisfaction rating, not a ticket"
# Airbyte protocol messages that are not records (STATE, LOG, TRACE ...).
AIRBYTE_TYPES = ("STATE", "LOG", "TRACE", "SPEC", "CATALOG", "CONNECTION_STATUS", "CONTROL")
# The record inside a connector's wrapping: an Airbyte protocol RECORD message, an Airbyte
# raw-table row (`_airbyte_data`, an object or its JSON text); Fivetran and Estuary write
# the record itself, with `_fivetran_*` / `_meta` keys beside its fields.
UNWRAPPED = """(case
    when (_raw->>'$.type') = 'RECORD' and json_type(_raw, '$.record.data') = 'OBJECT'
        then _raw->'$.record.data'
    when json_type(_raw, '$._airbyte_data') = 'OBJECT' then _raw->'$._airbyte_data'
    when json_type(_raw, '$._airbyte_data') = 'VARCHAR'
        then try_cast(_raw->>'$._airbyte_data' as json)
    else _raw
end)"""
# A satisfaction rating (the satisfaction_ratings API): a score and a ticket_id, no status.
IS_RATING = (
    "(json_type(_doc) = 'OBJECT' and (_doc->>'$.score') is not null "
    "and (_doc->>'$.ticket_id') is not null and (_doc->>'$.status') is null)"
)


@dataclass(frozen=True)
class ZendeskOptions:
    ticket_id_prefix: str = ""
    # the Zendesk account (subdomain) in every id, so that the tickets of two accounts
    # never collide; "from_url": the subdomain of each record's `url`
    account: str | None = None
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
    array: str = "tickets"  # of a JSON document: tickets, or satisfaction_ratings


class ZendeskReader:
    format: ClassVar[str] = "zendesk"
    config_keys: ClassVar[frozenset[str]] = frozenset(
        {"ticket_id_prefix", "account", "touchpoint", "csat_survey_id", "language"}
    )

    def __init__(self, source: VendorSource) -> None:
        self.source = source
        self.options: ZendeskOptions = source.options

    @staticmethod
    def parse_options(path: Path, raw: dict) -> ZendeskOptions:
        touchpoint = raw.get("touchpoint") or {}
        check_keys(path, "touchpoint", touchpoint, {"tags", "custom_field_id", "default"})
        account = raw.get("account")
        if account is not None and (not isinstance(account, str) or not account.strip()):
            raise config_error(path, "account", "the account's subdomain, or from_url")
        return ZendeskOptions(
            ticket_id_prefix=str(raw.get("ticket_id_prefix") or ""),
            account=account.strip() if account else None,
            touchpoint=touchpoint,
            csat_survey_id=str(raw.get("csat_survey_id") or "csat_good_bad"),
            language=raw.get("language"),
        )

    def plan(self, file: LandingFile) -> _Plan:
        encoding = file.text_encoding()
        document = file.path.suffix.lower() == ".json"
        array = "tickets"
        if document:
            valid, tickets, ratings = file.conn.execute(
                "select json_valid(content), "
                "case when json_valid(content) then json_type(content::json, '$.tickets') end, "
                "case when json_valid(content) "
                "then json_type(content::json, '$.satisfaction_ratings') end "
                f"from read_text({sql_literal(str(file.path))})"
            ).fetchone()
            if not valid:
                raise UnreadableFileError("malformed_json", "not a valid JSON document")
            if tickets != "ARRAY" and ratings != "ARRAY":
                raise UnreadableFileError(
                    "not_a_ticket_export",
                    "a Zendesk JSON export holds a `tickets` array (the tickets API or an "
                    "export) or a `satisfaction_ratings` array (the satisfaction ratings API)",
                )
            array = "tickets" if tickets == "ARRAY" else "satisfaction_ratings"
        return _Plan(encoding=encoding, json_document=document, array=array)

    def stage(self, file: LandingFile, plan: _Plan) -> dict[str, int]:
        try:
            skipped = self._read_tickets(file.conn, file.path, plan)
            if file.stream.name == TICKETS.name:
                self._stage_tickets(file.conn, file.stream)
                ratings = file.conn.execute("select count(*) from _zdm where _is_rating")
                n_ratings = ratings.fetchone()[0]
                return {**skipped, **({RATING_NOT_TICKET: n_ratings} if n_ratings else {})}
            return {**skipped, **self._stage_ratings(file.conn, file.stream)}
        finally:
            drop_tables(file.conn, "_zd", "_zdm")

    def _read_tickets(
        self, conn: duckdb.DuckDBPyConnection, path: Path, plan: _Plan
    ) -> dict[str, int]:
        """Tickets and ratings into `_zdm` (_rec, _line, _doc json, _metric json,
        _is_rating; a rating as a ticket holding it, so that it reads like one);
        unreadable records into the rejects. Returns the records skipped: a connector's
        messages that are not records, records it marks deleted."""
        array = plan.array
        if plan.json_document:  # checked by plan: valid, with a tickets or ratings array
            # `line` of a record in a JSON document is its position in its array (from 1).
            conn.execute(
                f"""
                create or replace temp table _zd as
                select
                    i + 1 as _rec,
                    i + 1 as _line,
                    json_extract(doc, '$.{array}[' || i || ']') as _raw,
                    json_extract(doc, '$.metric_sets') as _metric_sets
                from (select content::json as doc from read_text({sql_literal(str(path))})),
                    range(json_array_length(doc, '$.{array}')::bigint) t(i)
                """
            )
        else:
            read_json_lines(conn, path, plan.encoding)
            conn.execute(
                "create or replace temp table _zd as "
                "select _rec, _line, _raw::json as _raw, null::json as _metric_sets "
                "from _jsonl where _kind = 'OBJECT'"
            )
            drop_tables(conn, "_jsonl")
        messages = ", ".join(sql_literal(t) for t in AIRBYTE_TYPES)
        # one pass: the record unwrapped, whether it is skipped (a connector message, a
        # tombstone in the record) and whether it is a rating, held as a ticket holding it
        conn.execute(
            f"""
            create or replace temp table _zd as
            select _rec, _line, _metric_sets, _skip, _is_rating,
                   case when _is_rating then json_object(
                       'id', _doc->'$.ticket_id', 'url', _doc->'$.url',
                       'requester_id', _doc->'$.requester_id', 'satisfaction_rating', _doc
                   ) else _doc end as _doc
            from (
                select *, {IS_RATING} as _is_rating,
                    case
                        when (_raw->>'$.type') in ({messages}) then '{CONNECTOR_MESSAGE}'
                        when (_doc->>'$._fivetran_deleted') = 'true'
                            or (_doc->>'$._ab_cdc_deleted_at') is not null then '{DELETED}'
                    end as _skip
                from (select *, {UNWRAPPED} as _doc from _zd)
            )
            """
        )
        skipped = dict(
            conn.execute(
                "select _skip, count(*) from _zd where _skip is not null group by 1"
            ).fetchall()
        )
        conn.execute("delete from _zd where _skip is not null")
        conn.execute(
            """
            insert into _stage_rejects
            select _line, 'not_an_object', 'a ticket must be a JSON object, found '
                || coalesce(lower(json_type(_doc)), 'a wrapped record that is not JSON'),
                _doc::varchar
            from _zd where coalesce(json_type(_doc), 'NULL') <> 'OBJECT'
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
        return skipped

    def _account(self) -> str:
        """The account part of ids ('' without `account`), ending in '-'."""
        account = self.options.account
        if account is None:
            return "''"
        if account == "from_url":
            subdomain = r"regexp_extract(_doc->>'$.url', '^https?://([^./]+)\.zendesk\.com', 1)"
            return f"(coalesce(nullif({subdomain}, ''), 'unknown-account') || '-')"
        return sql_literal(f"{account}-")

    def _ticket_id(self) -> str:
        prefix = sql_literal(self.options.ticket_id_prefix)
        return f"({prefix} || {self._account()} || (_doc->>'$.id'))"

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
            f"select _rec, _line, {contract_select(stream, fields)}, {extra} as _extra "
            "from _zdm where not _is_rating",
        )

    def _stage_ratings(self, conn: duckdb.DuckDBPyConnection, stream: Stream) -> dict[str, int]:
        """The good/bad satisfaction ratings as CSAT answers; the others skipped, by reason."""
        options = self.options
        score = "lower(_doc->>'$.satisfaction_rating.score')"
        fields = {
            "response_id": (
                f"('zendesk-csat-' || {self._account()} || "
                "coalesce(_doc->>'$.satisfaction_rating.id', _doc->>'$.id'))"
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
