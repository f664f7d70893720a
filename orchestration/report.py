"""The CES report: one self-contained HTML page for people who do not read SQL.

`warehouse/report/index.html` is rendered after every successful publish (the `ces_report`
asset). Every number on it is read from what BI users read (the serving copy on DuckDB,
the marts schema on PostgreSQL) by plain selects of the marts; Python formats, it never
computes a metric. The one figure that is not a mart column, the correlation across
touchpoint-months in the CES vs CSAT chart, is computed in SQL over the mart's rows,
each month weighted by its CES answers. Each touchpoint keeps one colour on every chart
and every build: the registry's `report_color`, else one derived from its id.

Charts are Vega-Lite specs made with altair; the Vega, Vega-Lite and vega-embed
JavaScript is inlined once (vl-convert's bundle), so the page opens offline from a file.
The page records its own state for the browser check (`check_in_browser`): the
`data-charts-rendered` attribute of <body> counts the charts drawn, and
`#report-errors` lists any script error.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from orchestration import coverage
from orchestration.checks.alerts import ALERTS_QUERY, alert_line
from orchestration.ingest.sinks import Sink
from orchestration.settings import PROJECT_DIR

BUNDLE_DIR = PROJECT_DIR / "target" / "report_bundle"
_bundle_lock = threading.Lock()
_bundle: str | None = None

SCREENSHOT = "report.png"

# What the page shows, each read with one portable select (DuckDB and PostgreSQL).
QUERIES = {
    "hotspots": """
        select period_start, effort_rank, touchpoint_id, touchpoint_name, n_responses,
            ces_mean_7pt, ces_index, pct_difficult, net_easy_score, ces_mean_7pt_change,
            ces_mean_7pt_change_p_value, is_change_significant, others_ces_mean_7pt,
            mean_difference_7pt, welch_t, welch_p_value, is_significant, holm_p_value,
            is_significant_holm, comparison, is_low_sample
        from marts.rpt_effort_hotspots
        order by effort_rank
    """,
    "months": """
        select p.touchpoint_id, t.touchpoint_name, p.period_start, p.n_responses,
            p.ces_index, p.ces_index_ci95_low, p.ces_index_ci95_high, p.ces_mean_7pt,
            p.pct_easy, p.pct_neutral, p.pct_difficult, p.pct_easy_ci95_low,
            p.pct_easy_ci95_high, p.net_easy_score, p.is_low_sample, p.n_csat_responses,
            p.csat_mean_5pt, p.csat_pct_satisfied, p.n_linked_pairs, p.ces_csat_corr
        from marts.fct_ces_touchpoint_period as p
        inner join marts.dim_touchpoint as t on p.touchpoint_id = t.touchpoint_id
        where p.period_grain = 'month'
        order by p.period_start, t.touchpoint_name
    """,
    # Pearson's r of CES index and CSAT % satisfied over the touchpoint-months, each
    # weighted by its CES answers: a month of 1 answer must not count as much as one of
    # 1,000 (sum w(x - mx)(y - my) / sqrt(sum w(x - mx)^2 * sum w(y - my)^2)).
    "ces_csat_corr": """
        with points as (
            select n_responses * 1.0 as w, ces_index as x, csat_pct_satisfied as y
            from marts.fct_ces_touchpoint_period
            where period_grain = 'month' and period_start <= ?
                and csat_pct_satisfied is not null and ces_index is not null
        ),
        means as (
            select sum(w * x) / sum(w) as mx, sum(w * y) / sum(w) as my from points
        )
        select
            sum(w * (x - mx) * (y - my))
                / nullif(sqrt(sum(w * (x - mx) * (x - mx)) * sum(w * (y - my) * (y - my))), 0),
            count(*)
        from points cross join means
    """,
    "touchpoints": """
        select touchpoint_id, touchpoint_name, report_color
        from marts.dim_touchpoint
        order by touchpoint_id
    """,
    "drivers": """
        select driver, driver_label, bucket, bucket_order, n_tickets, n_responses,
            ces_mean_7pt, ces_ci95_low, ces_ci95_high, pct_easy, pct_difficult, is_low_sample
        from marts.rpt_effort_drivers
        order by driver, bucket_order
    """,
    "trends": """
        select touchpoint_id, touchpoint_name, window_start, window_end, window_months,
            n_months_fitted,
            n_responses_fitted, slope_per_month, slope_ci95_low, slope_ci95_high,
            slope_p_value, trend
        from marts.rpt_effort_trends
        order by touchpoint_name
    """,
    "ranking": """
        select driver, driver_label, cost_rank, n_responses_with, n_responses_without,
            ces_mean_7pt_with, ces_mean_7pt_without, ease_cost_7pt, ease_cost_ci95_low,
            ease_cost_ci95_high, holm_p_value, is_significant_holm, hedges_g, is_low_sample
        from marts.rpt_effort_driver_ranking
        order by cost_rank, driver
    """,
    "difficult_themes": """
        select theme_id, theme_label, count(*) as n_mentions, avg(ease_7pt) as ces_mean_7pt
        from marts.fct_comment_themes
        where effort_bucket = 'difficult' and response_date >= ? and response_date < ?
        group by theme_id, theme_label
        order by count(*) desc, theme_label
    """,
    "difficult_comments": """
        select count(*)
        from marts.fct_ces_responses
        where effort_bucket = 'difficult' and response_date >= ? and response_date < ?
            and comment is not null and trim(comment) <> ''
    """,
    "alerts": ALERTS_QUERY,
    "quality": """
        select stage, stream, reason, n_rows, n_rows_landed, share_of_landed
        from marts.rpt_data_quality
        order by stage, stream, n_rows desc, reason
    """,
    "totals": """
        select count(*), min(response_date), max(response_date)
        from marts.fct_ces_responses
    """,
    "build_info": coverage.BUILD_INFO_QUERY,
    "coverage": coverage.MONTH_COVERAGE_QUERY,
}


@dataclass
class CheckSummary:
    """The checks of the run that built the report, by family: passed, warned, failed."""

    families: dict[str, list[int]] = field(default_factory=dict)

    def add(self, family: str, passed: bool, warned: bool) -> None:
        counts = self.families.setdefault(family, [0, 0, 0])
        counts[0 if passed else 1 if warned else 2] += 1


@dataclass
class ReportData:
    hotspots: list[dict[str, Any]]
    months: list[dict[str, Any]]
    drivers: list[dict[str, Any]]
    quality: list[dict[str, Any]]
    correlation: float | None
    correlation_points: int
    answers: int
    first_date: date | None
    last_date: date | None
    latest_month: date | None  # the hotspot month
    build_info: dict[str, Any] | None = None  # marts.rpt_build_info
    coverage: list[dict[str, Any]] = field(default_factory=list)  # months, rpt_period_coverage
    trends: list[dict[str, Any]] = field(default_factory=list)  # marts.rpt_effort_trends
    ranking: list[dict[str, Any]] = field(default_factory=list)  # rpt_effort_driver_ranking
    alerts: list[dict[str, Any]] = field(default_factory=list)  # rpt_effort_alerts, is_alert
    # the themes of the hotspot month's difficult answers (fct_comment_themes), and how
    # many difficult answers of that month have a comment
    difficult_themes: list[dict[str, Any]] = field(default_factory=list)
    difficult_comments: int = 0
    touchpoints: list[dict[str, Any]] = field(default_factory=list)  # marts.dim_touchpoint

    @property
    def touchpoint_colors(self) -> dict[str, str]:
        """Display name -> colour of every registered touchpoint (touchpoint_color)."""
        return {
            t["touchpoint_name"]: touchpoint_color(t["touchpoint_id"], t["report_color"])
            for t in self.touchpoints
        }

    @property
    def complete_months(self) -> list[dict[str, Any]]:
        """The months up to the hotspot month (the month in progress is left out)."""
        if self.latest_month is None:
            return self.months
        return [m for m in self.months if m["period_start"] <= self.latest_month]

    @property
    def trend_months(self) -> list[dict[str, Any]]:
        """The months up to the latest complete one, each marked `is_partial` (with the
        reason in `coverage`) when the answers do not fully cover it: a chart draws those
        apart instead of as a fall or a rise."""
        last = self.build_info["latest_complete_month"] if self.build_info else self.latest_month
        shown = [m for m in self.months if last is None or m["period_start"] <= last]
        covered = {c["period_start"]: c for c in self.coverage}
        rows = []
        # before any month is complete: the months so far (each marked partial)
        for m in shown or self.months:
            c = covered.get(m["period_start"])
            partial = c is not None and not c["is_fully_covered"]
            rows.append(
                {
                    **m,
                    "is_partial": partial,
                    "coverage": (
                        f"partial: answers on {c['answer_days']} of {c['days_in_period']} days"
                        if partial
                        else "full"
                    ),
                }
            )
        return rows


def load_report_data(db: Sink) -> ReportData:
    """Everything the page shows, read from the marts (`db`: a read session)."""
    hotspots = db.records(QUERIES["hotspots"])
    months = db.records(QUERIES["months"])
    latest_month = hotspots[0]["period_start"] if hotspots else None
    correlation, points = None, 0
    if latest_month is not None:
        correlation, points = db.execute(QUERIES["ces_csat_corr"], [latest_month])[0]
    answers, first_date, last_date = db.execute(QUERIES["totals"])[0]
    build_info = db.records(QUERIES["build_info"])
    themes, commented = [], 0
    if latest_month is not None:
        month = [latest_month, _next_month(latest_month)]
        themes = db.records(QUERIES["difficult_themes"], month)
        commented = int(db.execute(QUERIES["difficult_comments"], month)[0][0])
    return ReportData(
        hotspots=hotspots,
        months=months,
        drivers=db.records(QUERIES["drivers"]),
        quality=db.records(QUERIES["quality"]),
        correlation=None if correlation is None else float(correlation),
        correlation_points=int(points),
        answers=int(answers),
        first_date=first_date,
        last_date=last_date,
        latest_month=latest_month,
        build_info=build_info[0] if build_info else None,
        coverage=db.records(QUERIES["coverage"]),
        trends=db.records(QUERIES["trends"]),
        ranking=db.records(QUERIES["ranking"]),
        alerts=db.records(QUERIES["alerts"]),
        difficult_themes=themes,
        difficult_comments=commented,
        touchpoints=db.records(QUERIES["touchpoints"]),
    )


# Colours for touchpoints the registry gives none (Tableau 20 without the greys).
FALLBACK_COLORS = (
    "#4e79a7", "#a0cbe8", "#f28e2b", "#ffbe7d", "#59a14f", "#8cd17d", "#b6992d", "#f1ce63",
    "#499894", "#86bcb6", "#e15759", "#ff9d9a", "#d37295", "#fabfd2", "#b07aa1", "#d4a6c8",
    "#9d7660", "#d7b5a6",
)  # fmt: skip


def touchpoint_color(touchpoint_id: str, registered: str | None) -> str:
    """A touchpoint's colour: the registry's `report_color`, else one picked by a hash of
    its id. Either way it depends on nothing else, so adding a touchpoint, or a month in
    which one has no answers, never changes another's colour."""
    if registered:
        return registered
    digest = hashlib.sha256(touchpoint_id.encode("utf-8")).digest()
    return FALLBACK_COLORS[int.from_bytes(digest[:4], "big") % len(FALLBACK_COLORS)]


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


