"""Ingestion: structural rejects with file + line + reason, idempotence, atomicity and the
rows landed = rows loaded + rows rejected invariant."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from orchestration.ingest.contract import SURVEY_RESPONSES, TICKETS
from orchestration.ingest.loader import load_landing_file, load_stream

HEADER = ",".join(SURVEY_RESPONSES.columns) + "\n"


def good_row(n: int, answer: str = "6", comment: str = "") -> str:
    return f"R{n},ces2_agree_7,C{n},checkout,web,,2026-03-01T10:00:00Z,{answer},{comment},en\n"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def load(conn, landing: Path, path: Path, stream=SURVEY_RESPONSES):
    return load_landing_file(conn, stream, path, landing)


def rejects(conn) -> list[tuple]:
    return conn.execute(
        "select file_path, line, error_type, reason, raw_text from audit.rejected_rows "
        "order by file_path, line"
    ).fetchall()


def raw_ids(conn) -> list[tuple]:
    return conn.execute(
        "select response_id, _source_line from raw.survey_responses order by _source_line"
    ).fetchall()


def table_state(conn) -> tuple:
    return tuple(
        conn.execute(f"select count(*) from {t}").fetchone()[0]
        for t in (
            "raw.survey_responses",
            "raw.tickets",
            "audit.load_manifest",
            "audit.rejected_rows",
        )
    )


def test_wrong_column_count_and_bad_quoting_are_rejected_with_line_and_the_rest_loads(
    conn, landing
):
    path = write(
        landing / "survey_responses" / "a.csv",
        HEADER
        + good_row(1)
        + good_row(2, comment="Fast, easy and friendly").replace('"', "")  # unquoted comma
        + good_row(3, comment='"said ""hi"", ok"')  # properly escaped quotes: fine
        + good_row(4, comment='"He said "no" twice"')  # quote closed mid-value
        + good_row(5),
    )
    result = load(conn, landing, path)

    assert (result.rows_landed, result.rows_accepted, result.rows_rejected) == (5, 3, 2)
    assert result.status == "loaded_with_rejects"
    assert raw_ids(conn) == [("R1", 2), ("R3", 4), ("R5", 6)]
    found = rejects(conn)
    assert [(f, line, kind) for f, line, kind, _, _ in found] == [
        ("survey_responses/a.csv", 3, "wrong_column_count"),
        ("survey_responses/a.csv", 5, "malformed_quoting"),
    ]
    assert "Expected Number of Columns: 10 Found: 11" in found[0][3]
    assert found[0][4] == good_row(2, comment="Fast, easy and friendly").strip()
    assert conn.execute(
        "select comment from raw.survey_responses where response_id = 'R3'"
    ).fetchone() == ('said "hi", ok',)


def test_quoted_newline_counts_as_one_line_and_later_rows_keep_their_numbers(conn, landing):
    path = write(
        landing / "survey_responses" / "multi.csv",
        HEADER + good_row(1, comment='"two\nlines"') + good_row(2, answer="5,extra") + good_row(3),
    )
    result = load(conn, landing, path)
    assert (result.rows_accepted, result.rows_rejected) == (2, 1)
    assert raw_ids(conn) == [("R1", 2), ("R3", 4)]
    assert [r[1] for r in rejects(conn)] == [3]


def test_missing_required_column_rejects_every_row_with_the_column_named(conn, landing):
    path = write(
        landing / "survey_responses" / "no_answer.csv",
        "response_id,survey_id,customer_id,touchpoint,responded_at\n"
        "R1,s,C1,checkout,2026-01-01\nR2,s,C2,checkout,2026-01-01\n",
    )
    result = load(conn, landing, path)
    assert (result.rows_landed, result.rows_accepted, result.rows_rejected) == (2, 0, 2)
    assert result.status == "rejected"
    found = rejects(conn)
    assert [(r[1], r[2], r[3]) for r in found] == [
        (2, "missing_required_column", "missing required column(s): answer"),
        (3, "missing_required_column", "missing required column(s): answer"),
    ]
    assert json.loads(found[0][4])["response_id"] == "R1"


def test_extra_columns_are_kept_as_json_and_header_case_is_ignored(conn, landing):
    path = write(
        landing / "survey_responses" / "extra.csv",
        "Response_ID, SURVEY_ID ,customer_id,touchpoint,responded_at,answer,NPS,store\n"
        "R1,s,C1,checkout,2026-01-01,6,9,Utrecht\n",
    )
    load(conn, landing, path)
    assert conn.execute(
        "select response_id, survey_id, answer, channel, _extra from raw.survey_responses"
    ).fetchall() == [("R1", "s", "6", None, '{"NPS":"9","store":"Utrecht"}')]


def test_utf8_bom_is_accepted_and_latin1_falls_back_to_windows_1252_with_a_warning(conn, landing):
    bom = write(
        landing / "survey_responses" / "bom.csv",
        b"\xef\xbb\xbf" + (HEADER + good_row(1, answer="Zeer weinig moeite")).encode("utf-8"),
    )
    latin = write(
        landing / "survey_responses" / "latin.csv",
        (HEADER + good_row(2, answer="Très facile")).encode("latin-1"),
    )
    first, second = load(conn, landing, bom), load(conn, landing, latin)
    assert (first.encoding, first.warning, first.rows_accepted) == ("utf-8", None, 1)
    assert (second.encoding, second.rows_accepted) == ("windows-1252", 1)
    assert "not valid UTF-8: 1 line(s) read as Windows-1252" in second.warning
    assert conn.execute(
        "select answer from raw.survey_responses order by response_id"
    ).fetchall() == [("Zeer weinig moeite",), ("Très facile",)]
    manifest = conn.execute(
        "select file_path, status, warning is not null from audit.load_manifest order by 1"
    ).fetchall()
    assert manifest == [
        ("survey_responses/bom.csv", "loaded", False),
        ("survey_responses/latin.csv", "loaded", True),
    ]


def test_utf16_with_a_bom_loads_and_utf16_without_one_is_quarantined(conn, landing):
    path = write(landing / "survey_responses" / "u16.csv", (HEADER + good_row(1)).encode("utf-16"))
    result = load(conn, landing, path)
    assert (result.status, result.encoding, result.rows_accepted) == ("loaded", "utf-16", 1)
    bare = write(
        landing / "survey_responses" / "u16le.csv", (HEADER + good_row(2)).encode("utf-16-le")
    )
    result = load(conn, landing, bare)
    assert (result.status, result.rows_landed, result.rows_rejected) == ("quarantined", 1, 1)
    (row,) = rejects(conn)
    assert row[:3] == ("survey_responses/u16le.csv", 1, "unreadable_encoding")
    assert "re-export it as UTF-8" in row[3]


def test_empty_files_are_recorded_not_errors(conn, landing):
    zero = write(landing / "survey_responses" / "zero.csv", "")
    header_only = write(landing / "survey_responses" / "header.csv", HEADER)
    blank_jsonl = write(landing / "survey_responses" / "blank.jsonl", "\n\n")
    for path in (zero, header_only, blank_jsonl):
        result = load(conn, landing, path)
        assert (result.status, result.rows_landed, result.rows_rejected) == ("empty", 0, 0)
    assert conn.execute(
        "select count(*) from audit.load_manifest where status = 'empty'"
    ).fetchone() == (3,)


def test_jsonl_rejects_malformed_lines_non_objects_and_missing_fields(conn, landing):
    record = {
        "response_id": "J1",
        "survey_id": "csat_5",
        "customer_id": "C1",
        "touchpoint": "delivery",
        "responded_at": "2026-01-01T00:00:00Z",
        "answer": 4,
        "nested": {"a": 1},
    }
    missing = {k: v for k, v in record.items() if k != "answer"} | {"response_id": "J2"}
    lines = [
        json.dumps(record),
        "",
        '{"response_id": "J9", "survey_id": ',
        "[1, 2]",
        json.dumps(missing),
        json.dumps(record | {"response_id": "J3", "answer": "Very easy"}),
        "   ",
        '"just text"',
        json.dumps({k: v for k, v in record.items() if k != "nested"} | {"response_id": "J4"}),
    ]
    path = write(landing / "survey_responses" / "a.jsonl", "\n".join(lines) + "\n")
    result = load(conn, landing, path)

    assert (result.rows_landed, result.rows_accepted, result.rows_rejected) == (7, 3, 4)
    assert conn.execute(
        "select response_id, answer, _extra, _source_line from raw.survey_responses order by 1"
    ).fetchall() == [
        ("J1", "4", '{"nested":{"a":1}}', 1),
        ("J3", "Very easy", '{"nested":{"a":1}}', 6),
        ("J4", "4", None, 9),
    ]
    assert [(r[1], r[2], r[3]) for r in rejects(conn)] == [
        (3, "malformed_json", "malformed JSON: the line is not a valid JSON value"),
        (4, "not_an_object", "a JSON line must hold one object, found array"),
        (5, "missing_required_field", "missing required field(s): answer"),
        (8, "not_an_object", "a JSON line must hold one object, found varchar"),
    ]


def test_parquet_loads_typed_columns_as_text_and_rejects_a_corrupt_file(conn, landing):
    folder = landing / "tickets"
    duckdb.sql(
        "copy (select 'T' || i as ticket_id, 'C1' as customer_id, 'returns' as touchpoint, "
        "timestamp '2026-02-01 10:00:00' as created_at, 'solved' as status, i as reopen_count "
        f"from range(3) t(i)) to '{folder / 'a.parquet'}' (format parquet)"
    )
    corrupt = write(folder / "b.parquet", b"PAR1 this is not parquet")
    first = load(conn, landing, folder / "a.parquet", TICKETS)
    second = load(conn, landing, corrupt, TICKETS)
    assert (first.rows_accepted, first.rows_rejected) == (3, 0)
    assert conn.execute(
        "select ticket_id, created_at, reopen_count, _source_line from raw.tickets order by 1"
    ).fetchall() == [
        ("T0", "2026-02-01 10:00:00", "0", 1),
        ("T1", "2026-02-01 10:00:00", "1", 2),
        ("T2", "2026-02-01 10:00:00", "2", 3),
    ]
    assert (second.status, second.rows_rejected) == ("quarantined", 1)
    assert rejects(conn)[0][2] == "unreadable_file"
    assert "not a readable Parquet file" in rejects(conn)[0][3]


def test_reloading_is_idempotent_and_a_changed_file_loads_as_a_new_version(conn, landing):
    path = write(landing / "survey_responses" / "a.csv", HEADER + good_row(1) + good_row(2))
    copy = write(landing / "survey_responses" / "copy_of_a.csv", HEADER + good_row(1) + good_row(2))
    first = load_stream(conn, SURVEY_RESPONSES, landing)
    state = table_state(conn)
    again = load_stream(conn, SURVEY_RESPONSES, landing)

    assert [r.status for r in first] == ["loaded", "duplicate_content"]
    assert [r.status for r in again] == ["already_loaded", "already_loaded"]
    assert table_state(conn) == state == (2, 0, 2, 0)

    write(path, HEADER + good_row(1) + good_row(2, answer="3") + good_row(3))
    changed = load_landing_file(conn, SURVEY_RESPONSES, path, landing)
    assert (changed.status, changed.rows_accepted) == ("loaded", 3)
    assert table_state(conn) == (5, 0, 3, 0)
    assert copy.exists()


def test_rows_landed_equals_loaded_plus_rejected_for_every_file(conn, landing):
    write(
        landing / "survey_responses" / "a.csv",
        HEADER + good_row(1) + "R2,only,three\n" + good_row(3),
    )
    write(landing / "survey_responses" / "b.jsonl", '{"response_id": "x"}\nnot json\n')
    write(landing / "survey_responses" / "c.csv", HEADER)
    results = load_stream(conn, SURVEY_RESPONSES, landing)
    assert [r.rows_landed for r in results] == [3, 2, 0]
    by_file = conn.execute(
        """
        select m.file_path, m.rows_landed, m.rows_accepted, m.rows_rejected,
               (select count(*) from raw.survey_responses r where r._file_hash = m.file_hash),
               (select count(*) from audit.rejected_rows j where j.file_hash = m.file_hash)
        from audit.load_manifest m order by 1
        """
    ).fetchall()
    for file_path, landed, accepted, rejected, in_raw, in_audit in by_file:
        assert landed == accepted + rejected, file_path
        assert (accepted, rejected) == (in_raw, in_audit), file_path


CRASHING_LOADER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from orchestration.ingest import loader, warehouse
    from orchestration.ingest.contract import SURVEY_RESPONSES

    # Simulate the process being killed after the inserts and before the commit.
    loader.BEFORE_COMMIT_HOOKS.append(lambda result: os._exit(17))
    conn = warehouse.connect(Path(sys.argv[1]))
    loader.load_stream(conn, SURVEY_RESPONSES, Path(sys.argv[2]))
    """
)


