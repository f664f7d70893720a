"""The sample generator: deterministic, covers every registered scale, tells a story, and
carries the defects the audit tables exist for."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from orchestration.sample import COMMENTS, RESPONSE_COLUMNS, generate_sample, read_registry

N = 6000
CSV_COLUMNS = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in RESPONSE_COLUMNS) + "}"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("sample")
    return out, generate_sample(out, responses=N, days=120, seed=11)


@pytest.fixture(scope="module")
def answers(sample) -> duckdb.DuckDBPyConnection:
    """All generated answers and tickets, read back with DuckDB (the defect lines skipped)."""
    out, _ = sample
    conn = duckdb.connect()
    folder = out / "survey_responses"
    conn.execute(
        f"""
        create table answers as
        select response_id, survey_id, touchpoint, interaction_id, responded_at, answer,
               comment, filename
        from read_csv('{folder}/*.csv', columns = {CSV_COLUMNS}, auto_detect = false,
                      ignore_errors = true, header = true, delim = ',', quote = '"',
                      escape = '"', strict_mode = true, filename = true)
        union all by name
        select * from read_json('{folder}/*.jsonl', format = 'newline_delimited',
                                          columns = {{response_id: 'VARCHAR', survey_id: 'VARCHAR',
                                          touchpoint: 'VARCHAR', interaction_id: 'VARCHAR',
                                          responded_at: 'VARCHAR', answer: 'VARCHAR',
                                          comment: 'VARCHAR'}}, filename = true)
        union all by name
        select response_id, survey_id, touchpoint, interaction_id, responded_at, answer,
               comment, filename
        from read_parquet('{folder}/*.parquet', filename = true)
        """
    )
    conn.execute(
        f"""
        create table tickets as
        select ticket_id, reopen_count::int as reopen_count,
               transfer_count::int as transfer_count, status, solved_at::varchar as solved_at
        from read_csv('{out}/tickets/*.csv', all_varchar = true)
        union all by name
        select ticket_id, reopen_count::int, transfer_count::int, status, solved_at::varchar
        from read_json('{out}/tickets/*.jsonl', format = 'newline_delimited')
        union all by name
        select ticket_id, reopen_count::int, transfer_count::int, status, solved_at::varchar
        from read_parquet('{out}/tickets/*.parquet')
        """
    )
    return conn


def file_digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_other_seed_other_data(tmp_path, sample):
    out, _ = sample
    again = generate_sample(tmp_path / "again", responses=N, days=120, seed=11)
    other = generate_sample(tmp_path / "other", responses=N, days=120, seed=12)
    assert file_digests(tmp_path / "again") == file_digests(out)
    assert file_digests(tmp_path / "other") != file_digests(out)
    assert again.responses == N and other.responses == N


def test_the_sample_ends_yesterday_by_the_clock_and_a_given_end_is_deterministic(
    tmp_path, monkeypatch, answers
):
    """The default last day is the day before the project's clock (pinned to 1 November
    2026 for the suite, so `sample` ends on 31 October); no answer is dated after it; and
    the same --end and --seed give the same bytes whatever the clock says."""
    from datetime import date

    answers.execute("set timezone = 'UTC'")
    first_day, last_day = answers.execute(
        "select min(cast(t as date)), max(cast(t as date)) from ("
        "select try_cast(responded_at as timestamptz) as t from answers) where t is not null"
    ).fetchone()
    assert (first_day, last_day) == (date(2026, 7, 4), date(2026, 10, 31))  # 120 days

    end = date(2026, 3, 31)
    generate_sample(tmp_path / "a", responses=500, days=70, seed=3, end_date=end)
    monkeypatch.setenv("CES_NOW", "2031-07-01T12:00:00Z")
    generate_sample(tmp_path / "b", responses=500, days=70, seed=3, end_date=end)
    assert file_digests(tmp_path / "a") == file_digests(tmp_path / "b")
    # with the clock moved, the default end moves with it: 70 days up to 30 June 2031
    later = generate_sample(tmp_path / "c", responses=500, days=70, seed=3)
    assert sorted(p.name for p in later.files if p.name.startswith("responses_2")) == [
        "responses_2031-04.csv",
        "responses_2031-05.jsonl",
        "responses_2031-06.parquet",
    ]


def test_a_later_one_day_sample_never_reuses_a_file_name_of_the_first(tmp_path, sample):
    """Copying a top-up sample into the landing folder adds files, never overwrites one:
    the re-sends file is named by the sample's span."""
    from datetime import date

    out, _ = sample
    top_up = generate_sample(
        tmp_path / "top_up",
        responses=2000,
        days=1,
        seed=5,
        end_date=date(2026, 11, 1),
        id_offset=10_000_000,
    )
    names = {p.name for p in top_up.files}
    assert "responses_resent_2026-11-01.csv" in names
    assert "responses_resent_2026-07_to_2026-10.csv" in {p.name for p in out.rglob("*")}
    assert names.isdisjoint(p.name for p in out.rglob("*"))


def test_every_format_and_several_files_per_folder(sample):
    out, summary = sample
    for folder in ("survey_responses", "tickets"):
        suffixes = {p.suffix for p in (out / folder).iterdir()}
        assert suffixes == {".csv", ".jsonl", ".parquet"}, folder
        assert len(list((out / folder).iterdir())) >= 4
    assert len(summary.files) == len(list(out.rglob("*.*")))


