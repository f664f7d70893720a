"""Issue 22: one bad file never stops the build. Files the way real systems write them
(Excel's Windows-1252, UTF-16, CR-only and mixed line breaks, semicolons, a huge header,
damaged Parquet) load or are quarantined with a reason a person can act on; generated
mutations of every landing format never fail a load and keep the manifest balanced; the
registry seeds are checked before dbt with file, line and rule (docs/reliability.md)."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration.ingest.contract import SURVEY_RESPONSES, TICKETS
from orchestration.ingest.loader import load_stream
from orchestration.registry import check_registry
from orchestration.settings import PROJECT_DIR
from tests.test_build import serving_tables
from tests.test_postgres import same_value

COLUMNS = SURVEY_RESPONSES.columns
HEADER = ",".join(COLUMNS)
SEED = 22


def row(n: int, answer: str = "6", comment: str = "") -> str:
    return f"R{n},ces2_agree_7,C{n},checkout,web,,2026-03-01T10:00:00Z,{answer},{comment},en"


def good_csv(first: int, count: int, newline: str = "\n") -> str:
    return newline.join([HEADER, *(row(first + i) for i in range(count))]) + newline


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def manifest(conn) -> dict[str, tuple]:
    return {
        path: rest
        for path, *rest in conn.execute(
            "select file_path, status, rows_landed, rows_accepted, rows_rejected, rows_skipped, "
            "encoding from audit.load_manifest order by 1"
        ).fetchall()
    }


def assert_balanced(conn) -> None:
    """Per file: landed = accepted + rejected + skipped, and raw / audit hold exactly the
    accepted and rejected rows of its committed load."""
    for path, landed, accepted, rejected, skipped, in_raw, in_audit in conn.execute(
        """
        select m.file_path, m.rows_landed, m.rows_accepted, m.rows_rejected, m.rows_skipped,
               (select count(*) from raw.survey_responses r where r._file_hash = m.file_hash)
             + (select count(*) from raw.tickets t where t._file_hash = m.file_hash),
               (select count(*) from audit.rejected_rows j where j.load_id = m.load_id)
        from audit.load_manifest m
        where m.status not in ('failed', 'already_loaded', 'duplicate_content')
        """
    ).fetchall():
        assert landed == accepted + rejected + skipped, path
        assert (in_raw, in_audit) == (accepted, rejected), path


def answers(conn, like: str) -> list[tuple]:
    return conn.execute(
        "select response_id, answer, comment, _source_line from raw.survey_responses "
        "where _source_file like ? order by _source_line",
        [like],
    ).fetchall()


# --- files the way real systems write them -------------------------------------------------


def test_an_excel_windows_1252_export_loads_with_its_smart_quotes_and_euro_sign(conn, landing):
    text = good_csv(1, 1) + row(2, comment="“Te duur” – 15 €") + "\n"
    write(landing / "survey_responses" / "excel.csv", text.encode("cp1252"))
    (result,) = load_stream(conn, SURVEY_RESPONSES, landing)
    assert (result.status, result.encoding, result.rows_accepted) == ("loaded", "windows-1252", 2)
    assert "1 line(s) read as Windows-1252" in result.warning
    assert answers(conn, "%excel.csv")[1] == ("R2", "6", "“Te duur” – 15 €", 3)


def test_a_file_mostly_utf8_with_one_windows_1252_line_keeps_both(conn, landing):
    data = good_csv(1, 1).encode() + row(2, comment="café").encode("cp1252") + b"\n"
    data += row(3, comment="Zeer weinig moeite – ok").encode() + b"\n"
    write(landing / "survey_responses" / "appended.csv", data)
    (result,) = load_stream(conn, SURVEY_RESPONSES, landing)
    assert result.rows_accepted == 3
    assert [r[2] for r in answers(conn, "%appended.csv")] == [
        None,
        "café",
        "Zeer weinig moeite – ok",
    ]


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_a_byte_order_mark_loads(conn, landing, codec):
    text = good_csv(1, 2, newline="\r\n").replace("R2,ces2_agree_7", "R2,ces2_agree_7", 1)
    data = text.encode(codec)
    if codec != "utf-16":
        data = ("\ufeff" + text).encode(codec)
    write(landing / "survey_responses" / "u16.csv", data)
    (result,) = load_stream(conn, SURVEY_RESPONSES, landing)
    assert (result.status, result.encoding, result.rows_accepted) == ("loaded", "utf-16", 2)
    assert [r[0] for r in answers(conn, "%u16.csv")] == ["R1", "R2"]


@pytest.mark.parametrize(
    ("name", "data", "kinds"),
    [
        ("cr_only.csv", good_csv(1, 3, newline="\r"), "CR-only"),
        (
            "mixed.csv",
            HEADER + "\r\n" + row(1) + "\n" + row(2) + "\r\n" + row(3) + "\n",
            "2 CR LF, 2 LF, 0 CR",
        ),
    ],
)
def test_cr_only_and_mixed_line_breaks_load_with_their_line_numbers(
    conn, landing, name, data, kinds
):
    write(landing / "survey_responses" / name, data)
    (result,) = load_stream(conn, SURVEY_RESPONSES, landing)
    assert (result.status, result.rows_accepted) == ("loaded", 3)
    assert kinds in result.warning
    assert [(r[0], r[3]) for r in answers(conn, f"%{name}")] == [("R1", 2), ("R2", 3), ("R3", 4)]


def wide_csv(first: int) -> str:
    """A contract CSV with a 140 kB header: 5,000 extra question columns, one answer."""
    extra = [f"question_{i:05d}_{'x' * 20}" for i in range(5000)]
    header = HEADER + "," + ",".join(extra)
    assert len(header) > 140_000
    return header + "\n" + row(first) + "," * len(extra) + "\n"


def test_a_header_of_140_kb_loads_its_contract_columns_and_keeps_the_rest(conn, landing):
    write(landing / "survey_responses" / "wide.csv", wide_csv(1))
    (result,) = load_stream(conn, SURVEY_RESPONSES, landing)
    assert (result.status, result.rows_accepted) == ("loaded", 1)
    assert answers(conn, "%wide.csv") == [("R1", "6", None, 2)]


def test_a_semicolon_file_is_quarantined_with_the_fix_and_the_good_file_loads(conn, landing):
    write(landing / "survey_responses" / "a_good.csv", good_csv(1, 20))
    bad = write(
        landing / "survey_responses" / "b_semicolon.csv", good_csv(100, 3).replace(",", ";")
    )
    results = load_stream(conn, SURVEY_RESPONSES, landing)
    assert [(r.file_path, r.status) for r in results] == [
        ("survey_responses/a_good.csv", "loaded"),
        ("survey_responses/b_semicolon.csv", "quarantined"),
    ]
    assert "quarantined: delimiter ';' found in the header" in results[1].warning
    # each of its 3 records is rejected with the reason, at its line: landed counts them
    reason = (
        "delimiter ';' found in the header; the landing contract is comma-separated: "
        "export the file with commas, or move it out of the stream folder and read it "
        "through a source config (config/sources/, format csv) with `delimiter: ';'`"
    )
    assert conn.execute(
        "select file_path, line, error_type, reason from audit.rejected_rows order by line"
    ).fetchall() == [
        ("survey_responses/b_semicolon.csv", line, "wrong_delimiter", reason) for line in (2, 3, 4)
    ]
    assert conn.execute("select count(*) from raw.survey_responses").fetchone()[0] == 20
    assert_balanced(conn)

    # unchanged, it is tried again on the next run: still its 3 rejects, one manifest record
    again = load_stream(conn, SURVEY_RESPONSES, landing)
    assert [r.status for r in again] == ["already_loaded", "quarantined"]
    assert conn.execute("select count(*) from audit.rejected_rows").fetchone()[0] == 3
    assert manifest(conn)["survey_responses/b_semicolon.csv"][0] == "quarantined"
    assert len(manifest(conn)) == 2

    # fixed and landed again under its name, it loads; the quarantined content's record
    # stays as history (another hash, like every earlier version of a file)
    write(bad, good_csv(100, 3))
    fixed = load_stream(conn, SURVEY_RESPONSES, landing)
    assert [r.status for r in fixed] == ["already_loaded", "loaded"]
    assert conn.execute("select count(*) from raw.survey_responses").fetchone()[0] == 23
    assert conn.execute(
        "select status, rows_landed, rows_accepted, rows_rejected from audit.load_manifest "
        "where file_path = 'survey_responses/b_semicolon.csv' order by loaded_at"
    ).fetchall() == [("quarantined", 3, 0, 3), ("loaded", 3, 3, 0)]
    assert conn.execute("select count(*) from audit.rejected_rows").fetchone()[0] == 3
    assert_balanced(conn)


def test_a_vendor_csv_read_with_the_wrong_delimiter_names_the_config_key(conn, landing, tmp_path):
    from orchestration.ingest.sources import load_source_configs

    config = tmp_path / "sources"
    write(
        config / "acme.yml",
        "format: csv\nfiles: acme/*.csv\noutputs:\n  survey_responses:\n    fields:\n"
        "      response_id: id\n      survey_id: {value: ces2_agree_7}\n"
        "      responded_at: date\n      answer: score\n      touchpoint: {value: checkout}\n"
        "      customer_id: customer\n",
    )
    write(landing / "acme" / "export.csv", "id;date;score;customer\n1;2026-03-01;6;C1\n")
    (result,) = load_stream(conn, SURVEY_RESPONSES, landing, load_source_configs(config))
    assert result.status == "quarantined"
    assert conn.execute("select error_type, reason from audit.rejected_rows").fetchall() == [
        (
            "wrong_delimiter",
            "delimiter ';' found in the header, but the source config reads ',': "
            "set `delimiter: ';'` in its config",
        )
    ]


def test_a_damaged_parquet_file_is_quarantined_and_the_other_tickets_load(conn, landing):
    folder = landing / "tickets"
    folder.mkdir(exist_ok=True)
    duckdb.sql(
        "copy (select 'T' || i as ticket_id, 'C' || i as customer_id, 'returns' as touchpoint, "
        "'2026-02-01 10:00:00' as created_at, 'solved' as status from range(2000) t(i)) "
        f"to '{folder / 'a_good.parquet'}' (format parquet, row_group_size 500)"
    )
    data = bytearray((folder / "a_good.parquet").read_bytes())
    for position in range(200, len(data) - 200, 97):
        data[position] ^= 0x5A
    write(folder / "b_damaged.parquet", bytes(data))
    write(folder / "c_truncated.parquet", bytes(data[: len(data) // 2]))
    results = load_stream(conn, TICKETS, landing)
    assert [r.status for r in results] == ["loaded", "quarantined", "quarantined"]
    assert results[0].rows_accepted == 2000
    reasons = conn.execute(
        "select file_path, error_type, reason from audit.rejected_rows order by 1"
    ).fetchall()
    assert [r[:2] for r in reasons] == [
        ("tickets/b_damaged.parquet", "unreadable_file"),
        ("tickets/c_truncated.parquet", "unreadable_file"),
    ]
    assert all("Parquet" in r[2] for r in reasons), reasons
    assert_balanced(conn)


def test_a_failure_of_the_loader_itself_still_fails_the_file_not_quarantines_it(
    conn, landing, monkeypatch
):
    from orchestration.ingest.readers.contract_files import ContractCsvReader

    write(landing / "survey_responses" / "a.csv", good_csv(1, 2))

    def bug(self, file, plan):
        raise KeyError("a bug in a reader")

    monkeypatch.setattr(ContractCsvReader, "stage", bug)
    (result,) = load_stream(conn, SURVEY_RESPONSES, landing)
    assert result.status == "failed"
    assert "KeyError" in result.warning


# --- generated mutations of every landing format -------------------------------------------


def _seed_files(folder: Path) -> dict[str, bytes]:
    """One good file per landing format, 30 answers each."""
    csv_text = good_csv(1, 30)
    jsonl = "".join(
        json.dumps(
            {
                "response_id": f"J{i}",
                "survey_id": "ces2_agree_7",
                "customer_id": f"C{i}",
                "touchpoint": "checkout",
                "responded_at": "2026-03-01T10:00:00Z",
                "answer": "5",
            }
        )
        + "\n"
        for i in range(30)
    )
    parquet = folder / "seed.parquet"
    duckdb.sql(
        "copy (select 'P' || i as response_id, 'ces2_agree_7' as survey_id, 'C' || i as "
        "customer_id, 'checkout' as touchpoint, '2026-03-01T10:00:00Z' as responded_at, "
        f"'4' as answer from range(30) t(i)) to '{parquet}' (format parquet)"
    )
    files = {"csv": csv_text.encode(), "jsonl": jsonl.encode(), "parquet": parquet.read_bytes()}
    parquet.unlink()
    return files


def _mutations(data: bytes, rng: random.Random) -> list[tuple[str, bytes]]:
    out = []
    for i in range(4):
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        out.append((f"flip{i}", bytes(flipped)))
    for i in range(3):
        out.append((f"cut{i}", data[: rng.randrange(1, len(data))]))
    out.append(("empty", b""))
    out.append(("nul", data[:40] + b"\x00" * 16 + data[40:]))
    out.append(("doubled", data + data))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return out
    out.append(("crlf", text.replace("\n", "\r\n").encode()))
    out.append(("cr", text.replace("\n", "\r").encode()))
    out.append(("utf16", text.encode("utf-16")))
    out.append(("cp1252", text.replace("5", "€").encode("cp1252")))
    out.append(("no_final_break", data.rstrip(b"\n")))
    out.append(("blank_lines", text.replace("\n", "\n\n", 3).encode()))
    out.append(("quote", text.replace(",", ',"', 2).encode()))
    return out


HOSTILE_NAMES = ["with space", "ünïcödé", "-dash", "quote'name", "semi;colon", "x" * 120]


@pytest.mark.parametrize("seed", [SEED, SEED + 100, SEED + 200])
def test_generated_mutations_of_every_format_never_fail_a_load_and_keep_the_books(
    conn, landing, seed
):
    rng = random.Random(seed)
    files = _seed_files(landing)
    expected_good = 0
    for extension, data in files.items():
        write(landing / "survey_responses" / f"good.{extension}", data)
        expected_good += 30
        for name, mutated in _mutations(data, rng):
            stem = f"{name}_{rng.choice(HOSTILE_NAMES)}"
            write(landing / "survey_responses" / f"{stem}.{extension}", mutated)
    results = load_stream(conn, SURVEY_RESPONSES, landing)
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    print(f"seed {seed}: {len(results)} files, {dict(sorted(statuses.items()))}")
    assert len(results) > 45
    assert not [r for r in results if r.status == "failed"], [
        (r.file_path, r.warning) for r in results if r.status == "failed"
    ]
    good = [r for r in results if Path(r.file_path).stem == "good"]
    assert [r.rows_accepted for r in good] == [30, 30, 30]
    assert_balanced(conn)
    quarantined = [r for r in results if r.status == "quarantined"]
    assert conn.execute(
        "select count(*) from audit.rejected_rows where error_type in "
        "('unreadable_file', 'unreadable_encoding', 'wrong_delimiter', 'missing_header', "
        "'duplicate_column')"
    ).fetchone()[0] >= len(quarantined)
    # each record of a quarantined file is rejected with its reason (a binary file is one
    # record), and nothing of it was kept
    for r in quarantined:
        assert r.rows_accepted == 0 and r.rows_rejected == r.rows_landed >= 1, r.file_path
    assert conn.execute("select count(*) from raw.survey_responses").fetchone()[0] >= expected_good


# --- the registry check --------------------------------------------------------------------


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    shutil.copytree(PROJECT_DIR / "seeds", folder)
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8", newline="")


def line_of(path: Path, start: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if line.startswith(start))


def test_the_shipped_registry_passes_the_check():
    assert check_registry(PROJECT_DIR / "seeds") == []


def test_registry_typos_are_named_by_file_line_and_rule(seeds):
    scales, labels = seeds / "survey_scales.csv", seeds / "scale_labels.csv"
    swapped = line_of(scales, "ces2_agree_7,")
    edit(scales, "ces2_agree_7,ces,1,7,true", "ces2_agree_7,ces,7,1,true")
    blank = line_of(scales, "ces1_effort_5,")
    edit(scales, "ces1_effort_5,ces,1,5,false", "ces1_effort_5 ,ces,1,5,maybe")
    label = line_of(labels, "en_ease_5,Difficult,2")
    edit(labels, "en_ease_5,Difficult,2", "en_ease_5,Difficult,9")
    problems = [(p.file, p.line, p.rule) for p in check_registry(seeds)]
    assert ("seeds/survey_scales.csv", swapped, "scale") in problems
    assert ("seeds/survey_scales.csv", blank, "blanks") in problems
    assert ("seeds/survey_scales.csv", blank, "polarity") in problems
    assert ("seeds/scale_labels.csv", label, "label_value") in problems
    message = next(str(p) for p in check_registry(seeds) if p.rule == "label_value")
    assert message.startswith(f"seeds/scale_labels.csv line {label}: 'Difficult' = 9 is outside")


def test_registry_duplicates_missing_label_sets_and_value_counts_are_found(seeds):
    scales, labels = seeds / "survey_scales.csv", seeds / "scale_labels.csv"
    with labels.open("a", encoding="utf-8", newline="") as handle:
        handle.write("en_ease_5,  very DIFFICULT ,1\n")
    with scales.open("a", encoding="utf-8", newline="") as handle:
        handle.write("new_survey,ces,1,7,true,no_such_set,Question,en\n")
        handle.write("ces2_agree_7,ces,1,7,true,,Again,en\n")
        handle.write("short,ces,1,7\n")
    n = len(scales.read_text().splitlines())
    rules = {(p.file, p.line, p.rule) for p in check_registry(seeds)}
    assert (
        "seeds/scale_labels.csv",
        len(labels.read_text().splitlines()),
        "duplicate_key",
    ) in rules
    assert ("seeds/survey_scales.csv", n - 2, "label_set") in rules
    assert ("seeds/survey_scales.csv", n - 1, "duplicate_key") in rules
    assert ("seeds/survey_scales.csv", n, "value_count") in rules


def test_crlf_rows_appended_to_an_lf_seed_name_the_file_and_the_line_endings(seeds):
    touchpoints = seeds / "touchpoints.csv"
    n = len(touchpoints.read_text().splitlines())
    with touchpoints.open("ab") as handle:
        handle.write(b"kiosk,Kiosk,service,\r\n")
    (problem,) = check_registry(seeds)
    assert (problem.file, problem.line, problem.rule) == (
        "seeds/touchpoints.csv",
        n + 1,
        "line_endings",
    )
    assert "CR LF but line 1 with LF" in problem.message


def test_a_touchpoint_colour_that_is_not_rrggbb_is_named(seeds):
    path = seeds / "touchpoints.csv"
    lines = path.read_text().splitlines()
    lines.append("kiosk,Kiosk,service,")  # empty: the report derives one from the id
    lines.append("app,App,service,blue")
    path.write_text("\n".join(lines) + "\n")
    (problem,) = check_registry(seeds)
    assert (problem.file, problem.line, problem.rule) == (
        "seeds/touchpoints.csv",
        len(lines),
        "report_color",
    )
    assert "'blue' is not #rrggbb" in problem.message


def test_a_byte_order_mark_in_a_seed_is_named(seeds):
    path = seeds / "touchpoints.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert [(p.line, p.rule) for p in check_registry(seeds)] == [(1, "no_bom")]


# --- whole builds: bad files beside good ones, a registry typo, kills, readers --------------


def _bad_files(landing: Path) -> dict[str, list[str]]:
    """Files of the kinds real systems send, each beside the sample's good files; the
    readable ones hold answers R9001... that must reach the facts."""
    folder = landing / "survey_responses"
    write(
        folder / "excel.csv",
        (good_csv(9001, 2) + row(9003, comment="“ok” 5 €") + "\n").encode("cp1252"),
    )
    write(folder / "utf16.csv", good_csv(9011, 3, newline="\r\n").encode("utf-16"))
    write(folder / "mixed.csv", HEADER + "\r\n" + row(9021) + "\n" + row(9022) + "\r\n")
    write(folder / "semicolon.csv", good_csv(9031, 3).replace(",", ";"))
    write(folder / "wide.csv", wide_csv(9041))
    # readable, but every answer dated dd/mm/yyyy: each rejected in normalisation
    write(
        folder / "ddmm.csv",
        good_csv(9051, 3).replace("2026-03-01T10:00:00Z", "31/03/2026 10:00"),
    )
    # generated mutations of one more good file (answers R9101...), under hostile names
    rng = random.Random(SEED)
    good = good_csv(9101, 10).encode()
    write(folder / "mutated_good.csv", good)
    for name, mutated in _mutations(good, rng):
        write(folder / f"mutated_{name}_{rng.choice(HOSTILE_NAMES)}.csv", mutated)
    data = bytearray(Path(landing / "seed.parquet").read_bytes())
    for position in range(100, len(data) - 100, 61):
        data[position] ^= 0x5A
    write(folder / "damaged.parquet", bytes(data))
    (landing / "seed.parquet").unlink()
    return {
        "readable": [
            *("R9001", "R9002", "R9003", "R9011", "R9012", "R9013", "R9021", "R9022", "R9041")
        ],
        "mutated": [f"R{9101 + i}" for i in range(10)],
        "quarantined": ["survey_responses/damaged.parquet", "survey_responses/semicolon.csv"],
    }


# one answer with personal data in each free-text field and identifier
PERSONAL = {
    "response_id": "jan.jansen@example.com",
    "survey_id": "ces2_agree_7",
    "customer_id": "C1",
    "touchpoint": "checkout",
    "channel": "jan@example.com",
    "interaction_id": "+31 6 1234 5678",
    "responded_at": "2026-03-01T10:00:00Z",
    "answer": "6",
    "comment": "IBAN NL91 ABNA 0417 1643 00 or jan at example dot com",
    "language": "+31612345678",
}


def _served_personal_data(serving_path: Path) -> list[tuple[str, str, int]]:
    """(table, column, rows) of every text column of the marts holding a piece of the
    PERSONAL answer's personal data."""
    pieces = ["jan.jansen", "jan@example", "1234 5678", "612345678", "ABNA", "example dot"]
    found = []
    with duckdb.connect(str(serving_path), read_only=True) as conn:
        columns = conn.execute(
            "select table_name, column_name from duckdb_columns() where schema_name = 'marts' "
            "and data_type = 'VARCHAR'"
        ).fetchall()
        for table, column in columns:
            condition = " or ".join(f'"{column}" like ?' for _ in pieces)
            (n,) = conn.execute(
                f'select count(*) from marts."{table}" where {condition}',
                [f"%{piece}%" for piece in pieces],
            ).fetchone()
            if n:
                found.append((table, column, n))
    return found


