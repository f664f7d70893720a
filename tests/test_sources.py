"""Vendor exports: source configs, Qualtrics, Zendesk and mapped CSV files, each through the
real loader with the shipped configs in config/sources/, and all of them in one build."""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from orchestration.ingest.contract import SURVEY_RESPONSES, TICKETS
from orchestration.ingest.loader import load_stream
from orchestration.ingest.readers import VENDOR_READERS
from orchestration.ingest.readers.fields import config_error, field_sql
from orchestration.ingest.sources import (
    FieldSpec,
    SourceConfigError,
    load_source_config,
    load_source_configs,
)
from orchestration.ingest.staging import (
    contract_select,
    create_stage,
    drop_tables,
    read_json_lines,
)
from orchestration.sql import sql_literal

SHARED_TICKETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
HELPDESK_CSV = SHARED_TICKETS / "customer_support_tickets.csv"


# --- configs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("format: xml\nfiles: a/*", "format: 'xml' is not one of"),
        ("format: csv\nfiles: tickets/*.csv\noutputs: {}", "must not point into the contract"),
        (
            "format: csv\nfiles: a/*.csv\ncolour: red\noutputs: {}",
            "top level: unknown key(s) colour",
        ),
        (  # no longer a key: it was parsed and ignored, files are UTF-8 or Latin-1
            "format: csv\nfiles: a/*.csv\nencoding: cp1252\noutputs: {}",
            "top level: unknown key(s) encoding",
        ),
        (
            "format: csv\nfiles: a/*.csv\noutputs:\n  tickets:\n"
            "    fields: {ticket_id: A, mood: B}",
            "outputs.tickets.fields: mood not in the tickets contract",
        ),
        (
            "format: csv\nfiles: a/*.csv\noutputs:\n  tickets:\n    fields: {ticket_id: A}",
            "required tickets field(s) not mapped: customer_id, created_at, status",
        ),
        (
            "format: csv\nfiles: a/*.csv\noutputs:\n  tickets:\n    fields:\n"
            "      ticket_id: {column: A, value: B}",
            "outputs.tickets.fields.ticket_id: "
            "give exactly one of `column`, `columns`, `line` and `value`",
        ),
        (
            "format: qualtrics\nfiles: q/*.csv\nfields: {customer_id: X, touchpoint: T}\n"
            "questions: [{column: Q1}]",
            "questions[0]: give `survey_id` and one of `column` / `import_id`",
        ),
    ],
)
def test_an_invalid_source_config_names_its_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.yml"
    path.write_text(text)
    with pytest.raises(SourceConfigError) as error:
        load_source_config(path)
    assert str(error.value).startswith(str(path))
    assert message in str(error.value)


def test_the_shipped_configs_load():
    configs = {c.name: c for c in load_source_configs()}
    assert set(configs) == {"helpdesk_tickets", "qualtrics_checkout_ces", "zendesk_support"}
    assert configs["helpdesk_tickets"].streams == ("tickets", "survey_responses")
    assert configs["qualtrics_checkout_ces"].streams == ("survey_responses",)


def test_field_expressions_recode_default_prefix_and_convert_time_zones():
    conn = duckdb.connect()
    conn.execute("set TimeZone = 'UTC'")
    conn.execute(
        "create table t as select * from (values "
        "('Pending Customer Response', ' 2026-03-02 10:15:00 ', 'x'), "
        "('closed', 'not a time', null), (null, null, ' ')) v(c0, c1, c2)"
    )

    def evaluate(spec: FieldSpec) -> list:
        expr = field_sql(spec, {"Status": "c0", "When": "c1", "Id": "c2"}.__getitem__)
        return [r[0] for r in conn.execute(f"select {expr} from t order by rowid").fetchall()]

    status = FieldSpec(
        column="Status", recode={"Pending customer response": "pending", "Closed": "closed"}
    )
    assert evaluate(status) == ["pending", "closed", None]
    assert evaluate(FieldSpec(column="Status", recode={"closed": "c"}, default="other")) == [
        "other",
        "c",
        "other",
    ]
    assert evaluate(FieldSpec(column="Id", prefix="HD-")) == ["HD-x", None, None]
    assert evaluate(FieldSpec(value="csat_5")) == ["csat_5"] * 3
    # Denver is UTC-7 in March (before DST on 8 March 2026); a value not in the format is
    # kept as sent, so staging rejects it with its own reason.
    when = FieldSpec(column="When", format="%Y-%m-%d %H:%M:%S", timezone="America/Denver")
    assert evaluate(when) == ["2026-03-02T17:15:00Z", "not a time", None]


