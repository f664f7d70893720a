"""The insight marts of issue 20 against independent computations: scipy for every test,
interval and slope, pandas and Python's own regular expressions for segments, repeat
contacts and comment themes, on one build of 220 days of sample answers plus a day of
hand-written ones (a touchpoint whose last day collapses, comments in two languages)."""

from __future__ import annotations

import csv
import json
import math
import re
import unicodedata
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from orchestration.settings import PROJECT_DIR, Settings

pytestmark = pytest.mark.slow

HEADER = (
    "response_id,survey_id,customer_id,touchpoint,channel,interaction_id,"
    "responded_at,answer,comment,language\n"
)
# The sample ends on 31 October 2026 (the day before the suite's pinned clock). On that
# day returns collapses: 15 answers of 1 on the 1-7 agree scale, most with a comment.
COLLAPSE = [
    # id, answer, comment, language
    ("X01", "1", "Waited forever for my refund, nobody called back", "en"),
    ("X02", "1", "  RÉFUND   still not there?!", "en"),
    ("X03", "1", "Ik moest  LANG WACHTEN op de terugbetaling", "nl"),
    ("X04", "1", "Log-in kept failing; had to start over", "en"),
    ("X05", "1", "The courier lost the parcel", "en"),
    ("X06", "1", "", "en"),
    ("X07", "1", "Klantenservice was niet bereikbaar", "nl"),
    ("X08", "1", "Refunded in the end, but it took weeks", "en"),
    ("X09", "1", "", "en"),
    ("X10", "1", "Nothing matches here", "en"),
    ("X11", "1", "Transferred three times", "en"),
    ("X12", "1", "", "en"),
    ("X13", "1", "Payment failed twice", "en"),
    ("X14", "1", "Geld terug? Nee.", "nl"),
    ("X15", "1", "Zeer slechte ervaring", "nl"),
]


def write_collapse(landing: Path) -> None:
    rows = [
        f"{rid},ces2_agree_7,CUST-{rid},returns,web,INT-{rid},"
        f'2026-10-31T{8 + i // 4:02d}:{(i % 4) * 15:02d}:00Z,{answer},"{comment}",{language}\n'
        for i, (rid, answer, comment, language) in enumerate(COLLAPSE)
    ]
    (landing / "survey_responses" / "collapse.csv").write_text(HEADER + "".join(rows))


@pytest.fixture(scope="module")
def insights(tmp_path_factory, dbt_manifest):
    from orchestration.build import run_build
    from orchestration.sample import generate_sample

    root = tmp_path_factory.mktemp("insights")
    generate_sample(root / "landing", responses=4000, days=220, seed=5)
    write_collapse(root / "landing")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("CES_LANDING_DIR", "CES_WAREHOUSE_DIR", "CES_DBT_TARGET"):
            patch.setenv(name, "placeholder")
            patch.delenv(name)
        settings = Settings.from_env(landing_dir=root / "landing", warehouse_dir=root / "wh")
        outcome = run_build(settings)
    assert outcome.exit_code == 0, outcome.errors + outcome.checks_failed
    conn = duckdb.connect(str(root / "wh" / "ces_marts.duckdb"), read_only=True)
    yield SimpleNamespace(conn=conn, outcome=outcome, warehouse=root / "wh")
    conn.close()


def frame(conn, sql: str) -> pd.DataFrame:
    """A query's rows, dates as pandas timestamps whichever way DuckDB hands them over."""
    df = conn.execute(sql).df()
    for column in df.columns:
        first = df[column].dropna()
        if len(first) and isinstance(first.iloc[0], date):
            df[column] = pd.to_datetime(df[column])
    return df


def answers(conn) -> pd.DataFrame:
    df = frame(
        conn,
        "select r.response_id, r.touchpoint_id, r.responded_at, r.response_date, r.ease_7pt, "
        "r.effort_bucket, r.channel, r.language, r.ticket_id, r.comment, t.journey_stage "
        "from marts.fct_ces_responses as r "
        "left join marts.dim_touchpoint as t using (touchpoint_id)",
    )
    day = pd.to_datetime(df["response_date"])
    df["day"] = day
    df["week"] = day - pd.to_timedelta(day.dt.weekday, unit="D")
    df["month"] = day.dt.to_period("M").dt.start_time
    df["quarter"] = day.dt.to_period("Q").dt.start_time
    return df