def test_a_build_with_bad_files_beside_good_ones_exits_0_and_serves_the_good_answers(
    dbt_manifest, settings, capsys, monkeypatch
):
    from orchestration.cli import main
    from orchestration.sample import generate_sample

    generate_sample(settings.landing_dir, responses=2000, days=20, seed=22)
    duckdb.sql(
        "copy (select 'P' || i as response_id, 'ces2_agree_7' as survey_id, 'C1' as customer_id, "
        "'checkout' as touchpoint, '2026-03-01T10:00:00Z' as responded_at, '4' as answer "
        f"from range(500) t(i)) to '{settings.landing_dir / 'seed.parquet'}' (format parquet)"
    )
    expected = _bad_files(settings.landing_dir)
    # personal data in every free-text field and identifier (issue 25)
    write(
        settings.landing_dir / "survey_responses" / "personal.csv",
        HEADER + "\n" + ",".join(PERSONAL[column] for column in COLUMNS) + "\n",
    )
    build = ["build", "--quiet", "--landing", str(settings.landing_dir)]
    build += ["--warehouse", str(settings.warehouse_dir)]
    assert main(build) == 0
    printed = capsys.readouterr().out
    assert "WARNING check raw_survey_responses: no_quarantined_files" in printed
    for path in expected["quarantined"]:
        assert path in printed
    assert "delimiter ';' found in the header" in printed
    assert "WARNING check audit/audit_file_outcomes: no_fully_rejected_files" in printed
    assert (
        "survey_responses/ddmm.csv (survey_responses): all 3 records rejected: "
        'unparseable_timestamp 3 (e.g. responded_at "31/03/2026 10:00" is not an ISO-8601 '
        "timestamp)"
    ) in printed
    with duckdb.connect(str(settings.serving_path), read_only=True) as serving:
        served = [
            r[0]
            for r in serving.execute(
                "select response_id from marts.fct_ces_responses where response_id like 'R9%'"
            ).fetchall()
        ]
    assert {r for r in served if r.startswith("R90")} == set(expected["readable"])
    assert set(expected["mutated"]) <= {r for r in served if r.startswith("R91")}
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        statuses = dict(
            conn.execute(
                "select file_path, status from audit.load_manifest where file_path in (?, ?)",
                expected["quarantined"],
            ).fetchall()
        )
        assert_balanced(conn)
        fully_rejected = conn.execute(
            "select file_path, rows_landed, rows_rejected_in_normalisation, rows_kept "
            "from audit.audit_file_outcomes where is_fully_rejected"
        ).fetchall()
    assert statuses == dict.fromkeys(expected["quarantined"], "quarantined")
    # the personal answer is served, with nothing of its personal data in any mart
    leaks = _served_personal_data(settings.serving_path)
    assert leaks == [], leaks
    with duckdb.connect(str(settings.serving_path), read_only=True) as serving:
        (served,) = serving.execute(
            "select response_id, channel, interaction_id, comment, language "
            "from marts.fct_ces_responses where comment like 'IBAN%'"
        ).fetchall()
    response_id, channel, interaction_id, comment, language = served
    assert response_id.startswith("masked-") and interaction_id.startswith("masked-")
    assert (channel, comment, language) == ("[email]", "IBAN [iban] or [email]", "[phone]")
    # besides the mutated files whose one record is broken
    assert ("survey_responses/ddmm.csv", 3, 3, 0) in fully_rejected

    # a registry typo fails the build before dbt, naming file, line and rule; the serving
    # copy stays as it was
    import orchestration.assets.dbt as dbt_assets

    broken = settings.warehouse_dir.parent / "seeds"
    shutil.copytree(PROJECT_DIR / "seeds", broken)
    edit(broken / "survey_scales.csv", "ces2_agree_7,ces,1,7,true", "ces2_agree_7,ces,7,1,true")
    line = line_of(broken / "survey_scales.csv", "ces2_agree_7,")
    monkeypatch.setattr(dbt_assets, "REGISTRY_DIR", broken)
    before = settings.serving_path.stat().st_mtime_ns
    assert main(build) == 1
    printed = capsys.readouterr().out
    assert (
        f"seeds/survey_scales.csv line {line}: scale_min 7 is not below scale_max 1 [scale]"
        in printed
    )
    assert printed.count("scale_min 7 is not below scale_max 1") == 1, printed
    assert settings.serving_path.stat().st_mtime_ns == before