# --- Qualtrics ------------------------------------------------------------------------------

QUALTRICS_IDS = [
    "StartDate", "EndDate", "Status", "IPAddress", "Progress", "Duration (in seconds)",
    "Finished", "RecordedDate", "ResponseId", "RecipientLastName", "RecipientFirstName",
    "RecipientEmail", "ExternalReference", "LocationLatitude", "LocationLongitude",
    "DistributionChannel", "UserLanguage", "Q1", "Q2", "Q3", "touchpoint", "order_id",
]  # fmt: skip
QUALTRICS_TEXTS = [
    "Start Date", "End Date", "Response Type", "IP Address", "Progress", "Duration (in seconds)",
    "Finished", "Recorded Date", "Response ID", "Recipient Last Name", "Recipient First Name",
    "Recipient Email", "External Data Reference", "Location Latitude", "Location Longitude",
    "Distribution Channel", "User Language",
    'Acme made it easy for me to check out.\n(1 = "strongly disagree", 7 = "strongly agree")',
    "Overall, how satisfied are you with your order?",
    "Anything else we should know?", "touchpoint", "order_id",
]  # fmt: skip
QUALTRICS_IMPORT_IDS = [
    {"ImportId": "startDate", "timeZone": "America/Denver"},
    {"ImportId": "endDate", "timeZone": "America/Denver"},
    {"ImportId": "status"}, {"ImportId": "ipAddress"}, {"ImportId": "progress"},
    {"ImportId": "duration"}, {"ImportId": "finished"},
    {"ImportId": "recordedDate", "timeZone": "America/Denver"},
    {"ImportId": "_recordId"}, {"ImportId": "recipientLastName"},
    {"ImportId": "recipientFirstName"}, {"ImportId": "recipientEmail"},
    {"ImportId": "externalDataReference"}, {"ImportId": "locationLatitude"},
    {"ImportId": "locationLongitude"}, {"ImportId": "distributionChannel"},
    {"ImportId": "userLanguage"}, {"ImportId": "QID1"}, {"ImportId": "QID2"},
    {"ImportId": "QID3_TEXT"}, {"ImportId": "touchpoint"}, {"ImportId": "order_id"},
]  # fmt: skip


def qualtrics_row(status, recorded, response_id, q1, q2, q3="", channel="email", lang="EN"):
    return [
        recorded, recorded, status, "203.0.113.7", "100", "61", "True", recorded, response_id,
        "Jansen", "Jan", "jan.jansen@example.com", "CUST-77", "52.37", "4.89", channel, lang,
        q1, q2, q3, "checkout", "ORD-1001",
    ]  # fmt: skip


def write_qualtrics(path: Path, extra_lines: str = "") -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(QUALTRICS_IDS)
    writer.writerow(QUALTRICS_TEXTS)
    writer.writerow([json.dumps(v, separators=(",", ":")) for v in QUALTRICS_IMPORT_IDS])
    rows = [
        # line 5 (the question text on line 2 spans two lines): numbers, a comment with a
        # comma and quotes
        qualtrics_row("IP Address", "2026-03-02 10:15:00", "R_a1", "6", "4", 'Fast, "mostly"'),
        # line 6: choice texts, as a choice-text export sends them
        qualtrics_row(
            "IP Address", "2026-03-09 23:30:00", "R_a2", "Strongly agree", "Very satisfied"
        ),
        # line 7: a preview and line 8 spam: excluded with the status named
        qualtrics_row("Survey Preview", "2026-03-03 09:00:00", "R_p1", "7", "5"),
        qualtrics_row("Spam", "2026-03-03 09:05:00", "R_s1", "1", "1"),
        # line 9: the CSAT question skipped by the respondent
        qualtrics_row("IP Address", "2026-03-04 12:00:00", "R_a3", "3", "", channel="anonymous"),
    ]  # fmt: skip
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue() + extra_lines)


