"""The project's clock (issue 17): no result depends on the machine's date, and no headline
rests on a sliver of a month.

The suite pins CES_NOW (tests/conftest.py); these tests move it far from the machine's date
and check that sample -> build -> report gives the same honest result, and that a partial
or stale latest month is said, not shown as a month.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta

import duckdb
import pytest

from orchestration import coverage, report
from orchestration.cli import main
from orchestration.settings import Settings, parse_clock

pytestmark = pytest.mark.slow


def first_of_previous_month(day: date) -> date:
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


def serving_rows(settings: Settings, sql: str) -> list[dict]:
    with duckdb.connect(str(settings.serving_path), read_only=True) as conn:
        cursor = conn.execute(sql)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def build(settings: Settings, capsys) -> str:
    code = main(
        [
            "build",
            "--landing",
            str(settings.landing_dir),
            "--warehouse",
            str(settings.warehouse_dir),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    return printed


def key_points_of(page_text: str) -> str:
    return page_text[page_text.index('<ul id="key-points">') :].split("</ul>")[0]


@pytest.mark.parametrize(
    "now",
    [
        "2031-03-15T06:00:00Z",  # years after the machine's date
        "2019-08-20T23:30:00+02:00",  # years before it (21:30 UTC on 20 August)
    ],
)
def test_sample_build_and_report_far_from_today_give_a_full_last_month(
    now, dbt_manifest, settings, monkeypatch, capsys
):
    monkeypatch.setenv("CES_NOW", now)
    today = parse_clock(now).date()
    yesterday = today - timedelta(days=1)
    month = first_of_previous_month(today)

    assert main(["sample", "--out", str(settings.landing_dir), "--responses", "4000",
                 "--days", "70"]) == 0  # fmt: skip
    assert f"to {yesterday} in" in capsys.readouterr().out
    printed = build(settings, capsys)

    info = serving_rows(settings, "select * from marts.rpt_build_info")[0]
    assert info["as_of_date"] == today
    assert info["clock_at"] == parse_clock(now) and info["is_clock_pinned"]
    assert info["newest_answer_at"].date() == yesterday  # the sample ends yesterday
    assert info["days_since_newest_answer"] == 1
    assert info["latest_complete_month"] == info["hotspot_month"] == month
    assert info["latest_complete_month_is_fully_covered"]
    assert not info["is_hotspot_month_fallback"]

    hotspots = serving_rows(settings, "select * from marts.rpt_effort_hotspots")
    assert len(hotspots) == 7
    assert {h["period_start"] for h in hotspots} == {month}
    assert min(h["n_responses"] for h in hotspots) >= 30
    assert all(h["is_period_fully_covered"] and not h["is_fallback_month"] for h in hotspots)

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        # nothing is "in the future" of the clock, and nothing was dropped
        assert conn.execute(
            "select count(*) from intermediate.int_answers_scored "
            "where reject_reason = 'future_timestamp'"
        ).fetchone() == (0,)
        landed, accepted, rejected = conn.execute(
            "select sum(rows_landed), sum(rows_accepted), sum(rows_rejected) "
            "from audit.load_manifest"
        ).fetchone()
    assert landed == accepted + rejected > 4000

    assert f"effort hotspots, {month:%B %Y}" in printed
    assert f"as of {today} (clock pinned by CES_NOW)." in printed
    assert "partial" not in printed

    page = (settings.warehouse_dir / "report" / "index.html").read_text(encoding="utf-8")
    assert f"Where customers struggle: {month:%B %Y}</h2>" in page
    assert "is partial" not in page
    assert "Hardest: <strong>" in key_points_of(page)


def test_a_sample_that_stops_mid_month_is_reported_as_partial(
    dbt_manifest, settings, monkeypatch, capsys
):
    """The clock says 2 December; the data stop on 15 November. November is the latest
    complete month, but half of it has no data: the summary, the report and the hotspots
    say so and show October, the latest month the answers fully cover."""
    monkeypatch.setenv("CES_NOW", "2026-12-02T06:00:00Z")
    assert main(["sample", "--out", str(settings.landing_dir), "--responses", "4000",
                 "--days", "70", "--end", "2026-11-15"]) == 0  # fmt: skip
    printed = build(settings, capsys)
    note = (
        "November 2026 is partial: data ends 2026-11-15, answers on 15 of its 30 days. "
        "The hotspots are for October 2026, the latest month the answers fully cover."
    )
    assert f"  {note}\n" in printed
    assert "effort hotspots, October 2026" in printed
    assert "17 days before the as-of date); as of 2026-12-02" in printed

    info = serving_rows(settings, "select * from marts.rpt_build_info")[0]
    assert (info["latest_complete_month"], info["hotspot_month"]) == (
        date(2026, 11, 1),
        date(2026, 10, 1),
    )
    assert (
        info["latest_complete_month_answer_days"],
        info["latest_complete_month_days"],
        info["latest_complete_month_coverage_gap"],
        info["is_hotspot_month_fallback"],
    ) == (15, 30, "data_ends_earlier", True)
    november = serving_rows(
        settings,
        "select * from marts.rpt_period_coverage "
        "where period_grain = 'month' and period_start = date '2026-11-01'",
    )[0]
    assert (november["is_complete"], november["is_fully_covered"]) == (True, False)
    hotspots = serving_rows(settings, "select * from marts.rpt_effort_hotspots")
    assert {(h["period_start"], h["latest_complete_month"], h["is_fallback_month"])
            for h in hotspots} == {(date(2026, 10, 1), date(2026, 11, 1), True)}  # fmt: skip

    page_path = settings.warehouse_dir / "report" / "index.html"
    page = page_path.read_text(encoding="utf-8")
    assert f'<p class="note" id="coverage-note"><strong>{note}</strong></p>' in page
    assert "Where customers struggle: October 2026</h2>" in page
    assert "the latest month the answers fully cover." in page
    # the trend draws November apart, as partial, instead of as a fall
    found = re.search(r"vegaEmbed\('#trend', (\{.*\}), \{renderer", page)
    trend = json.loads(found.group(1))
    (rows,) = trend["datasets"].values()
    partial = {r["period_start"] for r in rows if r["is_partial"]}
    assert "2026-11-01" in partial and "2026-10-01" not in partial
    assert {r["coverage"] for r in rows if r["period_start"] == "2026-11-01"} == {
        "partial: answers on 15 of 30 days"
    }


def test_a_clock_far_before_the_data_rejects_it_as_future_and_later_accepts_it(
    dbt_manifest, settings, monkeypatch, capsys
):
    """A fixed sample (ending 31 October 2026) built with the clock years before it: every
    answer is in the future, rejected with that reason and counted, and the build still
    succeeds with nothing to report. With the clock years after it, the next build takes
    the same answers in (they are re-checked every run) and names the feed stale."""
    assert main(["sample", "--out", str(settings.landing_dir), "--responses", "1500",
                 "--days", "70", "--end", "2026-10-31"]) == 0  # fmt: skip
    monkeypatch.setenv("CES_NOW", "2020-01-15T06:00:00Z")
    printed = build(settings, capsys)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        staged, future, facts = conn.execute(
            "select count(*), count(*) filter (where reject_reason = 'future_timestamp'), "
            "(select count(*) from marts.fct_ces_responses) "
            "from intermediate.int_answers_scored"
        ).fetchone()
    assert facts == 0 and future > 0.95 * staged  # the rest: rejected for an earlier reason
    assert "future_timestamp" in printed
    assert "No accepted CES answers yet; as of 2020-01-15" in printed
    assert "effort hotspots" not in printed
    page = (settings.warehouse_dir / "report" / "index.html").read_text(encoding="utf-8")
    assert "No month is complete yet" in page

    monkeypatch.setenv("CES_NOW", "2028-02-10T06:00:00Z")
    printed = build(settings, capsys)
    info = serving_rows(settings, "select * from marts.rpt_build_info")[0]
    assert info["n_ces_answers"] > 0.6 * staged
    assert (info["latest_complete_month"], info["hotspot_month"]) == (
        date(2028, 1, 1),
        date(2026, 10, 1),
    )
    assert info["latest_complete_month_coverage_gap"] == "no_answers"
    assert "January 2028 is partial: no answers; data ends 2026-10-31. " in printed
    assert "effort hotspots, October 2026" in printed
    assert "(the newest, 467 days before the as-of date)" in printed


def test_coverage_sentences_say_why_a_month_is_left_out():
    info = {
        "as_of_date": date(2026, 12, 2),
        "is_clock_pinned": False,
        "n_ces_answers": 2,
        "oldest_answer_at": datetime(2026, 9, 12, 10),
        "newest_answer_at": datetime(2026, 11, 1, 0, 40),
        "days_since_newest_answer": 31,
        "latest_complete_month": date(2026, 11, 1),
        "latest_complete_month_days": 30,
        "latest_complete_month_answer_days": 1,
        "latest_complete_month_is_fully_covered": False,
        "latest_complete_month_coverage_gap": "data_ends_earlier",
        "hotspot_month": date(2026, 10, 1),
        "hotspot_month_is_fully_covered": True,
        "is_hotspot_month_fallback": True,
    }
    assert coverage.coverage_sentence(info) == (
        "November 2026 is partial: data ends 2026-11-01, answers on 1 of its 30 days. "
        "The hotspots are for October 2026, the latest month the answers fully cover."
    )
    assert coverage.freshness_sentence(info) == (
        "2 accepted CES answers from 2026-09-12 to 2026-11-01 00:40 UTC (the newest, 31 days "
        "before the as-of date); as of 2026-12-02."
    )
    few = {**info, "latest_complete_month_coverage_gap": "few_answer_days",
           "hotspot_month_is_fully_covered": False}  # fmt: skip
    assert coverage.coverage_sentence(few) == (
        "November 2026 is partial: answers on 1 of its 30 days only. No complete month is "
        "fully covered: the hotspots are for October 2026, itself partial; read them with care."
    )
    alone = {**info, "hotspot_month": date(2026, 11, 1), "is_hotspot_month_fallback": False,
             "hotspot_month_is_fully_covered": False}  # fmt: skip
    assert coverage.coverage_sentence(alone).endswith(
        "No complete month is fully covered yet: read the hotspots with care."
    )
    assert (
        coverage.coverage_sentence({**info, "latest_complete_month_is_fully_covered": True}) is None
    )


def hotspot(name: str, n: int, mean: float, rank: int) -> dict:
    return {
        "touchpoint_name": name,
        "n_responses": n,
        "ces_mean_7pt": mean,
        "effort_rank": rank,
        "pct_difficult": 0.5,
        "comparison": "harder than the rest" if rank == 1 else "not significantly different",
        "is_significant": rank == 1,
        "is_low_sample": n < 30,
        "ces_mean_7pt_change": -0.5 if rank == 1 else 0.1,
    }


def report_data(hotspots: list[dict]) -> report.ReportData:
    return report.ReportData(
        hotspots=hotspots, months=[], drivers=[], quality=[], correlation=None,
        correlation_points=0, answers=100, first_date=None, last_date=None,
        latest_month=date(2026, 10, 1),
    )  # fmt: skip


def test_the_key_points_never_call_a_low_sample_touchpoint_hardest_or_easiest():
    points = report.key_points(
        report_data(
            [
                hotspot("Returns and refunds", 2, 3.0, 1),  # the two answers
                hotspot("Delivery", 140, 4.1, 2),
                hotspot("Site search", 5, 4.5, 3),
                hotspot("Checkout and payment", 129, 5.6, 4),
            ]
        )
    )
    assert points[0].startswith("Hardest: <strong>Delivery</strong>, mean ease 4.10")
    assert points[1] == "Easiest: <strong>Checkout and payment</strong>, mean ease 5.60 of 7."
    assert "Returns" not in " ".join(points[:3])
    assert (
        "Not ranked here, fewer than 30 answers each: Returns and refunds (n=2), "
        "Site search (n=5)." in points
    )
    only_small = report.key_points(report_data([hotspot("Returns and refunds", 2, 3.0, 1)]))
    assert only_small == [
        "Every touchpoint has fewer than 30 answers this month: none is called hardest or easiest."
    ]