def welch(a, b):
    """scipy's Welch test, with our rule: untested below two answers or without variance."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2 or a.var(ddof=1) == 0 or b.var(ddof=1) == 0:
        return None
    result = stats.ttest_ind(a, b, equal_var=False)
    return float(result.statistic), float(result.df), float(result.pvalue)


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's score interval, from the formula (E. B. Wilson 1927), at the z = 1.96 of
    docs/metrics.md."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def hedges_g(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n1, n2 = len(a), len(b)
    pooled = (
        (n1 - 1) * (a.var(ddof=1) if n1 > 1 else 0) + (n2 - 1) * (b.var(ddof=1) if n2 > 1 else 0)
    ) / (n1 + n2 - 2)
    return (a.mean() - b.mean()) / math.sqrt(pooled) * (1 - 3 / (4 * (n1 + n2) - 9))


def holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjustment, written from the definition."""
    ordered = sorted(pvalues.items(), key=lambda kv: (kv[1], kv[0]))
    m, running, adjusted = len(ordered), 0.0, {}
    for i, (key, p) in enumerate(ordered):
        running = max(running, min(1.0, (m - i) * p))
        adjusted[key] = running
    return adjusted


# The fewest degrees of freedom with a p-value: 3, less the rounding of a df that is 3 in
# exact arithmetic (macros/statistics.sql, t_min_df).
MIN_DF = 3 - 1e-9


def assert_p(ours, exact, df):
    """Our p-value (Hill's approximation) against scipy's exact one: within 3e-5 at
    3 degrees of freedom and 1e-7 from 20 on (docs/metrics.md); null below 3."""
    if df < MIN_DF:
        assert ours is None or math.isnan(ours)
        return
    assert abs(ours - exact) <= (1e-7 if df >= 20 else 3e-5), (ours, exact, df)


def test_each_period_is_tested_against_the_previous_one_as_scipy_does(insights):
    df = answers(insights.conn)
    periods = frame(
        insights.conn,
        "select touchpoint_id, period_grain, period_start, previous_period_start, "
        "change_welch_t, change_welch_df, change_p_value, is_change_significant, "
        "change_hedges_g from marts.fct_ces_touchpoint_period",
    )
    groups = {
        (grain, tp, pd.Timestamp(start)): g["ease_7pt"].to_numpy()
        for grain in ("day", "week", "month", "quarter")
        for (tp, start), g in df.groupby(["touchpoint_id", grain])
    }
    tested = significant = 0
    for row in periods.itertuples():
        current = groups[(row.period_grain, row.touchpoint_id, pd.Timestamp(row.period_start))]
        previous = groups.get(
            (row.period_grain, row.touchpoint_id, pd.Timestamp(row.previous_period_start))
        )
        expected = None if previous is None else welch(current, previous)
        if expected is None:
            assert pd.isna(row.change_welch_t) and not row.is_change_significant
            continue
        t, dof, p = expected
        assert row.change_welch_t == pytest.approx(t, rel=1e-9)
        assert row.change_welch_df == pytest.approx(dof, rel=1e-9)
        assert_p(None if pd.isna(row.change_p_value) else row.change_p_value, p, dof)
        if dof >= MIN_DF:
            assert row.is_change_significant == (p < 0.05) or abs(p - 0.05) < 1e-4
        assert row.change_hedges_g == pytest.approx(hedges_g(current, previous), rel=1e-9)
        tested += 1
        significant += bool(row.is_change_significant)
    assert tested > 500 and 0 < significant < tested