# ---------------------------------------------------------------------------- charts


def _frame(rows: list[dict[str, Any]]):
    """Rows as a DataFrame for altair: dates as ISO text (read as UTC by the charts),
    decimals as floats."""
    import pandas as pd

    def plain(value):
        if isinstance(value, datetime | date):
            return value.isoformat()
        if value is not None and type(value).__name__ == "Decimal":
            return float(value)
        return value

    return pd.DataFrame([{k: plain(v) for k, v in row.items()} for row in rows])


def _trend_chart(months: list[dict[str, Any]]):
    import altair as alt

    base = alt.Chart(_frame(months)).encode(
        x=alt.X("utcyearmonth(period_start):T", title=None, axis=alt.Axis(format="%b %y")),
    )
    full = base.transform_filter("!datum.is_partial")
    band = full.mark_area(opacity=0.18, color="#4c78a8").encode(
        y=alt.Y("ces_index_ci95_low:Q", title="CES index (0-100)", scale=alt.Scale(zero=False)),
        y2="ces_index_ci95_high:Q",
    )
    line = full.mark_line(color="#4c78a8").encode(y="ces_index:Q")
    # a month the answers cover only in part: a grey square, not joined to the line
    partial = (
        base.transform_filter("datum.is_partial")
        .mark_point(size=60, shape="square", color="#888888", filled=False)
        .encode(
            y="ces_index:Q",
            tooltip=[
                alt.Tooltip("touchpoint_name:N", title="touchpoint"),
                alt.Tooltip("utcyearmonth(period_start):T", title="month", format="%B %Y"),
                alt.Tooltip("coverage:N", title="coverage"),
                alt.Tooltip("ces_index:Q", title="CES index", format=".1f"),
                alt.Tooltip("n_responses:Q", title="answers", format=","),
            ],
        )
    )
    points = full.mark_point(size=45, color="#4c78a8").encode(
        y="ces_index:Q",
        shape=alt.Shape(
            "is_low_sample:N",
            title="fewer than 30 answers",
            scale=alt.Scale(domain=[False, True], range=["circle", "triangle-down"]),
        ),
        fill=alt.Fill(
            "is_low_sample:N",
            legend=None,
            scale=alt.Scale(domain=[False, True], range=["#4c78a8", "#ffffff"]),
        ),
        tooltip=[
            alt.Tooltip("touchpoint_name:N", title="touchpoint"),
            alt.Tooltip("utcyearmonth(period_start):T", title="month", format="%B %Y"),
            alt.Tooltip("ces_index:Q", title="CES index", format=".1f"),
            alt.Tooltip("ces_index_ci95_low:Q", title="95% CI low", format=".1f"),
            alt.Tooltip("ces_index_ci95_high:Q", title="95% CI high", format=".1f"),
            alt.Tooltip("pct_easy:Q", title="% easy", format=".0%"),
            alt.Tooltip("pct_easy_ci95_low:Q", title="% easy, Wilson low", format=".0%"),
            alt.Tooltip("pct_easy_ci95_high:Q", title="% easy, Wilson high", format=".0%"),
            alt.Tooltip("n_responses:Q", title="answers", format=","),
        ],
    )
    return (
        alt.layer(band, line, points, partial)
        .properties(width=230, height=150)
        .facet(facet=alt.Facet("touchpoint_name:N", title=None), columns=4)
        .resolve_scale(y="shared")
    )