def manifest(conn, stream: str) -> list[tuple]:
    return conn.execute(
        "select file_path, status, rows_landed, rows_accepted, rows_rejected, rows_skipped, "
        "skip_reasons from audit.load_manifest where stream = ? order by file_path",
        [stream],
    ).fetchall()


def test_a_qualtrics_export_becomes_one_answer_per_question(conn, landing):
    # line 10 has one field too few: a structural reject at its own line (the question text
    # of line 2 spans two lines, so the data starts on line 5)
    write_qualtrics(landing / "qualtrics" / "checkout_ces_2026-03.csv", "2026-03-05,broken\n")
    sources = load_source_configs()
    load_stream(conn, SURVEY_RESPONSES, landing, sources)
    rows = conn.execute(
        "select response_id, survey_id, customer_id, touchpoint, channel, interaction_id, "
        "responded_at, answer, comment, language, _source_line, _extra "
        "from raw.survey_responses order by _source_line, response_id"
    ).fetchall()
    assert [r[:11] for r in rows] == [
        ("R_a1:QID1", "ces2_agree_7_text", "CUST-77", "checkout", "email", "ORD-1001",
         "2026-03-02T17:15:00Z", "6", 'Fast, "mostly"', "en", 5),
        ("R_a1:QID2", "csat_5_text", "CUST-77", "checkout", "email", "ORD-1001",
         "2026-03-02T17:15:00Z", "4", None, "en", 5),
        # 23:30 in Denver (UTC-6 after 8 March) is the next day in UTC
        ("R_a2:QID1", "ces2_agree_7_text", "CUST-77", "checkout", "email", "ORD-1001",
         "2026-03-10T05:30:00Z", "Strongly agree", None, "en", 6),
        ("R_a2:QID2", "csat_5_text", "CUST-77", "checkout", "email", "ORD-1001",
         "2026-03-10T05:30:00Z", "Very satisfied", None, "en", 6),
        ("R_a3:QID1", "ces2_agree_7_text", "CUST-77", "checkout", "web", "ORD-1001",
         "2026-03-04T19:00:00Z", "3", None, "en", 9),
    ]  # fmt: skip
    extra = json.loads(rows[0][11])
    assert "Progress" in extra and "ResponseId" not in extra
    for personal in ("IPAddress", "RecipientEmail", "RecipientLastName", "LocationLatitude"):
        assert personal not in extra
    rejects = conn.execute(
        "select line, error_type, reason from audit.rejected_rows order by line"
    ).fetchall()
    assert [(line, kind) for line, kind, _ in rejects] == [
        (7, "excluded_response"),
        (8, "excluded_response"),
        (10, "wrong_column_count"),
    ]
    assert rejects[0][2].startswith("Status 'Survey Preview' is not a normal response")
    assert rejects[1][2].startswith("Status 'Spam' is not a normal response")
    assert manifest(conn, "survey_responses") == [
        ("qualtrics/checkout_ces_2026-03.csv", "loaded_with_rejects", 9, 5, 3, 1,
         '{"question not answered": 1}'),
    ]  # fmt: skip
    # idempotent: loading again adds nothing
    load_stream(conn, SURVEY_RESPONSES, landing, sources)
    assert conn.execute("select count(*) from raw.survey_responses").fetchone() == (5,)
    # a Qualtrics file does not feed the tickets stream
    assert load_stream(conn, TICKETS, landing, sources) == []


def test_a_qualtrics_file_without_its_import_id_row_is_rejected_whole(conn, landing):
    path = landing / "qualtrics" / "checkout_ces_old.csv"
    write_qualtrics(path)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[1] + "".join(lines[4:]))  # no ImportId row
    (result,) = load_stream(conn, SURVEY_RESPONSES, landing, load_source_configs())
    # quarantined: each line after the three header lines is one rejected record
    assert (result.status, result.rows_landed, result.rows_rejected) == ("quarantined", 4, 4)
    rejects = conn.execute(
        "select line, error_type, reason from audit.rejected_rows order by line"
    ).fetchall()
    assert [(line, kind) for line, kind, _ in rejects] == [
        (line, "missing_header") for line in (4, 5, 6, 7)
    ]
    assert rejects[0][2].startswith('row 3 holds no ImportId objects ({"ImportId":"QID1"})')
    assert conn.execute("select count(*) from raw.survey_responses").fetchone() == (0,)


# --- Zendesk --------------------------------------------------------------------------------