KILLS = 10
SNAPSHOT_QUERY = """
    select
        (select count(*) from marts.fct_ces_responses),
        (select sum(n_responses) from marts.fct_ces_touchpoint_period where period_grain = 'day'),
        (select sum(n_responses) from marts.fct_ces_touchpoint_period
         where period_grain = 'month'),
        (select n_ces_answers from marts.rpt_build_info)
"""


def _build_command(landing: Path, warehouse: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "orchestration.cli",
        "build",
        "--landing",
        str(landing),
        "--warehouse",
        str(warehouse),
    ]


def _run_build(landing: Path, warehouse: Path) -> str:
    """`ces build` in a process of its own; must exit 0. What it logged (stderr)."""
    done = subprocess.run(
        _build_command(landing, warehouse), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stderr


def _stage_seconds(log: str) -> dict[str, float]:
    """How long each step of a build took, from its progress lines ("finished  X in N s")."""
    return {
        m.group(1): float(m.group(2)) for m in re.finditer(r"finished\s+(.+?) in ([\d.]+) s", log)
    }


# Columns that say when a row was loaded, rejected, written or built: they differ between two
# builds of the same files.
WHEN_COLUMNS = ("loaded_at", "rejected_at", "refreshed_at", "built_at", "last_seen_at")


def _serving_rows(path: Path) -> dict[str, list[tuple]]:
    """Every mart of a serving copy, without the columns that say when (WHEN_COLUMNS)."""
    with duckdb.connect(str(path), read_only=True) as conn:
        columns: dict[str, list[str]] = {}
        for table, column in conn.execute(
            "select table_name, column_name from duckdb_columns() where schema_name = 'marts' "
            "order by table_name, column_index"
        ).fetchall():
            if not column.endswith(WHEN_COLUMNS):
                columns.setdefault(table, []).append(f'"{column}"')
        return {
            table: conn.execute(
                f"select {', '.join(names)} from marts.{table} order by all"
            ).fetchall()
            for table, names in columns.items()
        }


def assert_same_marts(left: Path, right: Path) -> None:
    """The same marts, rows and values; floats within 1e-9 (DuckDB's parallel sums add in
    any order, so the last digits of a mean may differ between two builds)."""
    ours, theirs = _serving_rows(left), _serving_rows(right)
    assert ours.keys() == theirs.keys()
    for table, rows in ours.items():
        assert len(rows) == len(theirs[table]), table
        for mine, other in zip(rows, theirs[table], strict=True):
            differing = [
                (i, a, b)
                for i, (a, b) in enumerate(zip(mine, other, strict=True))
                if not same_value(a, b)
            ]
            assert not differing, (table, mine[:3], differing)


def _stage_at_kill(log: Path) -> str:
    """The step a killed build was in: the last one it logged as started."""
    started = re.findall(r"started\s+(.+)", log.read_text(errors="replace"))
    return started[-1].strip() if started else "start-up"


def _kill_during(command: list[str], log: Path, stage: str, delay: float) -> str | None:
    """Start a build; SIGKILL its process group (dbt too) `delay` seconds after it logs
    that `stage` started. The step it was in when killed, or None when it ended first."""
    with log.open("w") as err:
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
    marker = re.compile(rf"started\s+{re.escape(stage)}")
    deadline = time.monotonic() + 300
    try:
        while not marker.search(log.read_text(errors="replace")):
            if process.poll() is not None:
                return None
            assert time.monotonic() < deadline, f"{stage} never started"
            time.sleep(0.005)
        time.sleep(delay)
        if process.poll() is not None:
            return None
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return _stage_at_kill(log)


# The steps a kill is aimed at, in turn (each at a random moment of the step).
KILL_STEPS = (
    "ingest (raw_survey_responses)",
    "dbt build",
    "quality gates",
    "publish",
    "ingest (raw_tickets)",
)


def test_sigkill_at_random_points_never_breaks_the_serving_copy_and_a_rerun_recovers(
    dbt_manifest, tmp_path
):
    """At least 10 SIGKILLs of `ces build` (its process group: dbt too), each at a random
    moment of one step (ingest, dbt, quality gates, publish in turn) of builds that start
    where the killed one left off; after each, the serving copy, if any, opens and every
    mart reads. A final build equals an uninterrupted one."""
    from orchestration.sample import generate_sample

    landing = tmp_path / "landing"
    generate_sample(landing, responses=1500, days=15, seed=23)
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    seconds = _stage_seconds(_run_build(landing, reference))
    rng = random.Random(SEED)
    stages: list[str] = []
    attempts = 0
    while len(stages) < KILLS and attempts < 3 * KILLS:
        step = KILL_STEPS[attempts % len(KILL_STEPS)]
        attempts += 1
        delay = rng.uniform(0, max(seconds.get(step, 0.5), 0.05))
        stage = _kill_during(
            _build_command(landing, killed), tmp_path / f"kill_{attempts}.log", step, delay
        )
        if stage is None:
            continue  # the build ended before the kill: not counted
        stages.append(stage)
        serving = killed / "ces_marts.duckdb"
        if serving.exists():
            assert serving_tables(serving)["fct_ces_responses"], stage
    print(f"kills: {len(stages)} of {attempts} attempts; steps of the reference: {seconds}")
    print(f"steps at kill: {sorted(stages)}")
    assert len(stages) >= KILLS, (attempts, stages)
    assert {"dbt build", "quality gates", "publish"} <= set(stages), stages
    assert any(stage.startswith("ingest") for stage in stages), stages
    _run_build(landing, killed)
    assert_same_marts(killed / "ces_marts.duckdb", reference / "ces_marts.duckdb")
    with duckdb.connect(str(killed / "ces.duckdb"), read_only=True) as conn:
        assert_balanced(conn)
        # every landed file is in the manifest once, however often its load was killed
        assert (
            conn.execute(
                "select count(*), count(distinct file_path) from audit.load_manifest"
            ).fetchone()
            == (len(list(landing.rglob("*.*"))),) * 2
        )


def test_readers_of_the_serving_copy_see_no_error_and_whole_snapshots_through_publishes(
    dbt_manifest, tmp_path
):
    from orchestration.sample import generate_sample

    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    generate_sample(landing, responses=1500, days=15, seed=24, end_date=date(2026, 10, 28))
    _run_build(landing, warehouse)
    serving = warehouse / "ces_marts.duckdb"
    stop = threading.Event()
    seen: list[tuple] = []
    errors: list[str] = []

    def read() -> None:
        while not stop.is_set():
            try:
                with duckdb.connect(str(serving), read_only=True) as conn:
                    seen.append(conn.execute(SNAPSHOT_QUERY).fetchone())
            except Exception as error:  # every error is a failure of the test
                errors.append(f"{type(error).__name__}: {error}")

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for day in (29, 30, 31):
            generate_sample(
                landing / f"day_{day}",
                responses=40,
                days=1,
                seed=day,
                end_date=date(2026, 10, day),
                id_offset=day * 100_000,
            )
            for path in (landing / f"day_{day}").rglob("*.*"):
                target = landing / path.relative_to(landing / f"day_{day}")
                target = target.with_name(f"d{day}_{target.name}")
                target.parent.mkdir(parents=True, exist_ok=True)
                path.rename(target)
            shutil.rmtree(landing / f"day_{day}")
            _run_build(landing, warehouse)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    print(f"reader queries: {len(seen)}, errors: {len(errors)}, snapshots: {len(set(seen))}")
    assert errors == []
    assert len(seen) > 50
    inconsistent = [s for s in seen if len(set(s)) != 1]
    assert inconsistent == []
    assert len({s[0] for s in seen}) >= 3  # the readers saw several publishes


# --- locks and leftovers (issue 25) ------------------------------------------------------


def test_a_second_build_on_the_same_warehouse_exits_at_once_naming_the_first(tmp_path, capsys):
    from orchestration.cli import main
    from orchestration.locks import build_lock

    landing, warehouse = tmp_path / "landing", tmp_path / "wh"
    landing.mkdir()
    with build_lock(warehouse):
        assert main(["build", "--landing", str(landing), "--warehouse", str(warehouse)]) == 1
        assert main(["reload", "--source", "x", "--warehouse", str(warehouse),
                     "--landing", str(landing)]) == 1  # fmt: skip
    err = capsys.readouterr().err.splitlines()
    running = (
        rf"another build is running on {re.escape(str(warehouse))} \(pid {os.getpid()}, "
        r"started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\); wait for it to finish, or stop it; "
    )
    assert re.fullmatch(f"ces build: {running}nothing was built", err[0]), err
    assert re.fullmatch(f"ces reload: {running}nothing was reloaded", err[1]), err
    assert not (warehouse / "ces.duckdb").exists()  # nothing was touched
    # released with the first build: the lock file is empty and free again
    with build_lock(warehouse):
        pass


def _hold_open(path: Path, seconds: float) -> subprocess.Popen:
    """Another program (a BI tool) holding the DuckDB file open read-only for `seconds`."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); "
         "print('open', flush=True); time.sleep(float(sys.argv[2]))",
         str(path), str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "open"
    return holder


def test_a_program_holding_the_warehouse_file_is_waited_for_then_named(
    tmp_path, capsys, monkeypatch
):
    """A BI tool holding ces.duckdb (even read-only) blocks DuckDB's write lock: the build
    waits CES_LOCK_WAIT_SECONDS for it, then exits naming its PID and the serving copy."""
    from orchestration.cli import main
    from orchestration.engines.duckdb import DuckDBEngine

    landing, warehouse = tmp_path / "landing", tmp_path / "wh"
    landing.mkdir()
    warehouse.mkdir()
    duckdb.connect(str(warehouse / "ces.duckdb")).close()
    holder = _hold_open(warehouse / "ces.duckdb", 60)
    try:
        monkeypatch.setenv("CES_LOCK_WAIT_SECONDS", "0.5")
        started = time.monotonic()
        assert main(["build", "--landing", str(landing), "--warehouse", str(warehouse)]) == 1
        assert time.monotonic() - started >= 0.5
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert f"ces build: {warehouse / 'ces.duckdb'} is open in another program, " in err
    assert f"(PID {holder.pid}); waited 0.5 s (CES_LOCK_WAIT_SECONDS); close it: BI tools " in err
    assert f"read the serving copy {warehouse / 'ces_marts.duckdb'}, which never" in err

    # a holder that lets go within the wait: the build goes ahead
    brief = _hold_open(warehouse / "ces.duckdb", 1.5)
    started = time.monotonic()
    DuckDBEngine(warehouse / "ces.duckdb").wait_until_writable(30)
    assert 0.5 < time.monotonic() - started < 20
    brief.wait()


def test_temporary_serving_copies_of_killed_publishes_are_removed_by_the_next(tmp_path):
    """A kill during publish left `.ces_marts.duckdb.<pid>.tmp` (21 MB) for ever: the next
    publish removes those whose process is gone, and keeps a live publish's file."""
    from orchestration.engines.duckdb import publish_serving_copy

    warehouse, serving = tmp_path / "ces.duckdb", tmp_path / "ces_marts.duckdb"
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("create schema marts; create table marts.t as select 1 as x")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = int(gone.stdout)
    stale = [
        tmp_path / f".ces_marts.duckdb.{dead}.tmp",
        tmp_path / f".ces_marts.duckdb.{dead}.tmp.wal",
    ]
    live = tmp_path / f".ces_marts.duckdb.{os.getppid()}.tmp"
    for path in [*stale, live]:
        path.write_bytes(b"x" * 1000)
    assert publish_serving_copy(warehouse, serving) == {"t": {"rows": 1, "written": "copied whole"}}
    assert not any(path.exists() for path in stale)
    assert live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, "ces.duckdb", "ces_marts.duckdb"]
    )