def test_a_crash_between_insert_and_commit_leaves_the_warehouse_as_it_was(tmp_path, landing):
    from orchestration.ingest import warehouse

    db = tmp_path / "crash.duckdb"
    write(landing / "survey_responses" / "a.csv", HEADER + good_row(1) + good_row(2))
    conn = warehouse.connect(db)
    warehouse.ensure_schema(conn)
    load_stream(conn, SURVEY_RESPONSES, landing)
    before = table_state(conn)
    conn.close()

    write(landing / "survey_responses" / "b.csv", HEADER + good_row(3) + "bad,row\n" + good_row(4))
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_LOADER, str(db), str(landing)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert crashed.returncode == 17, crashed.stderr

    conn = warehouse.connect(db)
    assert table_state(conn) == before == (2, 0, 1, 0)
    # The next load picks the file up again, whole.
    results = load_stream(conn, SURVEY_RESPONSES, landing)
    assert [(r.file_path, r.status) for r in results] == [
        ("survey_responses/a.csv", "already_loaded"),
        ("survey_responses/b.csv", "loaded_with_rejects"),
    ]
    assert table_state(conn) == (4, 0, 2, 1)
    conn.close()


def test_unsupported_files_are_recorded_and_hidden_files_ignored(conn, landing):
    write(landing / "survey_responses" / "notes.txt", "not data")
    write(landing / "survey_responses" / ".partial.csv", HEADER + good_row(1))
    results = load_stream(conn, SURVEY_RESPONSES, landing)
    assert [(r.file_path, r.status, r.rows_landed) for r in results] == [
        ("survey_responses/notes.txt", "unsupported_format", 0)
    ]
    assert "not a landing format" in results[0].warning