def test_hotspots_are_one_vs_rest_welch_tests_with_holms_correction(insights):
    df = answers(insights.conn)
    hotspots = frame(insights.conn, "select * from marts.rpt_effort_hotspots")
    month = pd.Timestamp(hotspots["period_start"].iloc[0])
    assert month == pd.Timestamp("2026-10-01")
    in_month = df[df["month"] == month]
    raw = {}
    for tp in hotspots["touchpoint_id"]:
        mine = in_month[in_month["touchpoint_id"] == tp]["ease_7pt"]
        rest = in_month[in_month["touchpoint_id"] != tp]["ease_7pt"]
        raw[tp] = welch(mine, rest)
    adjusted = holm({tp: r[2] for tp, r in raw.items() if r is not None and r[1] >= MIN_DF})
    for row in hotspots.itertuples():
        t, dof, p = raw[row.touchpoint_id]
        assert row.welch_t == pytest.approx(t, rel=1e-9)
        assert_p(row.welch_p_value, p, dof)
        assert row.holm_p_value == pytest.approx(adjusted[row.touchpoint_id], abs=2e-4)
        assert row.is_significant_holm == (adjusted[row.touchpoint_id] < 0.05)
        expected = (
            "not significantly different"
            if adjusted[row.touchpoint_id] >= 0.05
            else "harder than the rest"
            if t < 0
            else "easier than the rest"
        )
        assert row.comparison == expected
    # the correction matters: Holm's p-value is never below the raw one
    assert (hotspots["holm_p_value"] >= hotspots["welch_p_value"] - 1e-15).all()


def test_the_trend_is_scipys_least_squares_line_with_its_interval(insights):
    months = frame(
        insights.conn,
        "select touchpoint_id, period_start, ces_index, is_low_sample "
        "from marts.fct_ces_touchpoint_period where period_grain = 'month'",
    )
    trends = frame(insights.conn, "select * from marts.rpt_effort_trends")
    assert set(trends["window_start"].astype(str)) == {"2026-05-01"}
    checked = 0
    for row in trends.itertuples():
        points = months[
            (months["touchpoint_id"] == row.touchpoint_id)
            & (months["period_start"] >= pd.Timestamp("2026-05-01"))
            & (months["period_start"] <= pd.Timestamp("2026-10-01"))
            & ~months["is_low_sample"]
        ]
        assert row.n_months_fitted == len(points)
        if len(points) < 5:
            assert row.trend == "not enough months" and pd.isna(row.slope_per_month)
            continue
        x = pd.to_datetime(points["period_start"]).dt.month - 5
        fit = stats.linregress(x, points["ces_index"])
        half = stats.t.ppf(0.975, len(points) - 2) * fit.stderr
        assert row.slope_per_month == pytest.approx(fit.slope, rel=1e-9)
        assert row.slope_ci95_low == pytest.approx(fit.slope - half, abs=0.004 * fit.stderr)
        assert row.slope_ci95_high == pytest.approx(fit.slope + half, abs=0.004 * fit.stderr)
        assert_p(row.slope_p_value, fit.pvalue, len(points) - 2)
        assert row.fitted_ces_index_at_end == pytest.approx(fit.intercept + 5 * fit.slope)
        assert row.fitted_ces_index_at_start == pytest.approx(fit.intercept)
        low, high = fit.slope - half, fit.slope + half
        expected = "improving" if low > 0 else "worsening" if high < 0 else "no clear trend"
        assert row.trend == expected
        checked += 1
    assert checked >= 5
    # the sample's delivery gets harder month by month (orchestration/sample.py)
    assert trends.set_index("touchpoint_id").loc["delivery", "trend"] == "worsening"


def test_repeat_contacts_and_channel_switches_are_counted_per_ticket(insights):
    tickets = frame(
        insights.conn,
        "select ticket_id, customer_key, channel, created_at, repeat_contact_count, "
        "is_repeat_contact, window_channel_count, is_channel_switch from marts.fct_ticket_effort",
    )
    window = pd.Timedelta(days=7)
    by_customer = {k: g for k, g in tickets.groupby("customer_key")}
    for row in tickets.itertuples():
        if pd.isna(row.customer_key) or pd.isna(row.created_at):
            assert pd.isna(row.repeat_contact_count)
            continue
        mine = by_customer[row.customer_key]
        near = mine[(mine["created_at"] - row.created_at).abs() <= window]
        others = near[near["ticket_id"] != row.ticket_id]
        assert row.repeat_contact_count == len(others), row.ticket_id
        assert row.window_channel_count == near["channel"].nunique(), row.ticket_id
        assert row.is_repeat_contact == (len(others) > 0)
        assert row.is_channel_switch == (near["channel"].nunique() > 1)
    assert 0 < tickets["is_repeat_contact"].sum() < len(tickets)
    assert 0 < tickets["is_channel_switch"].sum() < tickets["is_repeat_contact"].sum() + 1