def zendesk_ticket(ticket_id, score, **overrides) -> dict:
    ticket = {
        "url": f"https://acme.zendesk.com/api/v2/tickets/{ticket_id}.json",
        "id": ticket_id,
        "created_at": "2026-03-02T09:00:00Z",
        "updated_at": "2026-03-03T10:00:00Z",
        "subject": "Where is my refund, order 1001?",
        "status": "solved",
        "priority": "normal",
        "via": {"channel": "email", "source": {"from": {"address": "jan@example.com"}}},
        "requester_id": 9000 + ticket_id,
        "group_id": 360001,
        "tags": ["refund", "vip"],
        "custom_fields": [{"id": 360000000001, "value": None}],
    }
    if score is not None:
        ticket["satisfaction_rating"] = {"score": score, "comment": None, "id": 77000 + ticket_id}
        if score in ("good", "bad"):
            ticket["satisfaction_rating"]["comment"] = "Quick, thanks" if score == "good" else ""
            ticket["satisfaction_rating"]["updated_at"] = "2026-03-03T12:00:00Z"
    ticket.update(overrides)
    return ticket


def test_a_zendesk_export_gives_tickets_and_good_bad_csat_answers(conn, landing):
    tickets = [
        zendesk_ticket(1, "good", metric_set={
            "reopens": 1, "replies": 3, "group_stations": 3, "assignee_stations": 2,
            "solved_at": "2026-03-03T08:00:00Z",
        }),
        zendesk_ticket(2, "bad", tags=["checkout"], priority=None),
        zendesk_ticket(3, "offered", tags=[]),
        zendesk_ticket(4, "unoffered", tags=[], custom_fields=[
            {"id": 360000000001, "value": "delivery"}
        ]),
        zendesk_ticket(5, None, tags=[]),  # no satisfaction_rating at all
        {"subject": "a ticket without an id"},
    ]  # fmt: skip
    # ticket 2's metrics are sideloaded, as `include=metric_sets` returns them
    metric_sets = [
        {"ticket_id": 2, "reopens": 0, "replies": 1, "group_stations": 1,
         "full_resolution_time_in_minutes": {"calendar": 90, "business": 60}},
    ]  # fmt: skip
    path = landing / "zendesk" / "tickets_2026-03.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"tickets": tickets, "metric_sets": metric_sets}, indent=2))
    sources = load_source_configs()
    load_stream(conn, TICKETS, landing, sources)
    load_stream(conn, SURVEY_RESPONSES, landing, sources)

    assert conn.execute(
        "select ticket_id, customer_id, touchpoint, channel, created_at, solved_at, status, "
        "priority, reply_count, reopen_count, transfer_count from raw.tickets order by 1"
    ).fetchall() == [
        ("ZD-1", "9001", "returns", "email", "2026-03-02T09:00:00Z", "2026-03-03T08:00:00Z",
         "solved", "normal", "3", "1", "2"),
        ("ZD-2", "9002", "checkout", "email", "2026-03-02T09:00:00Z", "2026-03-02T10:30:00Z",
         "solved", None, "1", "0", "0"),
        ("ZD-3", "9003", "customer_support", "email", "2026-03-02T09:00:00Z", None,
         "solved", "normal", None, None, None),
        ("ZD-4", "9004", "delivery", "email", "2026-03-02T09:00:00Z", None,
         "solved", "normal", None, None, None),
        ("ZD-5", "9005", "customer_support", "email", "2026-03-02T09:00:00Z", None,
         "solved", "normal", None, None, None),
    ]  # fmt: skip
    assert conn.execute(
        "select response_id, survey_id, touchpoint, interaction_id, responded_at, answer, "
        "comment from raw.survey_responses order by 1"
    ).fetchall() == [
        ("zendesk-csat-77001", "csat_good_bad", "returns", "ZD-1", "2026-03-03T12:00:00Z",
         "good", "Quick, thanks"),
        ("zendesk-csat-77002", "csat_good_bad", "checkout", "ZD-2", "2026-03-03T12:00:00Z",
         "bad", None),
    ]  # fmt: skip
    assert conn.execute(
        "select stream, line, error_type from audit.rejected_rows order by 1"
    ).fetchall() == [
        ("survey_responses", 6, "missing_required_field"),
        ("tickets", 6, "missing_required_field"),
    ]
    assert manifest(conn, "tickets") == [
        ("zendesk/tickets_2026-03.json", "loaded_with_rejects", 6, 5, 1, 0, None)
    ]
    # offered / unoffered / no rating are counted, not rejected
    assert manifest(conn, "survey_responses")[0][2:] == (
        6, 2, 1, 3,
        json.dumps({
            "no satisfaction_rating": 1,
            "satisfaction survey offered, not answered": 1,
            "satisfaction survey not offered": 1,
        }),
    )  # fmt: skip


