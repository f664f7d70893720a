"""Personal data in free text and identifiers (issue 25): the masking macros on a corpus of
real-world formats, compiled by dbt for each engine and run there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.settings import PROJECT_DIR

CORPUS = Path(__file__).parent / "data" / "personal_data_corpus.tsv"
# identifiers: (id, whether it is replaced by its pseudonym)
IDENTIFIERS = [
    ("jan.jansen@example.com", True),
    ("RSP-jan@example.com-1", True),
    ("+31612345678", True),
    ("+31 6 1234 5678", True),
    ("＋３１６１２３４５６７８", True),
    ("RSP-00012345", False),
    ("HD-CSAT-1234567", False),
    ("CUST-00000001", False),
    ("QR_1234567890", False),
    ("", False),
]
INLINE = (
    "select n, {{ mask_personal_data('text') }} as masked, "
    "{{ matches_personal_identifier('text') }} as is_personal from corpus order by n"
)


def corpus() -> list[tuple[str, str]]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t")) for line in lines if line and not line.startswith("#")]


def compiled(target: str, tmp_path: Path) -> str:
    """The inline query as dbt compiles it for `target` (profiles.yml)."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "compile", "--quiet", "--target", target,
         "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
         "--inline", INLINE],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "CES_WAREHOUSE_DIR": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def rows_of_corpus() -> list[tuple[int, str]]:
    texts = [text for text, _ in corpus()] + [text for text, _ in IDENTIFIERS]
    return list(enumerate(texts))


def assert_masked(results: list[tuple[int, str, bool]]) -> None:
    cases = corpus()
    assert len(cases) >= 40
    got = {n: (masked, personal) for n, masked, personal in results}
    wrong = [
        (text, got[n][0], expected)
        for n, (text, expected) in enumerate(cases)
        if got[n][0] != expected
    ]
    assert not wrong, "\n".join(f"{t!r} -> {g!r}, expected {e!r}" for t, g, e in wrong)
    for i, (identifier, personal) in enumerate(IDENTIFIERS):
        assert got[len(cases) + i][1] == personal, identifier


def test_every_format_of_the_corpus_is_masked_on_duckdb(tmp_path, dbt_manifest):
    sql = compiled("duckdb", tmp_path)
    conn = duckdb.connect()
    conn.execute("create table corpus (n integer, text varchar)")
    conn.executemany("insert into corpus values (?, ?)", rows_of_corpus())
    assert_masked(conn.execute(sql).fetchall())


def test_every_format_of_the_corpus_is_masked_on_postgres(tmp_path, dbt_manifest, pg_database):
    from orchestration.ingest import warehouse
    from orchestration.settings import PostgresConnection

    sql = compiled("postgres", tmp_path)
    pg = warehouse.connect_postgres(PostgresConnection.from_env())
    try:
        with pg.cursor() as cursor:
            cursor.execute("create temporary table corpus (n integer, text text)")
            cursor.executemany("insert into corpus values (%s, %s)", rows_of_corpus())
            cursor.execute(sql)
            assert_masked(cursor.fetchall())
    finally:
        pg.close()


@pytest.mark.parametrize("text", [text for text, _ in corpus()])
def test_the_masked_text_holds_no_at_sign_or_long_digit_run(text):
    """Whatever the corpus expects, what is left has no '@' and no run of 7 digits."""
    expected = dict(corpus())[text]
    assert "@" not in expected and "＠" not in expected
    digits = "".join(c if c.isdigit() else " " for c in expected)
    assert all(len(run) < 7 for run in digits.split())


def test_a_new_key_rekeys_the_raw_pseudonyms_on_postgres(pg_database, monkeypatch):
    """The PostgreSQL form of the keyed HMAC equals Python's, and a new key re-keys the
    raw rows on the next ingest (the DuckDB form: tests/test_ingest.py)."""
    import hashlib
    import hmac

    from orchestration.ingest import pseudonym, warehouse
    from orchestration.settings import PostgresConnection

    pg = warehouse.connect_postgres(PostgresConnection.from_env())
    try:
        monkeypatch.setenv("CES_PSEUDONYM_SALT", "first key")
        warehouse.ensure_schema_postgres(pg)
        with pg.cursor() as cursor:
            cursor.execute(
                "insert into raw.tickets (ticket_id, customer_id, _customer_key) "
                "values ('T1', ' C1 ', 'stale'), ('T2', '', null), ('T3', 'Zoë', null)"
            )
        pg.commit()
        monkeypatch.setenv("CES_PSEUDONYM_SALT", "second key")
        warehouse.ensure_schema_postgres(pg)
        with pg.cursor() as cursor:
            cursor.execute("select ticket_id, _customer_key from raw.tickets order by 1")
            keys = cursor.fetchall()
            cursor.execute("select fingerprint from audit.pseudonym_key")
            stored = cursor.fetchall()
    finally:
        pg.close()
    key = b"second key"
    assert keys == [
        ("T1", hmac.new(key, b"C1", hashlib.sha256).hexdigest()),
        ("T2", None),
        ("T3", hmac.new(key, "Zoë".encode(), hashlib.sha256).hexdigest()),
    ]
    assert stored == [(pseudonym.fingerprint(key),)]