def _distribution_chart(months: list[dict[str, Any]]):
    import altair as alt

    order = {"pct_easy": 0, "pct_neutral": 1, "pct_difficult": 2}
    return (
        alt.Chart(_frame(months))
        .transform_fold(list(order), as_=["band", "share"])
        .transform_calculate(
            band_name="{pct_easy: 'easy', pct_neutral: 'neutral', pct_difficult: 'difficult'}"
            "[datum.band]",
            band_order="{pct_easy: 0, pct_neutral: 1, pct_difficult: 2}[datum.band]",
        )
        .mark_bar()
        .encode(
            y=alt.Y("touchpoint_name:N", title=None, sort="-x"),
            x=alt.X(
                "share:Q", title="share of answers", axis=alt.Axis(format="%"), stack="normalize"
            ),
            color=alt.Color(
                "band_name:N",
                title="effort",
                scale=alt.Scale(
                    domain=["easy", "neutral", "difficult"],
                    range=["#54a24b", "#bab0ac", "#e45756"],
                ),
            ),
            order=alt.Order("band_order:Q"),
            tooltip=[
                alt.Tooltip("touchpoint_name:N", title="touchpoint"),
                alt.Tooltip("band_name:N", title="effort"),
                alt.Tooltip("share:Q", format=".1%"),
                alt.Tooltip("n_responses:Q", title="answers", format=","),
            ],
        )
        .properties(width=560, height=alt.Step(26))
    )