def test_zendesk_json_lines_with_a_malformed_line(conn, landing):
    path = landing / "zendesk" / "incremental.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(zendesk_ticket(11, "good"))
        + "\n{not json\n"
        + json.dumps(zendesk_ticket(12, "bad", via={"channel": "web"}))
        + "\n"
    )
    load_stream(conn, TICKETS, landing, load_source_configs())
    assert conn.execute(
        "select ticket_id, channel, _source_line from raw.tickets order by 1"
    ).fetchall() == [("ZD-11", "email", 1), ("ZD-12", "web", 3)]
    assert conn.execute("select line, error_type from audit.rejected_rows").fetchall() == [
        (2, "malformed_json")
    ]


# --- the real help-desk export, end to end ---------------------------------------------------


def test_all_formats_in_one_build(tmp_path, dbt_manifest, settings, capsys):
    """Contract files, a Qualtrics export, a Zendesk export and the real help-desk export
    in one landing folder: one consistent set of marts."""
    from orchestration.cli import main

    if not HELPDESK_CSV.exists():
        pytest.fail(f"{HELPDESK_CSV} is missing: the shared datasets folder is required")
    landing = settings.landing_dir
    (landing / "helpdesk").mkdir()
    shutil.copy(HELPDESK_CSV, landing / "helpdesk" / HELPDESK_CSV.name)
    write_qualtrics(landing / "qualtrics" / "checkout_ces_2026-03.csv")
    path = landing / "zendesk" / "tickets.json"
    path.parent.mkdir()
    path.write_text(
        json.dumps({"tickets": [zendesk_ticket(1, "good"), zendesk_ticket(2, "offered")]})
    )
    (landing / "survey_responses" / "contract.csv").write_text(
        "response_id,survey_id,customer_id,touchpoint,channel,interaction_id,responded_at,answer\n"
        "G1,ces2_agree_7,C1,checkout,web,ZD-1,2026-03-02T10:00:00Z,5\n"
    )
    exit_code = main(
        ["build", "--landing", str(landing), "--warehouse", str(settings.warehouse_dir)]
    )
    printed = capsys.readouterr().out
    assert exit_code == 0, printed

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:

        def one(sql: str):
            return conn.execute(sql).fetchone()

        # help desk: 8,469 tickets, 2,808 CSAT answers (closed tickets), no rejects;
        # + 2 Zendesk tickets
        assert one("select count(*) from marts.fct_ticket_effort") == (8469 + 2,)
        assert one(
            "select count(*), min(csat_5pt), max(csat_5pt) from marts.fct_csat_responses "
            "where response_id like 'HD-CSAT-%'"
        ) == (2808, 1.0, 5.0)
        assert one(
            "select count(*) from audit.rejected_rows where file_path like 'helpdesk/%'"
        ) == (0,)
        assert one(
            "select sum(rows_skipped) from audit.load_manifest where file_path like 'helpdesk/%'"
        ) == (8469 - 2808,)
        # Qualtrics: 3 CES answers (one a choice text) and 2 CSAT; Zendesk: 1 good rating;
        # the contract file: 1 CES answer
        assert one("select count(*) from marts.fct_ces_responses where response_id like 'R_%'") == (
            3,
        )
        assert one(
            "select ease_7pt from marts.fct_ces_responses where response_id = 'R_a2:QID1'"
        ) == (7.0,)  # "Strongly agree"
        assert one(
            "select csat_5pt from marts.fct_csat_responses where response_id = 'R_a2:QID2'"
        ) == (5.0,)  # "Very satisfied"
        assert one(
            "select csat_5pt from marts.fct_csat_responses where response_id = 'zendesk-csat-77001'"
        ) == (5.0,)
        # the contract answer is linked to the Zendesk ticket and its CSAT rating
        assert one(
            "select ticket_id, csat_5pt from marts.fct_ces_responses where response_id = 'G1'"
        ) == ("ZD-1", 5.0)
        # nothing lost: staged answers = CES facts + CSAT facts + rejected answers
        assert one(
            "select (select count(*) from staging.stg_landing__survey_responses) - "
            "(select count(*) from marts.fct_ces_responses) - "
            "(select count(*) from marts.fct_csat_responses) - "
            "(select count(*) from audit.audit_rejected_answers)"
        ) == (0,)
        # no customer names or e-mail addresses reach the marts
        people = conn.execute(
            f'select distinct "Customer Name", "Customer Email" from read_csv('
            f"'{HELPDESK_CSV}', all_varchar = true)"
        ).fetchall()
        marts_text = " ".join(
            str(value)
            for (table,) in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
            for row in conn.execute(f"select * from marts.{table}").fetchall()
            for value in row
            if isinstance(value, str)
        )
        assert "@" not in marts_text
        assert not [name for name, _ in people[:200] if name in marts_text]
        # the export's defect is reported by the quality layer, not hidden
        defects = one(
            "select count(*) from marts.fct_ticket_effort where is_resolved_before_created"
        )[0]
    assert defects == 1292
    warning = next(
        line for line in printed.splitlines() if "WARNING check marts/fct_ticket_effort" in line
    )
    assert "ge_fct_ticket_effort" in warning
    assert "1292" in printed.split(warning)[1].split("\n\n")[0]