@pytest.mark.parametrize("stream", [SURVEY_RESPONSES, TICKETS])
def test_missing_stream_folder_loads_nothing(conn, tmp_path, stream):
    assert load_stream(conn, stream, tmp_path / "nowhere") == []


def test_an_unexpected_failure_loses_no_other_file_and_is_retried(conn, landing, monkeypatch):
    from orchestration.ingest.readers.contract_files import ContractCsvReader

    write(landing / "survey_responses" / "a.csv", HEADER + good_row(1))
    write(landing / "survey_responses" / "b.csv", HEADER + good_row(2))
    write(landing / "survey_responses" / "c.csv", HEADER + good_row(3))
    real_stage = ContractCsvReader.stage

    def broken_for_b(self, file, plan):
        if file.path.name == "b.csv":
            raise OSError("disk went away")
        return real_stage(self, file, plan)

    monkeypatch.setattr(ContractCsvReader, "stage", broken_for_b)
    results = load_stream(conn, SURVEY_RESPONSES, landing)
    assert [r.status for r in results] == ["loaded", "failed", "loaded"]
    assert "OSError: disk went away" in results[1].warning
    assert [r[0] for r in raw_ids(conn)] == ["R1", "R3"]
    assert conn.execute(
        "select file_path, status, rows_landed from audit.load_manifest order by 1"
    ).fetchall() == [
        ("survey_responses/a.csv", "loaded", 1),
        ("survey_responses/b.csv", "failed", 0),
        ("survey_responses/c.csv", "loaded", 1),
    ]

    monkeypatch.setattr(ContractCsvReader, "stage", real_stage)
    retry = load_stream(conn, SURVEY_RESPONSES, landing)
    assert [r.status for r in retry] == ["already_loaded", "loaded", "already_loaded"]
    assert conn.execute(
        "select status from audit.load_manifest where file_path like '%b.csv'"
    ).fetchall() == [("loaded",)]


