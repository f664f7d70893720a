"""Issue 23: real survey exports. Wide sheets with several questions (one answer per
question), SurveyMonkey's two header rows, matrix columns with blank first-row headers,
duplicate header names, multi-select answers, exports without a response id, and line
numbers after a header cell with line breaks. The SurveyMonkey and Google Forms configs
are the ones docs/sources.md shows (read from it), so the docs cannot drift from what is
tested."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration.ingest.contract import SURVEY_RESPONSES
from orchestration.ingest.loader import load_stream
from orchestration.ingest.sources import SourceConfigError, load_source_configs
from orchestration.settings import PROJECT_DIR


def docs_config(title: str, folder: Path) -> list:
    """The YAML block under `### <title>` in docs/sources.md, as a config in `folder`."""
    text = (PROJECT_DIR / "docs" / "sources.md").read_text(encoding="utf-8")
    section = text[text.index(f"### {title}") :]
    block = re.search(r"```yaml\n(.*?)```", section, flags=re.DOTALL).group(1)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{title.lower().replace(' ', '_')}.yml").write_text(block, encoding="utf-8")
    return load_source_configs(folder)


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue(), encoding="utf-8", newline="")
    return path


def loaded(conn) -> list[tuple]:
    return conn.execute(
        "select response_id, survey_id, touchpoint, answer, comment, responded_at, _source_line "
        "from raw.survey_responses order by _source_line, response_id"
    ).fetchall()


def by_line_and_id(rows: list[tuple]) -> list[tuple]:
    return sorted(rows, key=lambda r: (r[6], r[0]))


# --- SurveyMonkey ---------------------------------------------------------------------------

MONKEY_QUESTION = "How easy was each step?"
SURVEYMONKEY_HEADER = [
    [
        "Respondent ID", "Collector ID", "Start Date", "End Date", "IP Address",
        "Email Address", "First Name", "Last Name", "Custom Data 1",
        "Acme made it easy for me to check out.", "Why?",
        "How easy was it to return your order?", "Why?",
        "How satisfied are you with your order?",
        "Which channels did you use?", "", "",
        MONKEY_QUESTION, "", "",
    ],
    [
        "", "", "", "", "", "", "", "", "",
        "Response", "Open-Ended Response", "Response", "Open-Ended Response", "Response",
        "Email", "Phone", "Chat",
        "Finding a product", "Paying", "Delivery",
    ],
]  # fmt: skip


def monkey_row(rid, end, checkout, why1, returns, why2, csat, channels, matrix):
    return [
        rid, "431234567", end, end, "203.0.113.9", f"r{rid}@example.com", "Jan", "Jansen",
        f"ORD-{rid}", checkout, why1, returns, why2, csat, *channels, *matrix,
    ]  # fmt: skip


def write_surveymonkey(path: Path) -> Path:
    return write_csv(
        path,
        [
            *SURVEYMONKEY_HEADER,
            # line 3: every question answered; two channels ticked
            monkey_row(
                "1001", "03/02/2026 10:17:01 AM", "Strongly agree", 'Fast, "mostly"',
                "Easy", "", "Very satisfied", ["Email", "", "Chat"],
                ["Easy", "Very easy", "Difficult"],
            ),
            # line 4: the returns question, satisfaction and a matrix row left blank;
            # a comment with a line break (the record spans lines 4 and 5)
            monkey_row(
                "1002", "03/09/2026 11:30:00 PM", "Somewhat disagree", "Slow\nand dull",
                "", "", "", ["", "Phone", ""], ["Very difficult", "", "Neither easy nor difficult"],
            ),
            # line 6, numbered 5: a value with line breaks counts as one line, as in every
            # landing file (docs/architecture.md); header cells move the numbers as the file does
            monkey_row(
                "1003", "03/10/2026 08:05:09 AM", "Agree", "", "Very difficult",
                "Refund took weeks", "Dissatisfied", ["", "", ""], ["", "Easy", ""],
            ),
        ],
    )  # fmt: skip


def test_a_surveymonkey_export_gives_one_answer_per_question_and_matrix_row(
    conn, landing, tmp_path
):
    sources = docs_config("A SurveyMonkey export", tmp_path / "sources")
    write_surveymonkey(landing / "surveymonkey" / "checkout_2026-03.csv")
    (result,) = load_stream(conn, SURVEY_RESPONSES, landing, sources)
    checkout = "Acme made it easy for me to check out. / Response"
    returns = "How easy was it to return your order? / Response"
    csat = "How satisfied are you with your order? / Response"
    step = f"{MONKEY_QUESTION} / "
    assert loaded(conn) == by_line_and_id([
        # 10:17 AM in New York (EST) is 15:17 UTC
        (f"SM-1001:{checkout}", "ces2_agree_7_text", "checkout", "Strongly agree",
         'Fast, "mostly"', "2026-03-02T15:17:01Z", 3),
        (f"SM-1001:{csat}", "csat_5_text", "checkout", "Very satisfied", None,
         "2026-03-02T15:17:01Z", 3),
        (f"SM-1001:{returns}", "ces_ease_label_5", "returns", "Easy", None,
         "2026-03-02T15:17:01Z", 3),
        (f"SM-1001:{step}Delivery", "ces_ease_label_5", "delivery", "Difficult", None,
         "2026-03-02T15:17:01Z", 3),
        (f"SM-1001:{step}Finding a product", "ces_ease_label_5", "site_search", "Easy", None,
         "2026-03-02T15:17:01Z", 3),
        (f"SM-1001:{step}Paying", "ces_ease_label_5", "checkout", "Very easy", None,
         "2026-03-02T15:17:01Z", 3),
        # 11:30 PM on 9 March in New York (EDT from 8 March) is 03:30 UTC on the 10th
        (f"SM-1002:{checkout}", "ces2_agree_7_text", "checkout", "Somewhat disagree",
         "Slow\nand dull", "2026-03-10T03:30:00Z", 4),
        (f"SM-1002:{step}Delivery", "ces_ease_label_5", "delivery",
         "Neither easy nor difficult", None, "2026-03-10T03:30:00Z", 4),
        (f"SM-1002:{step}Finding a product", "ces_ease_label_5", "site_search",
         "Very difficult", None, "2026-03-10T03:30:00Z", 4),
        (f"SM-1003:{checkout}", "ces2_agree_7_text", "checkout", "Agree", None,
         "2026-03-10T12:05:09Z", 5),
        (f"SM-1003:{csat}", "csat_5_text", "checkout", "Dissatisfied", None,
         "2026-03-10T12:05:09Z", 5),
        (f"SM-1003:{returns}", "ces_ease_label_5", "returns", "Very difficult",
         "Refund took weeks", "2026-03-10T12:05:09Z", 5),
        (f"SM-1003:{step}Paying", "ces_ease_label_5", "checkout", "Easy", None,
         "2026-03-10T12:05:09Z", 5),
    ])  # fmt: skip
    # 3 respondents x 6 questions: 13 answers, 5 left blank
    assert (result.status, result.rows_landed, result.rows_accepted) == ("loaded", 18, 13)
    assert result.skipped == {"question not answered": 5}
    extra = json.loads(
        conn.execute(
            "select _extra from raw.survey_responses where response_id like 'SM-1001:%' limit 1"
        ).fetchone()[0]
    )
    # the multi-select question's columns, as SurveyMonkey writes them; no personal data
    assert {k: v for k, v in extra.items() if k.startswith("Which channels")} == {
        "Which channels did you use? / Email": "Email",
        "Which channels did you use? / Phone": None,
        "Which channels did you use? / Chat": "Chat",
    }
    assert not {"IP Address", "First Name", "Last Name", "Email Address"} & set(extra)


def test_a_bare_duplicate_column_name_quarantines_the_file_naming_the_numbered_ones(
    conn, landing, tmp_path
):
    folder = tmp_path / "sources"
    docs_config("A SurveyMonkey export", folder)
    config = next(folder.glob("*.yml"))
    config.write_text(config.read_text().replace("(1)", ""))
    write_surveymonkey(landing / "surveymonkey" / "checkout_2026-03.csv")
    (result,) = load_stream(conn, SURVEY_RESPONSES, landing, load_source_configs(folder))
    # each line after the two header lines is one rejected record: 4, as respondent 1002's
    # comment spans two lines of the file
    assert (result.status, result.rows_landed, result.rows_rejected) == ("quarantined", 4, 4)
    assert conn.execute(
        "select distinct error_type, reason from audit.rejected_rows"
    ).fetchall() == [
        (
            "duplicate_column",
            "column 'Why? / Open-Ended Response' appears 2 times in the header: name the one "
            "the config means, "
            "'Why? / Open-Ended Response (1)' or 'Why? / Open-Ended Response (2)'",
        )
    ]


# --- Google Forms ---------------------------------------------------------------------------

FORMS_HEADER = [
    "Timestamp",
    "Email address",
    "How much effort did you personally have to put forth to return your order?",
    "How satisfied are you with your experience?",
    "Which channels did you use?",
    "Anything else?",
]


def test_a_google_forms_export_without_response_ids_is_keyed_by_timestamp_and_email(
    conn, landing, tmp_path
):
    sources = docs_config("A Google Forms export", tmp_path / "sources")
    path = landing / "google_forms" / "returns_2026-03.csv"
    write_csv(
        path,
        [
            FORMS_HEADER,
            ["3/2/2026 10:15:32", "an@example.com", "2", "4", "Email, Chat", ""],
            ["3/29/2026 14:00:00", "bo@example.com", "5", "", "Phone", "Label never came"],
            ["3/30/2026 9:01:02", "", "1", "5", "", ""],
        ],
    )
    (result,) = load_stream(conn, SURVEY_RESPONSES, landing, sources)
    effort = FORMS_HEADER[2]
    csat = FORMS_HEADER[3]
    assert loaded(conn) == [
        # Amsterdam is UTC+1 until 29 March 02:00, UTC+2 after
        (f"GF-3/2/2026 10:15:32|an@example.com:{effort}", "ces1_effort_5", "returns", "2",
         None, "2026-03-02T09:15:32Z", 2),
        (f"GF-3/2/2026 10:15:32|an@example.com:{csat}", "csat_5", "returns", "4", None,
         "2026-03-02T09:15:32Z", 2),
        (f"GF-3/29/2026 14:00:00|bo@example.com:{effort}", "ces1_effort_5", "returns", "5",
         "Label never came", "2026-03-29T12:00:00Z", 3),
        # no e-mail address: the key is the timestamp alone; customer_id stays empty, so
        # staging rejects the answers with their reason
        (f"GF-3/30/2026 9:01:02|:{effort}", "ces1_effort_5", "returns", "1", None,
         "2026-03-30T07:01:02Z", 4),
        (f"GF-3/30/2026 9:01:02|:{csat}", "csat_5", "returns", "5", None,
         "2026-03-30T07:01:02Z", 4),
    ]  # fmt: skip
    assert (result.rows_landed, result.rows_accepted, result.skipped) == (
        6,
        5,
        {"question not answered": 1},
    )
    assert json.loads(
        conn.execute(
            "select _extra from raw.survey_responses order by _source_line limit 1"
        ).fetchone()[0]
    ) == {"Which channels did you use?": "Email, Chat"}


# --- rules of every delimited export --------------------------------------------------------


def test_two_configs_over_one_file_fail_naming_both(conn, landing, tmp_path):
    folder = tmp_path / "sources"
    docs_config("A Google Forms export", folder)
    second = folder / "z_other.yml"
    second.write_text(
        (folder / "a_google_forms_export.yml").read_text().replace("returns_*.csv", "*.csv")
    )
    write_csv(landing / "google_forms" / "returns_1.csv", [FORMS_HEADER])
    with pytest.raises(SourceConfigError) as error:
        load_stream(conn, SURVEY_RESPONSES, landing, load_source_configs(folder))
    assert str(error.value) == (
        "google_forms/returns_1.csv is read by two source configs for survey_responses, "
        "a_google_forms_export.yml (google_forms/returns_*.csv) and z_other.yml "
        "(google_forms/*.csv): one config per file and stream; list every question of a "
        "file in one config (outputs.survey_responses.questions)"
    )


def test_blank_values_under_only_when_in_are_skipped_and_counted(conn, landing, tmp_path):
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "acme.yml").write_text(
        "format: csv\nfiles: acme/*.csv\noutputs:\n  survey_responses:\n"
        "    only_when: {column: Kind, in: [survey]}\n    skip_reason: not a survey row\n"
        "    fields:\n      response_id: Id\n      survey_id: {value: csat_5}\n"
        "      customer_id: Customer\n      touchpoint: {value: checkout}\n"
        "      responded_at: When\n      answer: Score\n"
    )
    write_csv(
        landing / "acme" / "a.csv",
        [
            ["Id", "Kind", "Customer", "When", "Score"],
            ["1", "survey", "C1", "2026-03-01T10:00:00Z", "5"],
            ["2", "", "C2", "2026-03-01T10:00:00Z", "4"],
            ["3", "call", "C3", "2026-03-01T10:00:00Z", "3"],
        ],
    )
    (result,) = load_stream(conn, SURVEY_RESPONSES, landing, load_source_configs(folder))
    assert (result.rows_landed, result.rows_accepted, result.rows_rejected) == (3, 1, 0)
    assert result.skipped == {"not a survey row": 2}


def test_blank_header_cells_are_named_by_position_and_kept(conn, landing, tmp_path):
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "acme.yml").write_text(
        "format: csv\nfiles: acme/*.csv\noutputs:\n  survey_responses:\n"
        "    fields:\n      response_id: {line: true, prefix: 'A-'}\n"
        "      customer_id: {column: column 2}\n      touchpoint: {value: checkout}\n"
        "      responded_at: When\n      language: {value: en}\n"
        "    questions:\n      - {column: Score, survey_id: csat_5}\n"
    )
    write_csv(
        landing / "acme" / "a.csv",
        [["When", "", "Score", ""], ["2026-03-01T10:00:00Z", "C1", "5", "note"]],
    )
    (result,) = load_stream(conn, SURVEY_RESPONSES, landing, load_source_configs(folder))
    assert result.rows_accepted == 1
    assert conn.execute(
        "select response_id, customer_id, answer, _extra from raw.survey_responses"
    ).fetchall() == [("A-2:Score", "C1", "5", '{"column 4":"note"}')]


# --- Qualtrics time zones -------------------------------------------------------------------


def qualtrics_config(folder: Path, responded_at: str) -> list:
    """The shipped Qualtrics config with another `responded_at` field."""
    text = (PROJECT_DIR / "config" / "sources" / "qualtrics_checkout_ces.yml").read_text()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "qualtrics.yml").write_text(
        text.replace("responded_at: {column: RecordedDate}", f"responded_at: {responded_at}")
    )
    return load_source_configs(folder)


def test_a_custom_qualtrics_date_format_keeps_the_import_id_time_zone(conn, landing, tmp_path):
    from tests.test_sources import write_qualtrics

    # Recorded dates re-saved by Excel as 3/2/2026 10:15 (the seconds dropped)
    path = landing / "qualtrics" / "checkout_ces_excel.csv"
    write_qualtrics(path)
    path.write_text(
        path.read_text()
        .replace("2026-03-02 10:15:00", "3/2/2026 10:15")
        .replace("2026-03-09 23:30:00", "3/9/2026 23:30")
    )
    sources = qualtrics_config(
        tmp_path / "sources", '{column: RecordedDate, format: "%m/%d/%Y %H:%M"}'
    )
    (result,) = load_stream(conn, SURVEY_RESPONSES, landing, sources)
    assert result.warning is None
    # America/Denver, from the ImportId row: 10:15 MST is 17:15 UTC, 23:30 MDT 05:30 UTC
    assert conn.execute(
        "select distinct responded_at from raw.survey_responses "
        "where response_id like 'R_a1:%' or response_id like 'R_a2:%' order by 1"
    ).fetchall() == [("2026-03-02T17:15:00Z",), ("2026-03-10T05:30:00Z",)]


def test_a_qualtrics_export_without_a_time_zone_is_read_as_utc_with_a_warning(
    conn, landing, tmp_path
):
    from tests.test_sources import write_qualtrics

    path = landing / "qualtrics" / "checkout_ces_no_zone.csv"
    write_qualtrics(path)
    path.write_text(path.read_text().replace(',""timeZone"":""America/Denver""', ""))
    (result,) = load_stream(conn, SURVEY_RESPONSES, landing, load_source_configs())
    assert result.warning == (
        "no timeZone in the ImportId row of RecordedDate: its times are read as UTC; "
        "set `timezone:` on fields.responded_at if they are not"
    )
    assert conn.execute(
        "select responded_at from raw.survey_responses where response_id = 'R_a1:QID1'"
    ).fetchone() == ("2026-03-02T10:15:00Z",)


# --- a corrected config reaches a file already loaded: reload -------------------------------

ACME_CONFIG = (
    "format: csv\nfiles: acme/*.csv\noutputs:\n  survey_responses:\n    fields:\n"
    "      response_id: Id\n      survey_id: {value: csat_5}\n      customer_id: Customer\n"
    "      touchpoint: {value: checkout}\n      answer: Score\n"
    "      responded_at: {column: When, format: 'FORMAT'}\n"
)


def acme_sources(folder: Path, date_format: str) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "acme.yml").write_text(ACME_CONFIG.replace("FORMAT", date_format))
    return load_source_configs(folder)


def write_acme(landing: Path) -> Path:
    return write_csv(
        landing / "acme" / "march.csv",
        [
            ["Id", "Customer", "When", "Score"],
            ["A1", "C1", "31/03/2026 10:00", "5"],
            ["A2", "C2", "30/03/2026 11:30", "4"],
            ["A3", "C3", "30/03/2026", "3"],  # no time: fits neither format
            ["A4", "C4"],  # a structural reject
        ],
    )


def test_a_reload_replaces_a_loaded_files_rows_with_those_of_the_corrected_config(
    conn, landing, tmp_path
):
    write_acme(landing)
    wrong = acme_sources(tmp_path / "sources", "%m/%d/%Y %H:%M")
    (first,) = load_stream(conn, SURVEY_RESPONSES, landing, wrong)
    assert (first.rows_accepted, first.rows_rejected) == (3, 1)
    # month 31 and 30 do not parse: kept as sent, staging would reject them
    raw = "select response_id, responded_at from raw.survey_responses order by 1"
    assert conn.execute(raw).fetchall() == [
        ("A1", "31/03/2026 10:00"),
        ("A2", "30/03/2026 11:30"),
        ("A3", "30/03/2026"),
    ]
    fixed = acme_sources(tmp_path / "sources", "%d/%m/%Y %H:%M")
    # the fix alone never reaches the file: its content is loaded
    assert [r.status for r in load_stream(conn, SURVEY_RESPONSES, landing, fixed)] == [
        "already_loaded"
    ]
    (again,) = load_stream(conn, SURVEY_RESPONSES, landing, fixed, reload=["acme/march.csv"])
    assert (again.status, again.rows_accepted, again.rows_rejected) == (
        "loaded_with_rejects",
        3,
        1,
    )
    assert "reloaded" in again.warning
    assert conn.execute(raw).fetchall() == [
        ("A1", "2026-03-31T10:00:00Z"),
        ("A2", "2026-03-30T11:30:00Z"),
        ("A3", "30/03/2026"),
    ]
    # one manifest record and one reject: the earlier load's are replaced, not added to
    assert conn.execute(
        "select status, rows_landed, rows_accepted, rows_rejected, load_id from audit.load_manifest"
    ).fetchall() == [("loaded_with_rejects", 4, 3, 1, again.load_id)]
    assert conn.execute("select load_id, line from audit.rejected_rows").fetchall() == [
        (again.load_id, 5)
    ]


def test_a_reload_that_fails_keeps_the_earlier_load(conn, landing, tmp_path, monkeypatch):
    from orchestration.ingest.readers.mapped_csv import MappedCsvReader

    write_acme(landing)
    sources = acme_sources(tmp_path / "sources", "%d/%m/%Y %H:%M")
    (first,) = load_stream(conn, SURVEY_RESPONSES, landing, sources)

    def bug(self, file, plan):
        raise KeyError("a bug in a reader")

    monkeypatch.setattr(MappedCsvReader, "stage", bug)
    (failed,) = load_stream(conn, SURVEY_RESPONSES, landing, sources, reload=["acme/march.csv"])
    assert failed.status == "failed"
    assert failed.warning.startswith("reload failed, the earlier load kept: KeyError")
    assert conn.execute("select count(*) from raw.survey_responses").fetchone() == (3,)
    assert conn.execute(
        "select load_id, status from audit.load_manifest where status <> 'failed'"
    ).fetchall() == [(first.load_id, "loaded_with_rejects")]


def test_ces_reload_by_source_rebuilds_the_facts_from_the_corrected_rows(
    dbt_manifest, settings, capsys, monkeypatch, tmp_path
):
    import orchestration.ingest.sources as sources_module
    import orchestration.reload as reload_module
    from orchestration.cli import main

    write_acme(settings.landing_dir)
    folder = tmp_path / "sources"
    acme_sources(folder, "%m/%d/%Y %H:%M")
    monkeypatch.setattr(sources_module, "CONFIG_DIR", folder)
    monkeypatch.setattr(
        reload_module, "load_source_configs", lambda: sources_module.load_source_configs(folder)
    )
    monkeypatch.setattr(
        "orchestration.assets.ingest.load_source_configs",
        lambda: sources_module.load_source_configs(folder),
    )
    location = ["--landing", str(settings.landing_dir), "--warehouse", str(settings.warehouse_dir)]
    assert main(["build", "--quiet", *location]) == 0
    capsys.readouterr()
    facts = "select response_id, response_date from marts.fct_csat_responses order by 1"
    with duckdb.connect(str(settings.serving_path), read_only=True) as serving:
        assert serving.execute(facts).fetchall() == []
    acme_sources(folder, "%d/%m/%Y %H:%M")
    assert main(["reload", "--source", "acme", "--quiet", *location]) == 0
    printed = capsys.readouterr().out
    assert (
        "reloaded acme/march.csv (survey_responses): loaded_with_rejects, landed 4, "
        "loaded 3, rejected 1, skipped 0"
    ) in printed
    with duckdb.connect(str(settings.serving_path), read_only=True) as serving:
        assert serving.execute(facts).fetchall() == [
            ("A1", date(2026, 3, 31)),
            ("A2", date(2026, 3, 30)),
        ]
    assert main(["reload", "no/such.csv", *location]) == 2
    assert "no/such.csv: no such file" in capsys.readouterr().err


# --- Zendesk: accounts, the satisfaction ratings API, connector-wrapped records -------------


def zendesk_sources(folder: Path, account: str | None) -> list:
    text = (PROJECT_DIR / "config" / "sources" / "zendesk_support.yml").read_text()
    if account:
        text += f"account: {account}\n"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zendesk.yml").write_text(text)
    return load_source_configs(folder)


def test_zendesk_ids_qualified_by_account_keep_two_accounts_apart(conn, landing, tmp_path):
    from orchestration.ingest.contract import TICKETS
    from tests.test_sources import zendesk_ticket

    sources = zendesk_sources(tmp_path / "sources", "from_url")
    for account in ("acme", "acme-eu"):
        ticket = zendesk_ticket(1, "good")
        ticket["url"] = f"https://{account}.zendesk.com/api/v2/tickets/1.json"
        path = landing / "zendesk" / f"{account}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"tickets": [ticket]}))
    load_stream(conn, TICKETS, landing, sources)
    load_stream(conn, SURVEY_RESPONSES, landing, sources)
    assert conn.execute("select ticket_id from raw.tickets order by 1").fetchall() == [
        ("ZD-acme-1",),
        ("ZD-acme-eu-1",),
    ]
    assert conn.execute(
        "select response_id, interaction_id from raw.survey_responses order by 1"
    ).fetchall() == [
        ("zendesk-csat-acme-77001", "ZD-acme-1"),
        ("zendesk-csat-acme-eu-77001", "ZD-acme-eu-1"),
    ]


def test_the_satisfaction_ratings_api_shape_gives_csat_answers_and_no_tickets(
    conn, landing, tmp_path
):
    from orchestration.ingest.contract import TICKETS

    sources = zendesk_sources(tmp_path / "sources", "acme")
    ratings = {
        "satisfaction_ratings": [
            {"id": 35436, "url": "https://acme.zendesk.com/api/v2/satisfaction_ratings/35436.json",
             "assignee_id": 135, "group_id": 44, "requester_id": 7881, "ticket_id": 208,
             "score": "good", "created_at": "2026-03-04T09:00:00Z",
             "updated_at": "2026-03-04T09:05:00Z", "comment": "Awesome support!"},
            {"id": 35437, "requester_id": 7882, "ticket_id": 209, "score": "offered",
             "created_at": "2026-03-05T09:00:00Z", "updated_at": "2026-03-05T09:00:00Z"},
            {"id": 35438, "requester_id": 7883, "ticket_id": 210, "score": "bad",
             "created_at": "2026-03-06T09:00:00Z", "updated_at": "2026-03-06T10:00:00Z",
             "comment": "", "reason": "Issue took too long to resolve"},
        ],
        "next_page": None,
        "count": 3,
    }  # fmt: skip
    path = landing / "zendesk" / "satisfaction_ratings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ratings))
    (tickets,) = load_stream(conn, TICKETS, landing, sources)
    (answers,) = load_stream(conn, SURVEY_RESPONSES, landing, sources)
    assert (tickets.rows_landed, tickets.rows_accepted, tickets.skipped) == (
        3,
        0,
        {"a satisfaction rating, not a ticket": 3},
    )
    assert (answers.rows_landed, answers.rows_accepted, answers.skipped) == (
        3,
        2,
        {"satisfaction survey offered, not answered": 1},
    )
    assert conn.execute(
        "select response_id, survey_id, customer_id, interaction_id, touchpoint, "
        "responded_at, answer, comment from raw.survey_responses order by 1"
    ).fetchall() == [
        ("zendesk-csat-acme-35436", "csat_good_bad", "7881", "ZD-acme-208", "customer_support",
         "2026-03-04T09:05:00Z", "good", "Awesome support!"),
        ("zendesk-csat-acme-35438", "csat_good_bad", "7883", "ZD-acme-210", "customer_support",
         "2026-03-06T10:00:00Z", "bad", None),
    ]  # fmt: skip


def test_connector_wrapped_zendesk_records_are_unwrapped_and_their_messages_counted(
    conn, landing, tmp_path
):
    from orchestration.ingest.contract import TICKETS
    from tests.test_sources import zendesk_ticket

    sources = zendesk_sources(tmp_path / "sources", None)
    lines = [
        # Airbyte protocol: RECORD messages, and a STATE message between them
        {"type": "RECORD", "record": {"stream": "tickets", "data": zendesk_ticket(1, "good"),
                                      "emitted_at": 1772611200000}},
        {"type": "STATE", "state": {"data": {"tickets": {"updated_at": "2026-03-03"}}}},
        # an Airbyte raw-table row: the record as JSON text
        {"_airbyte_ab_id": "a1", "_airbyte_emitted_at": "2026-03-04T00:00:00Z",
         "_airbyte_data": json.dumps(zendesk_ticket(2, "bad"))},
        # Fivetran-style: the record with its connector columns, one marked deleted
        {**zendesk_ticket(3, None), "_fivetran_synced": "2026-03-04T00:00:00Z",
         "_fivetran_deleted": False},
        {**zendesk_ticket(4, None), "_fivetran_synced": "2026-03-04T00:00:00Z",
         "_fivetran_deleted": True},
        # Estuary: the record with its _meta
        {**zendesk_ticket(5, None), "_meta": {"uuid": "d1", "op": "u"}},
        # an Airbyte CDC tombstone: the deletion is in the record, not in its wrapping
        {"_airbyte_ab_id": "a3",
         "_airbyte_data": {**zendesk_ticket(6, None), "_ab_cdc_deleted_at": "2026-03-04"}},
        # a raw-table row whose record is not JSON: rejected, not lost
        {"_airbyte_ab_id": "a2", "_airbyte_data": "{not json"},
    ]  # fmt: skip
    path = landing / "zendesk" / "airbyte.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    (tickets,) = load_stream(conn, TICKETS, landing, sources)
    assert conn.execute("select ticket_id from raw.tickets order by 1").fetchall() == [
        ("ZD-1",),
        ("ZD-2",),
        ("ZD-3",),
        ("ZD-5",),
    ]
    assert (tickets.rows_landed, tickets.rows_accepted, tickets.rows_rejected) == (8, 4, 1)
    assert tickets.skipped == {
        "connector message, not a record": 1,
        "deleted in Zendesk (connector tombstone)": 2,
    }
    assert conn.execute("select line, error_type from audit.rejected_rows").fetchall() == [
        (8, "not_an_object")
    ]


def test_a_legacy_qualtrics_export_is_quarantined_with_how_to_export_it_again(conn, landing):
    path = landing / "qualtrics" / "checkout_ces_2016.csv"
    write_csv(
        path,
        [
            ["V1", "V2", "V3", "V4", "V5", "V6", "V7", "V8", "V9", "V10", "Q1", "Q2"],
            ["ResponseID", "ResponseSet", "Name", "ExternalDataReference", "EmailAddress",
             "IPAddress", "Status", "StartDate", "EndDate", "Finished",
             "Acme made it easy for me to check out.", "How satisfied are you?"],
            ["R_1", "Default Response Set", "", "CUST-1", "", "203.0.113.7", "0",
             "2016-03-02 10:00:00", "2016-03-02 10:05:00", "1", "6", "4"],
        ],
    )  # fmt: skip
    (result,) = load_stream(conn, SURVEY_RESPONSES, landing, load_source_configs())
    assert result.status == "quarantined"
    ((error_type, reason),) = conn.execute(
        "select error_type, reason from audit.rejected_rows"
    ).fetchall()
    assert error_type == "unsupported_layout"
    assert reason.startswith("Qualtrics' legacy export layout (two header rows")
    assert "legacy format off" in reason