def _scatter_chart(months: list[dict[str, Any]], colors: dict[str, str]):
    import altair as alt

    with_csat = [m for m in months if m["csat_pct_satisfied"] is not None]
    # every registered touchpoint in the scale, whether it has points or not
    shown = {m["touchpoint_name"] for m in with_csat}
    names = sorted(set(colors) | shown)
    return (
        alt.Chart(_frame(with_csat))
        .mark_circle(opacity=0.75)
        .encode(
            x=alt.X("ces_index:Q", title="CES index (0-100)", scale=alt.Scale(zero=False)),
            y=alt.Y("csat_pct_satisfied:Q", title="CSAT % satisfied", scale=alt.Scale(zero=False)),
            color=alt.Color(
                "touchpoint_name:N",
                title="touchpoint",
                scale=alt.Scale(
                    domain=names, range=[colors.get(n, touchpoint_color(n, None)) for n in names]
                ),
            ),
            size=alt.Size("n_responses:Q", title="CES answers (weight)"),
            tooltip=[
                alt.Tooltip("touchpoint_name:N", title="touchpoint"),
                alt.Tooltip("utcyearmonth(period_start):T", title="month", format="%B %Y"),
                alt.Tooltip("ces_index:Q", title="CES index", format=".1f"),
                alt.Tooltip("csat_pct_satisfied:Q", title="CSAT % satisfied", format=".1f"),
                alt.Tooltip("n_linked_pairs:Q", title="linked CES-CSAT pairs"),
                alt.Tooltip("ces_csat_corr:Q", title="answer-level r", format=".2f"),
            ],
        )
        .properties(width=560, height=320)
    )


def _drivers_chart(drivers: list[dict[str, Any]]):
    import altair as alt

    base = alt.Chart(_frame(drivers)).encode(
        x=alt.X("bucket:N", title="times", sort=["0", "1", "2", "3+"], axis=alt.Axis(labelAngle=0)),
    )
    # bars rise from 1, the scale's floor (from 0 they were drawn below the frame); the
    # scale clamps whiskers of small buckets, whose intervals can reach past 1-7
    bars = base.mark_bar(color="#72b7b2").encode(
        y=alt.Y(
            "ces_mean_7pt:Q",
            title="mean ease (1-7)",
            scale=alt.Scale(domain=[1, 7], clamp=True),
        ),
        y2=alt.datum(1),
        tooltip=[
            alt.Tooltip("driver_label:N", title="driver"),
            alt.Tooltip("bucket:N", title="times"),
            alt.Tooltip("ces_mean_7pt:Q", title="mean ease", format=".2f"),
            alt.Tooltip("ces_ci95_low:Q", title="95% CI low", format=".2f"),
            alt.Tooltip("ces_ci95_high:Q", title="95% CI high", format=".2f"),
            alt.Tooltip("pct_difficult:Q", title="% difficult", format=".0%"),
            alt.Tooltip("n_responses:Q", title="answers", format=","),
            alt.Tooltip("n_tickets:Q", title="tickets", format=","),
        ],
    )
    whiskers = base.mark_rule(color="#333333").encode(y="ces_ci95_low:Q", y2="ces_ci95_high:Q")
    return (
        alt.layer(bars, whiskers)
        .properties(width=250, height=220)
        .facet(column=alt.Column("driver_label:N", title=None))
    )


def _quality_chart(quality: list[dict[str, Any]]):
    import altair as alt

    return (
        alt.Chart(_frame(quality))
        .mark_bar()
        .encode(
            y=alt.Y("reason:N", title=None, sort="-x"),
            x=alt.X("n_rows:Q", title="records kept out"),
            color=alt.Color("stage:N", title="stage"),
            tooltip=["stage:N", "stream:N", "reason:N", alt.Tooltip("n_rows:Q", format=",")],
        )
        .properties(width=460, height=alt.Step(22))
    )


# ---------------------------------------------------------------------------- page


def _number(value, digits: int = 2) -> str:
    return "–" if value is None else f"{float(value):,.{digits}f}"


def _percent(value, digits: int = 1) -> str:
    return "–" if value is None else f"{float(value) * 100:.{digits}f} %"