def test_the_driver_ranking_is_welchs_difference_with_its_interval(insights):
    linked = frame(
        insights.conn,
        "select r.ease_7pt, r.ticket_reopen_count > 0 as reopened, "
        "r.ticket_transfer_count > 0 as transferred, t.is_repeat_contact as repeat_contact, "
        "t.is_channel_switch as channel_switch from marts.fct_ces_responses as r "
        "left join marts.fct_ticket_effort as t using (ticket_id) where r.ticket_id is not null",
    )
    ranking = frame(insights.conn, "select * from marts.rpt_effort_driver_ranking")
    assert set(ranking["driver"]) == {"reopened", "transferred", "repeat_contact", "channel_switch"}
    raw = {}
    for row in ranking.itertuples():
        known = linked[linked[row.driver].notna()]
        with_ = known[known[row.driver].astype(bool)]["ease_7pt"].to_numpy()
        without = known[~known[row.driver].astype(bool)]["ease_7pt"].to_numpy()
        t, dof, p = welch(with_, without)
        raw[row.driver] = p
        se = math.sqrt(with_.var(ddof=1) / len(with_) + without.var(ddof=1) / len(without))
        cost = without.mean() - with_.mean()
        half = stats.t.ppf(0.975, dof) * se
        assert (row.n_responses_with, row.n_responses_without) == (len(with_), len(without))
        assert row.ease_cost_7pt == pytest.approx(cost, rel=1e-9)
        assert row.ease_cost_ci95_low == pytest.approx(cost - half, abs=1e-6)
        assert row.ease_cost_ci95_high == pytest.approx(cost + half, abs=1e-6)
        assert row.welch_t == pytest.approx(t, rel=1e-9)
        assert_p(row.welch_p_value, p, dof)
        assert row.hedges_g == pytest.approx(hedges_g(with_, without), rel=1e-9)
    adjusted = holm(raw)
    for row in ranking.itertuples():
        assert row.holm_p_value == pytest.approx(adjusted[row.driver], abs=1e-6)
    order = ranking.sort_values("cost_rank")["driver"].tolist()
    assert order == ranking.sort_values("ease_cost_7pt", ascending=False)["driver"].tolist()
    # the sample's reopens cost the most ease, and significantly (orchestration/sample.py)
    assert (
        order[0] == "reopened"
        and ranking.set_index("driver").loc["reopened", "is_significant_holm"]
    )


def test_segments_cover_every_answer_with_the_period_tables_metrics(insights):
    df = answers(insights.conn)
    segments = frame(insights.conn, "select * from marts.fct_ces_segment_period")
    checked = 0
    for segment_type in ("channel", "journey_stage", "language"):
        key = df[segment_type].fillna("unknown")
        for grain in ("day", "week", "month", "quarter"):
            expected = df.assign(value=key).groupby(["value", grain])["ease_7pt"]
            ours = segments[
                (segments["segment_type"] == segment_type) & (segments["period_grain"] == grain)
            ].set_index(["segment_value", "period_start"])
            ours.index = pd.MultiIndex.from_arrays(
                [ours.index.get_level_values(0), pd.to_datetime(ours.index.get_level_values(1))]
            )
            assert len(ours) == expected.ngroups
            assert ours["n_responses"].sum() == len(df)
            for (value, start), values in expected:
                row = ours.loc[(value, pd.Timestamp(start))]
                assert row["n_responses"] == len(values)
                assert row["ces_mean_7pt"] == pytest.approx(values.mean(), rel=1e-12)
                if len(values) > 1:
                    assert row["ces_sd_7pt"] == pytest.approx(
                        values.std(ddof=1), rel=1e-6, abs=1e-9
                    )
                assert row["is_low_sample"] == (len(values) < 30)
                easy = int((df.loc[values.index, "effort_bucket"] == "easy").sum())
                assert row["pct_easy"] == pytest.approx(easy / len(values), rel=1e-12)
                low, high = wilson(easy, len(values))
                assert row["pct_easy_ci95_low"] == pytest.approx(low, abs=1e-6)
                assert row["pct_easy_ci95_high"] == pytest.approx(high, abs=1e-6)
                checked += 1
    assert checked > 2000
    langs = set(segments[segments["segment_type"] == "language"]["segment_value"])
    assert langs == {"en", "nl"}