def test_a_mapped_csv_with_its_own_delimiter_filter_and_a_file_missing_a_column(
    conn, landing, tmp_path
):
    config = tmp_path / "acme.yml"
    config.write_text(
        "format: csv\nfiles: acme/*.txt\ndelimiter: ';'\ndrop: [Name]\noutputs:\n"
        "  tickets:\n    only_when: {column: Kind, in: [ticket]}\n"
        "    skip_reason: not a ticket\n    fields:\n"
        "      ticket_id: {column: Nr, prefix: 'AC-'}\n      customer_id: Klant\n"
        "      created_at: {column: Datum, format: '%d-%m-%Y %H:%M', timezone: Europe/Amsterdam}\n"
        "      status: {column: Status, recode: {Gesloten: closed}, default: open}\n"
    )
    source = load_source_config(config)
    (landing / "acme").mkdir()
    (landing / "acme" / "march.txt").write_text(
        "Nr;Klant;Name;Kind;Datum;Status;Notes\n"
        '1;K1;Jan Jansen;ticket;02-03-2026 10:15;Gesloten;"a; b"\n'
        "2;K2;Piet;call;02-03-2026 11:00;;\n"
        "3;K3;Kees;ticket;31-03-2026 23:30;;\n"
    )
    (landing / "acme" / "april.txt").write_text("Nr;Klant;Kind;Status\n4;K4;ticket;open\n")
    load_stream(conn, TICKETS, landing, [source])
    assert conn.execute(
        "select ticket_id, customer_id, created_at, status, _extra, _source_line "
        "from raw.tickets order by 1"
    ).fetchall() == [
        ("AC-1", "K1", "2026-03-02T09:15:00Z", "closed", '{"Notes":"a; b"}', 2),
        ("AC-3", "K3", "2026-03-31T21:30:00Z", "open", '{"Notes":null}', 4),
    ]
    assert manifest(conn, "tickets") == [
        ("acme/april.txt", "rejected", 1, 0, 1, 0, None),
        ("acme/march.txt", "loaded", 3, 2, 0, 1, '{"not a ticket": 1}'),
    ]
    assert conn.execute("select line, error_type, reason from audit.rejected_rows").fetchall() == [
        (
            2,
            "missing_required_column",
            "column(s) Datum named by config/sources/acme.yml are not in the file's header",
        )
    ]


@pytest.mark.parametrize(
    ("content", "error_type"),
    [('{"tickets": [{"id": 1}', "malformed_json"), ('{"results": []}', "not_a_ticket_export")],
)
def test_an_unreadable_zendesk_document_is_quarantined_as_one_reject_not_a_failed_load(
    conn, landing, content, error_type
):
    path = landing / "zendesk" / "broken.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    (result,) = load_stream(conn, TICKETS, landing, load_source_configs())
    assert (result.status, result.rows_rejected) == ("quarantined", 1)
    assert conn.execute("select line, error_type from audit.rejected_rows").fetchall() == [
        (1, error_type)
    ]