def _record(n: int) -> dict[str, str]:
    """good_row(n) as a JSON Lines record."""
    return dict(zip(SURVEY_RESPONSES.columns, good_row(n).rstrip("\n").split(","), strict=True))


def test_file_names_are_exact_paths_never_glob_patterns(conn, landing):
    """DuckDB reads a path as a glob: `*.csv` loaded every CSV of its folder under its own
    name, `glob[A].csv` loaded globA.csv's rows and never its own. Each is read by its
    exact path: its own rows, under its own name, and every file's rows once."""
    folder = landing / "survey_responses"
    write(folder / "globA.csv", HEADER + good_row(1))
    write(folder / "glob[A].csv", HEADER + good_row(2) + good_row(3))
    write(folder / "*.csv", HEADER + good_row(4))
    write(folder / "what?{x,y}.jsonl", json.dumps(_record(5)) + "\n")
    results = {r.file_path: r for r in load_stream(conn, SURVEY_RESPONSES, landing)}
    assert {path: r.rows_accepted for path, r in results.items()} == {
        "survey_responses/*.csv": 1,
        "survey_responses/glob[A].csv": 2,
        "survey_responses/globA.csv": 1,
        "survey_responses/what?{x,y}.jsonl": 1,
    }
    rows = conn.execute(
        "select _source_file, response_id from raw.survey_responses order by 2"
    ).fetchall()
    assert rows == [
        ("survey_responses/globA.csv", "R1"),
        ("survey_responses/glob[A].csv", "R2"),
        ("survey_responses/glob[A].csv", "R3"),
        ("survey_responses/*.csv", "R4"),
        ("survey_responses/what?{x,y}.jsonl", "R5"),
    ]