def _table(headers: list[str], rows: list[list[str]], table_id: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _p_value(p) -> str:
    """A p-value as read: three decimals, '< 0.001' below, '–' when not tested."""
    if p is None:
        return "–"
    return "< 0.001" if float(p) < 0.001 else f"{float(p):.3f}"


def _signed(value) -> str:
    return "–" if value is None else f"{float(value):+.2f}"


def _interval(low, high) -> str:
    return "–" if low is None else f"{_signed(low)} to {_signed(high)}"


def _change(value, significant) -> str:
    """A change with its sign, marked * when its Welch test is significant at 5 %."""
    return _signed(value) + ("*" if value is not None and significant else "")


def hotspot_rows(data: ReportData) -> list[list[str]]:
    """The hotspot table as displayed, one list of cell texts per touchpoint."""
    return [
        [
            str(h["effort_rank"]),
            h["touchpoint_name"],
            f"{h['n_responses']:,}",
            _number(h["ces_mean_7pt"]),
            _number(h["ces_index"], 1),
            _change(h["ces_mean_7pt_change"], h["is_change_significant"]),
            _percent(h["pct_difficult"]),
            _number(h["others_ces_mean_7pt"]),
            _signed(h["welch_t"]),
            _p_value(h["welch_p_value"]),
            _p_value(h["holm_p_value"]),
            # "not tested" already says why; a tested reading on few answers is flagged
            h["comparison"]
            + (
                " (fewer than 30 answers)"
                if h["is_low_sample"] and h["welch_p_value"] is not None
                else ""
            ),
        ]
        for h in data.hotspots
    ]


def trend_rows(data: ReportData) -> list[list[str]]:
    return [
        [
            t["touchpoint_name"] or t["touchpoint_id"],
            str(t["n_months_fitted"]),
            f"{t['n_responses_fitted']:,}",
            _signed(t["slope_per_month"]),
            _interval(t["slope_ci95_low"], t["slope_ci95_high"]),
            _p_value(t["slope_p_value"]),
            t["trend"],
        ]
        for t in data.trends
    ]


def ranking_rows(data: ReportData) -> list[list[str]]:
    return [
        [
            str(d["cost_rank"]),
            d["driver_label"],
            f"{d['n_responses_with']:,} / {d['n_responses_without']:,}",
            f"{_number(d['ces_mean_7pt_with'])} / {_number(d['ces_mean_7pt_without'])}",
            _signed(d["ease_cost_7pt"]),
            _interval(d["ease_cost_ci95_low"], d["ease_cost_ci95_high"]),
            _p_value(d["holm_p_value"]),
            _number(d["hedges_g"]),
            ("yes" if d["is_significant_holm"] else "no")
            + (" (fewer than 30 answers on one side)" if d["is_low_sample"] else ""),
        ]
        for d in data.ranking
    ]


def theme_rows(data: ReportData) -> list[list[str]]:
    total = data.difficult_comments
    return [
        [
            t["theme_label"],
            f"{t['n_mentions']:,}",
            _percent(t["n_mentions"] / total) if total else "–",
            _number(t["ces_mean_7pt"]),
        ]
        for t in data.difficult_themes
    ]


def key_points(data: ReportData) -> list[str]:
    """Three or four sentences for the top of the page, each a mart value picked out (the
    hardest and easiest touchpoint, the largest fall, what reopens cost); never computed."""
    points = []
    if data.alerts:
        points.append(
            f"<strong>{len(data.alerts)} open alert{'s' if len(data.alerts) > 1 else ''}</strong>: "
            + "; ".join(
                html.escape(f"{a['touchpoint_name'] or a['touchpoint_id']} ({a['period_grain']})")
                for a in data.alerts
            )
            + " (below)."
        )
    # "hardest" and "easiest" are never said of a touchpoint with fewer than 30 answers
    ranked = [h for h in data.hotspots if not h["is_low_sample"]]
    few = [h for h in data.hotspots if h["is_low_sample"]]
    if data.hotspots and not ranked:
        points.append(
            "Every touchpoint has fewer than 30 answers this month: none is called hardest "
            "or easiest."
        )
    if ranked:
        hardest, easiest = ranked[0], ranked[-1]
        points.append(
            f"Hardest: <strong>{html.escape(hardest['touchpoint_name'])}</strong>, mean ease "
            f"{_number(hardest['ces_mean_7pt'])} of 7 with {_percent(hardest['pct_difficult'])} "
            f"of answers difficult ({hardest['comparison']})."
        )
        if len(ranked) > 1:
            points.append(
                f"Easiest: <strong>{html.escape(easiest['touchpoint_name'])}</strong>, mean ease "
                f"{_number(easiest['ces_mean_7pt'])} of 7."
            )
        changed = [h for h in ranked if h["ces_mean_7pt_change"] is not None]
        if changed:
            fell = min(changed, key=lambda h: h["ces_mean_7pt_change"])
            if fell["ces_mean_7pt_change"] < 0:
                points.append(
                    f"Largest fall since the month before: "
                    f"<strong>{html.escape(fell['touchpoint_name'])}</strong>, "
                    f"{float(fell['ces_mean_7pt_change']):+.2f} points of ease."
                )
            else:
                points.append("No touchpoint got harder than the month before.")
    if ranked and few:
        points.append(
            "Not ranked here, fewer than 30 answers each: "
            + ", ".join(
                f"{html.escape(h['touchpoint_name'])} (n={h['n_responses']:,})" for h in few
            )
            + "."
        )
    reopens = {d["bucket"]: d for d in data.drivers if d["driver"] == "reopen_count"}
    if "0" in reopens and len(reopens) > 1:
        most = reopens[max(reopens, key=lambda b: reopens[b]["bucket_order"])]
        points.append(
            f"Tickets never reopened: mean ease {_number(reopens['0']['ces_mean_7pt'])} of 7; "
            f"reopened {most['bucket']} times: {_number(most['ces_mean_7pt'])} of 7."
        )
    costliest = next((d for d in data.ranking if d["is_significant_holm"]), None)
    if costliest is not None:
        points.append(
            f"Costliest ticket driver: <strong>{html.escape(costliest['driver_label'])}</strong>, "
            f"{float(costliest['ease_cost_7pt']):.2f} points of ease (95 % interval "
            f"{float(costliest['ease_cost_ci95_low']):.2f} to "
            f"{float(costliest['ease_cost_ci95_high']):.2f})."
        )
    return points


HOTSPOT_HEADERS = [
    "rank",
    "touchpoint",
    "answers",
    "mean ease (1-7)",
    "CES index",
    "vs previous month",
    "% difficult",
    "other touchpoints",
    "Welch t",
    "p",
    "p (Holm)",
    "reading",
]

TREND_HEADERS = ["touchpoint", "months", "answers", "slope / month", "95 % interval", "p", "trend"]
RANKING_HEADERS = [
    "rank",
    "driver",
    "answers with / without",
    "mean ease (1-7) with / without",
    "ease it costs",
    "95 % interval",
    "p (Holm)",
    "Hedges' g",
    "significant",
]
THEME_HEADERS = [
    "theme",
    "difficult answers mentioning it",
    "share of their comments",
    "mean ease (1-7)",
]

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1180px; color: #222; padding: 0 1rem; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.4rem; border-bottom: 1px solid #ddd; }
.lede { color: #555; margin-top: 0; } .note { color: #666; font-size: .9rem; }
table { border-collapse: collapse; font-size: .9rem; margin: .6rem 0; }
th, td { border-bottom: 1px solid #e4e4e4; padding: .3rem .6rem; text-align: right; }
th { background: #f6f6f6; } td:nth-child(2), th:nth-child(2), td:last-child { text-align: left; }
#quality-table td:nth-child(-n+3), #quality-table th:nth-child(-n+3),
#checks-table td:first-child, #checks-table th:first-child { text-align: left; }
#report-errors { color: #b00020; white-space: pre-wrap; }
#key-points { font-size: 1.05rem; line-height: 1.6; }
.chart { margin: .6rem 0 1rem; }
"""


def vega_bundle() -> str:
    """The Vega, Vega-Lite and vega-embed JavaScript the page inlines (vl-convert's bundle,
    about 0.9 MB). Assembling it takes about 1 s, and it is the same for a given vl-convert
    and Vega-Lite version, so it is kept under target/report_bundle/ and read from there
    (issue 21: the report step's fixed cost)."""
    global _bundle
    with _bundle_lock:
        if _bundle is None:
            import vl_convert
            from altair.utils._importers import vl_version_for_vl_convert

            version = vl_version_for_vl_convert()
            cached = BUNDLE_DIR / f"vl-convert-{vl_convert.__version__}-vega-lite-{version}.js"
            try:
                _bundle = cached.read_text(encoding="utf-8")
            except OSError:
                _bundle = vl_convert.javascript_bundle(vl_version=version)
                try:
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    partial = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
                    partial.write_text(_bundle, encoding="utf-8")
                    partial.replace(cached)
                except OSError:
                    pass  # a read-only checkout: assembled again next time
        return _bundle


def prewarm() -> threading.Thread:
    """Import altair and load the bundle in a background thread: `ces build` starts it
    while dbt runs, so the report step does not wait for them."""
    thread = threading.Thread(target=vega_bundle, name="report-prewarm", daemon=True)
    thread.start()
    return thread


def _doc_link(relative: str) -> str:
    """A link to one of the project's docs: the file in this checkout (the page is opened
    from disk, so a file: link opens it)."""
    target = (PROJECT_DIR / relative).as_uri()
    return f'<a href="{html.escape(target)}">{html.escape(relative)}</a>'


def render_html(data: ReportData, checks: CheckSummary, generated_at: datetime, source: str) -> str:
    """The whole page. `source` names what the numbers were read from."""
    import altair as alt

    complete = data.complete_months
    # the effort mix: the latest complete month, or before there is one, the month so far
    mix_month = data.latest_month or max((m["period_start"] for m in data.months), default=None)
    charts = {
        "trend": _trend_chart(data.trend_months),
        "distribution": _distribution_chart(
            [m for m in data.months if m["period_start"] == mix_month]
        ),
        "scatter": _scatter_chart(complete, data.touchpoint_colors),
        "drivers": _drivers_chart(data.drivers),
        "quality-chart": _quality_chart(data.quality),
    }
    specs = {name: chart.to_dict() for name, chart in charts.items()}
    month = f"{data.latest_month:%B %Y}" if data.latest_month else "no complete month yet"
    mix_label = (
        month
        if data.latest_month or mix_month is None
        else f"{mix_month:%B %Y} so far (no complete month yet)"
    )
    info = data.build_info
    fallback = bool(info and info["is_hotspot_month_fallback"])
    scope = (
        f"Hotspots and effort mix for <strong>{month}</strong>, the latest "
        + ("month the answers fully cover." if fallback else "complete month.")
        if data.latest_month
        else "No month is complete yet: the hotspot table waits for the first one."
    )
    note = coverage.coverage_sentence(info) if info else None
    freshness = ""
    if info:
        freshness = (
            '<p class="lede" id="data-freshness">Data: '
            + html.escape(coverage.freshness_sentence(info))
            + (f" <strong>{html.escape(note)}</strong>" if note else "")
            + "</p>"
        )
    period = (
        f"{data.first_date:%d %B %Y} to {data.last_date:%d %B %Y}"
        if data.first_date
        else "no answers yet"
    )
    r = (
        f"r = {data.correlation:+.2f} across {data.correlation_points} touchpoint-months, "
        "each weighted by its CES answers, so a month of 10 answers counts a tenth of one "
        "of 100"
        if data.correlation is not None
        else "too few touchpoint-months with CSAT for a correlation"
    )
    quality_rows = [
        [
            q["stage"],
            q["stream"],
            q["reason"],
            f"{q['n_rows']:,}",
            _percent(q["share_of_landed"], 2),
        ]
        for q in data.quality
    ]
    check_rows = [[family, *map(str, counts)] for family, counts in sorted(checks.families.items())]
    alerts = (
        '<ul id="alerts">'
        + "".join(f"<li>{html.escape(alert_line(a))}</li>" for a in data.alerts)
        + "</ul>"
        if data.alerts
        else '<p class="note" id="alerts">No open alerts: no touchpoint\'s latest day or 7 days is '
        "significantly worse than its baseline or below the threshold.</p>"
    )
    themes = (
        _table(THEME_HEADERS, theme_rows(data), "difficult-themes")
        if data.difficult_themes
        else '<p class="note" id="difficult-themes">No theme in the comments of this '
        "month's difficult answers.</p>"
    )
    trend_window, trend_months = "no complete month yet", "months"
    if data.trends:
        first = data.trends[0]
        trend_window = f"{first['window_start']:%B %Y} to {first['window_end']:%B %Y}"
        trend_months = f"{first['window_months']} months"
    trend_table = _table(TREND_HEADERS, trend_rows(data), "trends")
    ranking_table = _table(RANKING_HEADERS, ranking_rows(data), "driver-ranking")
    sections = f"""
<h1>Customer Effort Score report</h1>
<p class="lede">{data.answers:,} accepted CES answers, {period}. {scope}
Generated {generated_at:%d %B %Y %H:%M} UTC from {html.escape(source)}.</p>
{freshness}
<ul id="key-points">{"".join(f"<li>{point}</li>" for point in key_points(data))}</ul>
<div id="report-errors"></div>

<h2>Open alerts</h2>
{alerts}

<h2>Where customers struggle: {month}</h2>
{f'<p class="note" id="coverage-note"><strong>{html.escape(note)}</strong></p>' if note else ""}
<p class="note">Touchpoints ranked by mean ease on 1-7 (1 = hardest first), each compared with
all other touchpoints of the month by Welch's t-test (two-sided, 5 %). "p" is the test's
p-value, "p (Holm)" the same corrected for testing every touchpoint at once; the reading
follows the corrected one. A change marked * is significant (Welch's test of this month
against the previous one, 5 %).</p>
{_table(HOTSPOT_HEADERS, hotspot_rows(data), "hotspots")}

<h2>CES index by touchpoint, month by month</h2>
<p class="note">CES index 0-100 (100 = every answer "very easy"), with its 95 % confidence
band. Hollow triangles: months with fewer than 30 answers, read with care. Grey squares:
months the answers cover only in part (the data starts or ends inside the month, or answers
fall on few of its days), not joined to the line: a slice of a month is not a change in
effort. The tooltip also gives % easy with its Wilson interval.</p>
<div class="chart" id="trend"></div>

<h2>Is effort improving? The last {trend_months}</h2>
<p class="note">A straight line through each touchpoint's monthly CES index ({trend_window};
months with at least 30 answers): its slope in index points per month with a 95 % interval.
Improving or worsening only when the whole interval is above or below zero; five such months
are needed.</p>
{trend_table}

<h2>Effort mix per touchpoint: {mix_label}</h2>
<div class="chart" id="distribution"></div>

<h2>CES and CSAT</h2>
<p class="note">One point per touchpoint and month: CES index against CSAT % satisfied.
Pearson {r} (computed in SQL over the marts).</p>
<div class="chart" id="scatter"></div>

<h2>What drives effort on support tickets</h2>
<p class="note">Mean ease (1-7) of CES answers linked to a ticket, by how often the ticket
was reopened and transferred; whiskers are 95 % confidence intervals.</p>
<div class="chart" id="drivers"></div>
<p class="note">What each driver costs: mean ease of answers whose ticket has it against those
whose ticket has not, with a 95 % interval (Welch) and the p-value corrected across the
drivers (Holm). Drivers overlap: a reopened ticket is often a repeat contact too.</p>
{ranking_table}

<h2>What difficult answers talk about: {month}</h2>
<p class="note">Themes (seeds/comment_themes.csv) in the comments of the month's difficult
answers: {data.difficult_comments:,} difficult answers have a comment; a comment can mention
several themes.</p>
{themes}

<h2>Data quality</h2>
<p class="note">Records kept out of the figures above, by stage and reason (every one is in
the audit tables with its file and line), and the checks of the build that made this page.</p>
<div class="chart" id="quality-chart"></div>
{_table(["stage", "stream", "reason", "records", "share of landed"], quality_rows, "quality-table")}
{_table(["checks", "passed", "warned", "failed"], check_rows, "checks-table")}
<p class="note">Metric definitions: {_doc_link("docs/metrics.md")}; how the data flows:
{_doc_link("docs/architecture.md")}; data quality rules: {_doc_link("docs/reliability.md")}
(in the project repository).</p>
"""
    bundle = vega_bundle()
    embeds = ",\n".join(
        f"    vegaEmbed('#{name}', {json.dumps(spec)}, {{renderer: 'svg', actions: false}})"
        for name, spec in specs.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>CES report: {month}</title>
<style>{STYLE}</style>
<script>
  window.reportErrors = [];
  function reportError(message) {{
    window.reportErrors.push(String(message));
    const box = document.getElementById('report-errors');
    if (box) box.textContent = window.reportErrors.join('\\n');
  }}
  window.addEventListener('error', (event) => reportError(event.message));
  window.addEventListener('unhandledrejection', (event) => reportError(event.reason));
</script>
<script>
// vega-embed with Vega-Lite {alt.VEGALITE_VERSION}, inlined by vl-convert
{bundle}
</script>
</head>
<body data-charts-rendered="0" data-charts-expected="{len(specs)}">
{sections}
<script>
  Promise.all([
{embeds}
  ]).then((results) => {{
    document.body.dataset.chartsRendered = String(results.length);
  }}).catch(reportError);
</script>
</body>
</html>
"""


def write_report(
    db: Sink, out_dir: Path, checks: CheckSummary, generated_at: datetime, source: str
) -> tuple[Path, ReportData]:
    """Render the page into out_dir/index.html (written atomically)."""
    data = load_report_data(db)
    out_dir.mkdir(parents=True, exist_ok=True)
    page = out_dir / "index.html"
    temporary = out_dir / ".index.html.tmp"
    temporary.write_text(render_html(data, checks, generated_at, source), encoding="utf-8")
    temporary.replace(page)
    return page, data


# ---------------------------------------------------------------------------- browser


def find_chromium() -> str | None:
    """The Chromium executable (Debian's `chromium`, installed by scripts/chromium.sh)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class BrowserCheck:
    charts_expected: int
    charts_rendered: int
    svg_count: int
    errors: list[str]
    hotspot_first_row: list[str]
    screenshot: Path | None
    headings: list[str] = field(default_factory=list)  # the sections (h2) as rendered
    table_ids: list[str] = field(default_factory=list)  # the tables as rendered, by id

    @property
    def ok(self) -> bool:
        return (
            not self.errors
            and self.charts_rendered == self.charts_expected
            and self.svg_count >= self.charts_expected
        )


def _chromium(executable: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="ces-chromium-") as profile:
        return subprocess.run(
            [
                executable,
                "--headless",
                "--no-sandbox",  # also as root, e.g. in CI containers
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=20000",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def check_in_browser(page: Path, screenshot: Path | None, executable: str) -> BrowserCheck:
    """Open the page in headless Chromium once: the DOM after the scripts ran (charts
    drawn, errors recorded by the page itself), and optionally a screenshot."""
    from html.parser import HTMLParser

    url = page.resolve().as_uri()
    shot_args = []
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.unlink(missing_ok=True)
        shot_args = [f"--screenshot={screenshot}", "--window-size=1280,4600"]
    dumped = _chromium(executable, *shot_args, "--dump-dom", url)
    if dumped.returncode != 0 or "<body" not in dumped.stdout:
        raise RuntimeError(
            f"chromium could not open {page}: exit {dumped.returncode}: {dumped.stderr[-2000:]}"
        )
    if screenshot is not None and not screenshot.exists():
        raise RuntimeError(f"chromium took no screenshot of {page}: {dumped.stderr[-2000:]}")

    class Reader(HTMLParser):
        def __init__(self):
            super().__init__()
            self.body: dict[str, str | None] = {}
            self.svg = 0
            self.errors_text = ""
            self.in_errors = False
            self.in_hotspots = False
            self.rows: list[list[str]] = []
            self.cell: list[str] | None = None
            self.headings: list[str] = []
            self.heading: list[str] | None = None
            self.tables: list[str] = []

        def handle_starttag(self, tag, attrs):
            attributes = dict(attrs)
            if tag == "table" and attributes.get("id"):
                self.tables.append(attributes["id"])
            if tag == "body":
                self.body = attributes
            elif tag == "h2":
                self.heading = []
            elif tag == "svg":
                self.svg += 1
            elif attributes.get("id") == "report-errors":
                self.in_errors = True
            elif attributes.get("id") == "hotspots":
                self.in_hotspots = True
            elif self.in_hotspots and tag == "tr":
                self.rows.append([])
            elif self.in_hotspots and tag == "td":
                self.cell = []

        def handle_endtag(self, tag):
            if tag == "h2" and self.heading is not None:
                self.headings.append(" ".join("".join(self.heading).split()))
                self.heading = None
            elif tag == "div" and self.in_errors:
                self.in_errors = False
            elif tag == "table" and self.in_hotspots:
                self.in_hotspots = False
            elif tag == "td" and self.cell is not None:
                self.rows[-1].append("".join(self.cell).strip())
                self.cell = None

        def handle_data(self, data):
            if self.in_errors:
                self.errors_text += data
            if self.cell is not None:
                self.cell.append(data)
            if self.heading is not None:
                self.heading.append(data)

    reader = Reader()
    reader.feed(dumped.stdout)
    rows = [row for row in reader.rows if row]
    return BrowserCheck(
        charts_expected=int(reader.body.get("data-charts-expected") or 0),
        charts_rendered=int(reader.body.get("data-charts-rendered") or 0),
        svg_count=reader.svg,
        errors=[line for line in reader.errors_text.splitlines() if line.strip()],
        hotspot_first_row=rows[0] if rows else [],
        screenshot=screenshot,
        headings=reader.headings,
        table_ids=reader.tables,
    )