# --- a new vendor format ----------------------------------------------------------------------


@dataclass(frozen=True)
class _TypeformOptions:
    survey_id: str
    streams: tuple[str, ...] = (SURVEY_RESPONSES.name,)


class _TypeformReader:
    """The whole of a new vendor format, as docs/sources.md shows it: a Typeform-like
    JSON Lines export ({"token", "score", "submitted_at", "hidden": {"touchpoint"}})."""

    format = "typeform"
    config_keys = frozenset({"survey_id"})

    def __init__(self, source):
        self.source = source
        self.options = source.options

    @staticmethod
    def parse_options(path, raw):
        if "survey_id" not in raw:
            raise config_error(path, "survey_id", "name the survey the scores belong to")
        return _TypeformOptions(survey_id=str(raw["survey_id"]))

    def plan(self, file):
        return file.text_encoding()

    def stage(self, file, plan):
        read_json_lines(file.conn, file.path, plan)  # malformed lines become rejects
        fields = {
            "response_id": "(_raw->>'$.token')",
            "survey_id": sql_literal(self.options.survey_id),
            "touchpoint": "(_raw->>'$.hidden.touchpoint')",
            "responded_at": "(_raw->>'$.submitted_at')",
            "answer": "(_raw->>'$.score')",
        }
        try:
            create_stage(
                file.conn,
                file.stream,
                f"select _rec, _line, {contract_select(file.stream, fields)}, "
                "null::varchar as _extra from _jsonl where _kind = 'OBJECT'",
            )
        finally:
            drop_tables(file.conn, "_jsonl")
        return {}


def test_a_new_vendor_format_is_one_reader_and_one_config(conn, landing, tmp_path, monkeypatch):
    """Registering a reader class and writing a YAML config is all a new format needs:
    the loader, the config loader and the guarantees (rejects with their line, the
    manifest, idempotence) are the shared ones."""
    monkeypatch.setitem(VENDOR_READERS, "typeform", _TypeformReader)
    configs = tmp_path / "sources"
    configs.mkdir()
    (configs / "typeform_checkout.yml").write_text(
        "format: typeform\nfiles: typeform/*.jsonl\nsurvey_id: ces2_agree_7\n", encoding="utf-8"
    )
    (landing / "typeform").mkdir()
    (landing / "typeform" / "2026-03.jsonl").write_text(
        '{"token": "tf1", "score": 6, "submitted_at": "2026-03-02T10:00:00Z", '
        '"hidden": {"touchpoint": "checkout"}}\n'
        "{not json\n"
        '{"token": "tf2", "score": 2, "submitted_at": "2026-03-03T11:00:00Z", '
        '"hidden": {"touchpoint": "returns"}}\n',
        encoding="utf-8",
    )
    sources = load_source_configs(configs)
    assert [s.streams for s in sources] == [(SURVEY_RESPONSES.name,)]
    load_stream(conn, SURVEY_RESPONSES, landing, sources)
    assert conn.execute(
        "select response_id, survey_id, touchpoint, responded_at, answer, _source_line "
        "from raw.survey_responses order by _source_line"
    ).fetchall() == [
        ("tf1", "ces2_agree_7", "checkout", "2026-03-02T10:00:00Z", "6", 1),
        ("tf2", "ces2_agree_7", "returns", "2026-03-03T11:00:00Z", "2", 3),
    ]
    assert conn.execute("select line, error_type from audit.rejected_rows").fetchall() == [
        (2, "malformed_json")
    ]
    assert manifest(conn, "survey_responses")[0][:6] == (
        "typeform/2026-03.jsonl", "loaded_with_rejects", 3, 2, 1, 0,
    )  # fmt: skip
    load_stream(conn, SURVEY_RESPONSES, landing, sources)  # idempotent
    assert conn.execute("select count(*) from raw.survey_responses").fetchone() == (2,)
    with pytest.raises(SourceConfigError, match="survey_id: name the survey"):
        (configs / "typeform_checkout.yml").write_text(
            "format: typeform\nfiles: typeform/*.jsonl\n", encoding="utf-8"
        )
        load_source_configs(configs)