def test_exactly_n_distinct_answers_plus_exact_resends(answers, sample):
    _, summary = sample
    distinct, total = answers.execute(
        "select count(distinct response_id), count(*) from answers "
        "where response_id not like 'RSP-BROKEN%'"
    ).fetchone()
    assert distinct == N
    assert total == N + summary.resent
    assert summary.resent > 0
    # a re-send is the exact same record
    assert answers.execute(
        """
        select count(*) from (
            select response_id from answers group by all
            having count(distinct (survey_id, answer, responded_at, coalesce(comment, ''))) > 1
        )
        """
    ).fetchone() == (0,)


def test_every_registered_survey_and_label_is_used(answers):
    from orchestration.ingest.sources import load_source_configs

    # Surveys registered for a vendor export only (their choice texts) are exercised by
    # the vendor tests, not by the contract-format sample.
    vendor_only = {
        q.survey_id
        for c in load_source_configs()
        if c.format == "qualtrics"
        for q in c.options.questions
    }
    assert vendor_only == {"ces2_agree_7_text", "csat_5_text"}
    registry = {k: v for k, v in read_registry().items() if k not in vendor_only}
    used = dict(answers.execute("select survey_id, count(*) from answers group by 1").fetchall())
    assert set(registry) <= set(used)
    for scale in registry.values():
        values = {
            v
            for (v,) in answers.execute(
                "select distinct trim(answer) from answers where survey_id = ?", [scale.survey_id]
            ).fetchall()
        }
        if scale.labels:
            canonical = {v for v in values if v in scale.labels}
            assert canonical == set(scale.labels), scale.survey_id
            assert any(
                v != v.strip() or v.islower()
                for (v,) in answers.execute(
                    "select answer from answers where survey_id = ?", [scale.survey_id]
                ).fetchall()
            ), f"{scale.survey_id}: no case/space variants of labels"
        else:
            numbers = {float(v) for v in values if v.replace(".", "", 1).isdigit()}
            on_scale = {n for n in numbers if scale.scale_min <= n <= scale.scale_max}
            assert on_scale == set(range(scale.scale_min, scale.scale_max + 1)), scale.survey_id


def test_defects_are_present_in_small_shares(answers):
    def share(where: str) -> float:
        return answers.execute(f"select avg(({where})::int) from answers").fetchone()[0]

    assert 0 < share("survey_id = 'ces_legacy_v0'") < 0.01
    assert 0 < share("touchpoint = 'store_pickup'") < 0.01
    assert 0 < share("answer in ('Kinda meh', 'n/a')") < 0.01
    assert (
        0
        < share(
            "(survey_id = 'ces2_agree_7' and answer = '9') "
            "or (survey_id = 'ces1_effort_5' and answer = '7')"
        )
        < 0.01
    )
    assert 0 < share("try_cast(responded_at as timestamptz) is null") < 0.01
    assert (
        share("comment in (" + ", ".join("'" + c.replace("'", "''") + "'" for c in COMMENTS) + ")")
        > 0.03
    )


def test_csv_files_carry_two_structurally_broken_lines(sample):
    out, _ = sample
    for path in (out / "survey_responses").glob("responses_2*.csv"):
        text = path.read_text(encoding="utf-8")
        assert "Fast, easy and friendly" in text and '"He said "no" twice"' in text, path


def test_the_data_tells_a_story(answers):
    """Touchpoints differ, trends move, ticket effort lowers ease, CSAT moves with CES."""
    answers.execute(
        """
        create table ces2 as
        select a.*, try_cast(a.answer as double) as ease,
               try_cast(a.responded_at as timestamptz) as ts
        from answers a
        where survey_id = 'ces2_agree_7' and try_cast(answer as double) between 1 and 7
        """
    )
    by_tp = dict(answers.execute("select touchpoint, avg(ease) from ces2 group by 1").fetchall())
    assert len(by_tp) >= 6
    assert by_tp["checkout"] - by_tp["returns"] > 1.0

    def trend(tp: str) -> float:
        early, late = answers.execute(
            "select avg(ease) filter (where ts < (select min(ts) + interval 40 day from ces2)), "
            "avg(ease) filter (where ts > (select max(ts) - interval 40 day from ces2)) "
            "from ces2 where touchpoint = ?",
            [tp],
        ).fetchone()
        return late - early

    assert trend("delivery") < -0.1
    assert trend("returns") > 0.1

    effort = dict(
        answers.execute(
            """
            select least(t.reopen_count + t.transfer_count, 3), avg(c.ease)
            from ces2 c join tickets t on t.ticket_id = c.interaction_id group by 1
            """
        ).fetchall()
    )
    assert effort[0] > effort[1] > effort[3]

    linked = answers.execute(
        """
        select corr(c.ease, try_cast(s.answer as double))
        from ces2 c join answers s
          on s.interaction_id = c.interaction_id and s.survey_id = 'csat_5'
        """
    ).fetchone()[0]
    assert linked > 0.3


def test_tickets_are_about_a_quarter_of_answers_and_linked(answers, sample):
    _, summary = sample
    assert 0.18 < summary.tickets / N < 0.32
    unlinked = answers.execute(
        "select count(*) from answers a where interaction_id like 'TCK-%' "
        "and not exists (select 1 from tickets t where t.ticket_id = a.interaction_id)"
    ).fetchone()[0]
    assert unlinked == 0
    statuses = dict(answers.execute("select status, count(*) from tickets group by 1").fetchall())
    assert {"solved", "closed", "pending"} <= set(statuses)


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="at least 1"):
        generate_sample(tmp_path, responses=0)