def words(text: str) -> str:
    """Comment themes' normalisation, written independently: NFKD without combining
    marks, lower case, every run of other than a-z0-9 one blank."""
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " " + re.sub(r"[^a-z0-9]+", " ", text.lower()).strip() + " "


def expected_themes(df: pd.DataFrame) -> set[tuple[str, str]]:
    with (PROJECT_DIR / "seeds" / "comment_themes.csv").open(encoding="utf-8") as handle:
        registry = list(csv.DictReader(handle))
    found = set()
    for row in df[df["comment"].fillna("").str.strip() != ""].itertuples():
        text = words(row.comment)
        for theme in registry:
            if not pd.isna(row.language) and theme["language"] != row.language:
                continue
            if theme["match_type"] == "keyword":
                hit = " " + words(theme["pattern"]).strip() in text
            else:
                hit = re.search(theme["pattern"], text) is not None
            if hit:
                found.add((row.response_id, theme["theme_id"]))
    return found


def test_comment_themes_match_case_accent_and_space_insensitively(insights):
    df = answers(insights.conn)
    themes = frame(insights.conn, "select response_id, theme_id from marts.fct_comment_themes")
    ours = set(themes.itertuples(index=False, name=None))
    assert ours == expected_themes(df)
    collapse = {r for r in ours if r[0].startswith("X")}
    assert collapse == {
        ("X01", "waiting"),
        ("X01", "refund"),
        ("X01", "contact_reachability"),
        ("X02", "refund"),  # "  RÉFUND   still": accents, case and blanks
        ("X03", "waiting"),
        ("X03", "refund"),  # Dutch: "WACHTEN", "terugbetaling"
        ("X04", "login_account"),
        ("X04", "repeated_effort"),  # "Log-in", "start over"
        ("X05", "delivery"),
        ("X07", "contact_reachability"),
        ("X08", "refund"),
        ("X08", "waiting"),  # "Refunded", "took weeks"
        ("X11", "transfers"),
        ("X11", "repeated_effort"),
        ("X13", "payment"),
        ("X13", "repeated_effort"),
        ("X14", "refund"),
    }
    monthly = frame(insights.conn, "select * from marts.rpt_comment_themes")
    row = monthly[
        (monthly["theme_id"] == "refund")
        & (monthly["touchpoint_id"] == "returns")
        & (monthly["period_start"] == pd.Timestamp("2026-10-01"))
    ].iloc[0]
    commented = df[
        (df["touchpoint_id"] == "returns")
        & (df["month"] == pd.Timestamp("2026-10-01"))
        & (df["comment"].fillna("").str.strip() != "")
    ]
    refund_ids = {r for r, t in ours if t == "refund"}
    mentions = commented[commented["response_id"].isin(refund_ids)]
    assert (row["n_comments"], row["n_mentions"]) == (len(commented), len(mentions))
    assert row["share_of_comments"] == pytest.approx(len(mentions) / len(commented))
    assert row["ces_mean_7pt"] == pytest.approx(mentions["ease_7pt"].mean())
    others = commented[~commented["response_id"].isin(refund_ids)]
    assert row["other_comments_ces_mean_7pt"] == pytest.approx(others["ease_7pt"].mean())
    low, high = wilson(len(mentions), len(commented))
    assert (row["share_ci95_low"], row["share_ci95_high"]) == pytest.approx((low, high), abs=1e-6)
    difficult = commented[commented["effort_bucket"] == "difficult"]
    assert row["share_of_difficult_comments"] == pytest.approx(
        difficult["response_id"].isin(refund_ids).sum() / len(difficult)
    )