def test_a_symbolic_link_out_of_the_landing_folder_is_refused_unread(conn, landing, tmp_path):
    """A link to /proc/self/environ stored the build's environment in the rejects. A link
    leaving the landing folder (the file's, or a folder's on the way) is recorded as
    `refused_link` with the reason and never read; a link within the folder loads."""
    folder = landing / "survey_responses"
    secret = write(tmp_path / "outside" / "secret.csv", HEADER + good_row(9, comment="SECRET"))
    (folder / "environ.csv").symlink_to("/proc/self/environ")
    (folder / "secret.csv").symlink_to(secret)
    (folder / "linked_folder").symlink_to(secret.parent, target_is_directory=True)
    real = write(landing / "archive" / "march.csv", HEADER + good_row(1))
    (folder / "march.csv").symlink_to(real)
    (folder / "archive").symlink_to(real.parent, target_is_directory=True)
    (folder / "gone.csv").symlink_to(landing / "deleted.csv")
    results = {r.file_path: r for r in load_stream(conn, SURVEY_RESPONSES, landing)}
    refused = sorted(p for p, r in results.items() if r.status == "refused_link")
    assert refused == [
        "survey_responses/archive",
        "survey_responses/environ.csv",
        "survey_responses/gone.csv",
        "survey_responses/linked_folder",
        "survey_responses/secret.csv",
    ]
    assert results["survey_responses/secret.csv"].warning.startswith(
        f"a symbolic link to {secret.resolve()}, outside the landing folder: not read"
    )
    assert "a symbolic link to a folder" in results["survey_responses/archive"].warning
    assert "to nothing (a broken link)" in results["survey_responses/gone.csv"].warning
    assert results["survey_responses/march.csv"].rows_accepted == 1
    stored = conn.execute(
        "select count(*) from audit.rejected_rows where raw_text like '%SECRET%' "
        "or raw_text like '%PATH=%'"
    ).fetchone()[0]
    assert stored == 0
    assert conn.execute("select count(*) from raw.survey_responses").fetchone()[0] == 1
    manifest = conn.execute(
        "select file_path, rows_landed from audit.load_manifest where status = 'refused_link' "
        "order by 1"
    ).fetchall()
    assert manifest == [(path, 0) for path in refused]
    # recorded once: the next run finds them in the manifest
    again = load_stream(conn, SURVEY_RESPONSES, landing)
    assert {r.status for r in again} == {"already_loaded"}
    assert conn.execute("select count(*) from audit.load_manifest").fetchone()[0] == 6


def test_the_customer_pseudonym_is_a_keyed_hmac_computed_at_load(conn, landing, monkeypatch):
    """raw._customer_key is HMAC-SHA256(key, trimmed customer id), computed while loading
    with the key bound as a parameter; a new key, or raw rows from before the column,
    re-key every raw row on the next ingest."""
    import hashlib
    import hmac

    from orchestration.ingest import pseudonym, warehouse

    monkeypatch.setenv("CES_PSEUDONYM_SALT", "k3y")
    warehouse.ensure_schema(conn)
    rows = [good_row(1), good_row(2).replace(",C2,", ", C2 ,"), good_row(3).replace(",C3,", ",,")]
    load(conn, landing, write(landing / "survey_responses" / "a.csv", HEADER + "".join(rows)))

    def keys() -> list[tuple]:
        return conn.execute(
            "select _customer_key from raw.survey_responses order by _source_line"
        ).fetchall()

    def expected(key: bytes) -> list[tuple]:
        return [
            (hmac.new(key, b"C1", hashlib.sha256).hexdigest(),),
            (hmac.new(key, b"C2", hashlib.sha256).hexdigest(),),
            (None,),
        ]

    assert keys() == expected(b"k3y")
    assert pseudonym.pseudonym(" C2 ", b"k3y") == expected(b"k3y")[1][0]
    # a key longer than SHA-256's block is hashed first, as HMAC says
    long_key = b"x" * 100
    assert pseudonym.pseudonym("C1", long_key) == hmac.new(long_key, b"C1", "sha256").hexdigest()

    monkeypatch.setenv("CES_PSEUDONYM_SALT", "another key")
    warehouse.ensure_schema(conn)
    assert keys() == expected(b"another key")
    assert conn.execute("select fingerprint from audit.pseudonym_key").fetchall() == [
        (pseudonym.fingerprint(b"another key"),)
    ]
    # a warehouse from before keyed pseudonyms: the column is added and filled
    conn.execute("alter table raw.survey_responses drop column _customer_key")
    conn.execute("delete from audit.pseudonym_key")
    warehouse.ensure_schema(conn)
    assert keys() == expected(b"another key")