def test_the_collapsed_day_alerts_and_reaches_alerts_json_and_the_build_summary(insights):
    df = answers(insights.conn)
    alerts = frame(insights.conn, "select * from marts.rpt_effort_alerts")
    day = alerts[(alerts["touchpoint_id"] == "returns") & (alerts["period_grain"] == "day")].iloc[0]
    assert str(day["period_end"])[:10] == "2026-10-31"
    assert (
        str(day["baseline_start"])[:10] == "2026-10-03"
        and str(day["baseline_end"])[:10] == "2026-10-30"
    )
    returns = df[df["touchpoint_id"] == "returns"]
    today = returns[returns["day"] == pd.Timestamp("2026-10-31")]["ease_7pt"]
    base = returns[
        (returns["day"] >= pd.Timestamp("2026-10-03"))
        & (returns["day"] <= pd.Timestamp("2026-10-30"))
    ]["ease_7pt"]
    assert day["n_responses"] == len(today) >= 15 and day["baseline_n_responses"] == len(base)
    result = welch(today, base)
    if result is not None:
        assert day["welch_t"] == pytest.approx(result[0], rel=1e-9)
    assert day["ces_mean_7pt"] == pytest.approx(today.mean()) and day["ces_mean_7pt"] < 3.0
    assert day["is_below_threshold"] and day["is_alert"]
    assert "below the threshold" in day["alert_reason"]
    # the day alerts are Holm-corrected across the day's touchpoints
    tested = alerts[(alerts["period_grain"] == "day") & alerts["welch_p_value"].notna()]
    adjusted = holm(dict(zip(tested["touchpoint_id"], tested["welch_p_value"], strict=True)))
    for row in tested.itertuples():
        assert row.holm_p_value == pytest.approx(adjusted[row.touchpoint_id], abs=1e-12)
    document = json.loads((insights.warehouse / "alerts.json").read_text())
    flagged = alerts[alerts["is_alert"]]
    assert document["n_alerts"] == len(flagged) == len(document["alerts"])
    assert {(a["touchpoint_id"], a["period_grain"]) for a in document["alerts"]} == set(
        zip(flagged["touchpoint_id"], flagged["period_grain"], strict=True)
    )
    assert document["as_of_date"] == "2026-11-01"
    warned = [w for w in insights.outcome.checks_warned if "effort_alerts" in w]
    assert len(warned) == 1 and "returns (day 2026-10-31)" in warned[0]
    # and the report opens with them
    page = (insights.warehouse / "report" / "index.html").read_text(encoding="utf-8")
    listed = page[page.index('<ul id="alerts">') :].split("</ul>")[0]
    assert listed.count("<li>") == len(flagged)
    assert "Returns" in page[page.index('<ul id="key-points">') :].split("</ul>")[0]


def test_the_followup_queue_lists_recent_very_difficult_answers_without_contact_data(insights):
    df = answers(insights.conn)
    queue = frame(insights.conn, "select * from marts.rpt_followup_queue order by queue_rank")
    has_comment = df["comment"].fillna("").str.strip() != ""
    expected = df[
        (df["ease_7pt"] <= 2)
        & (df["day"] > pd.Timestamp("2026-10-18"))
        & (df["day"] <= pd.Timestamp("2026-11-01"))
        & (has_comment | df["ticket_id"].notna())
    ].sort_values(["responded_at", "response_id"], ascending=[False, True])
    assert queue["response_id"].tolist() == expected["response_id"].tolist()
    assert queue["queue_rank"].tolist() == list(range(1, len(queue) + 1))
    # the collapse's answers with a comment are there; X06 / X09 / X12 (no comment, no
    # ticket) are not
    ids = set(queue["response_id"])
    assert {"X01", "X15"} <= ids and not {"X06", "X09", "X12"} & ids
    assert not {"customer_id", "email", "phone"} & set(queue.columns)
    assert not queue.astype(str).apply(lambda c: c.str.contains("@")).any().any()
