"""The CES report (issue 9): rendered by the build from the serving copy, opened in a real
headless Chromium, every chart drawn and every number the marts'."""

from __future__ import annotations

import html
import json
import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration import report

pytestmark = pytest.mark.slow


def serving(built: Path):
    return duckdb.connect(str(built / "ces_marts.duckdb"), read_only=True)


def test_the_report_renders_in_chromium_and_its_hotspot_row_is_the_marts(
    built_warehouse, chromium, tmp_path
):
    page = built_warehouse / "report" / "index.html"
    check = report.check_in_browser(page, tmp_path / "shot.png", chromium)
    assert check.errors == []
    assert (check.charts_expected, check.charts_rendered) == (5, 5)
    assert check.svg_count >= 5
    assert check.ok
    # every section is on the rendered page, the insight tables included
    assert [h.split(":")[0] for h in check.headings] == [
        "Open alerts",
        "Where customers struggle",
        "CES index by touchpoint, month by month",
        "Is effort improving? The last 6 months",
        "Effort mix per touchpoint",
        "CES and CSAT",
        "What drives effort on support tickets",
        "What difficult answers talk about",
        "Data quality",
    ]
    assert {"hotspots", "trends", "driver-ranking", "difficult-themes"} <= set(check.table_ids)
    with serving(built_warehouse) as conn:
        rank, name, n, mean, p, holm = conn.execute(
            "select effort_rank, touchpoint_name, n_responses, ces_mean_7pt, welch_p_value, "
            "holm_p_value from marts.rpt_effort_hotspots order by effort_rank limit 1"
        ).fetchone()
    row = check.hotspot_first_row
    page_text = page.read_text(encoding="utf-8")
    key_points = page_text[page_text.index('<ul id="key-points">') :].split("</ul>")[0]
    assert f"Hardest: <strong>{name}</strong>, mean ease {mean:.2f} of 7" in key_points
    assert row[:4] == [str(rank), name, f"{n:,}", f"{mean:.2f}"]
    assert row[9:11] == [report._p_value(p), report._p_value(holm)]
    # the build saved its own screenshot beside the page
    shot = built_warehouse / "report" / report.SCREENSHOT
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000  # a page of charts, not a blank one


def embedded_specs(page: Path) -> dict[str, dict]:
    """The Vega-Lite spec of every chart on the page, by element id."""
    specs = {}
    for line in page.read_text(encoding="utf-8").splitlines():
        found = re.match(r"\s*vegaEmbed\('#([\w-]+)', (\{.*\}), \{renderer", line)
        if found:
            specs[found.group(1)] = json.loads(found.group(2))
    return specs


def chart_rows(spec: dict) -> list[dict]:
    (rows,) = spec["datasets"].values()
    return rows


def test_the_page_is_self_contained_and_its_numbers_are_the_marts(built_warehouse):
    page = built_warehouse / "report" / "index.html"
    text = page.read_text(encoding="utf-8")
    # no external script, style sheet or image: the markup outside the inline scripts
    markup = re.sub(r"<script>.*?</script>", "", text, flags=re.S)
    assert markup.count('<div class="chart"') == 5
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|<img[^>]+src=|https?://", markup)
    specs = embedded_specs(page)
    assert set(specs) == {"trend", "distribution", "scatter", "drivers", "quality-chart"}
    with serving(built_warehouse) as conn:
        latest = conn.execute("select max(period_start) from marts.rpt_effort_hotspots").fetchone()[
            0
        ]
        months = conn.execute(
            "select touchpoint_id, period_start, ces_index, ces_index_ci95_low, is_low_sample "
            "from marts.fct_ces_touchpoint_period where period_grain = 'month' "
            "and period_start <= ? order by 1, 2",
            [latest],
        ).fetchall()
        drivers = conn.execute(
            "select driver, bucket, ces_mean_7pt, n_responses from marts.rpt_effort_drivers "
            "order by 1, 2"
        ).fetchall()
        quality = conn.execute(
            "select stage, reason, n_rows from marts.rpt_data_quality order by 1, 2"
        ).fetchall()
        points = conn.execute(
            "select n_responses, ces_index, csat_pct_satisfied "
            "from marts.fct_ces_touchpoint_period where period_grain = 'month' "
            "and period_start <= ? and csat_pct_satisfied is not null",
            [latest],
        ).fetchall()
    corr = weighted_r(points)
    # the trend: every complete month of every touchpoint, values as stored (no month in progress)
    assert len(months) >= 14
    assert sorted(
        (
            r["touchpoint_id"],
            r["period_start"],
            r["ces_index"],
            r["ces_index_ci95_low"],
            r["is_low_sample"],
        )
        for r in chart_rows(specs["trend"])
    ) == [(t, p.isoformat(), i, lo, low) for t, p, i, lo, low in months]
    assert (
        sorted(
            (r["driver"], r["bucket"], r["ces_mean_7pt"], r["n_responses"])
            for r in chart_rows(specs["drivers"])
        )
        == drivers
    )
    assert (
        sorted((r["stage"], r["reason"], r["n_rows"]) for r in chart_rows(specs["quality-chart"]))
        == quality
    )
    # the effort mix is the latest complete month's
    assert {r["period_start"] for r in chart_rows(specs["distribution"])} == {latest.isoformat()}
    assert f"Pearson r = {corr:+.2f} across" in text
    # the checks of the build that made the page
    suites = re.search(
        r"<td>Great Expectations suites</td><td>(\d)</td><td>(\d)</td><td>0</td>", text
    )
    assert int(suites.group(1)) + int(suites.group(2)) == 5  # passed + warned, none failed
    assert re.search(r"<td>dbt data tests</td><td>\d{2,}</td><td>0</td><td>0</td>", text)


def weighted_r(points: list[tuple[float, float, float]]) -> float:
    """Pearson's r of (weight, x, y) points, each weighted: numpy's weighted covariance."""
    import numpy as np

    w, x, y = (np.array(column, dtype=float) for column in zip(*points, strict=True))
    cov = np.cov(x, y, aweights=w)
    return float(cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]))


def test_the_ces_csat_correlation_weighs_each_month_by_its_answers():
    """Hand-worked: (x, y, answers) = (0, 0, 1), (1, 1, 1), (2, 0, 2). Unweighted r is 0;
    weighted: means 1.25 and 0.25, sum w dx dy = -0.25, sum w dx^2 = 2.75, sum w dy^2 =
    0.75, r = -0.25 / sqrt(2.0625) = -0.17408. Months without CSAT are left out."""
    conn = duckdb.connect()
    conn.execute("create schema marts")
    conn.execute(
        "create table marts.fct_ces_touchpoint_period as select * from (values "
        "('month', date '2026-08-01', 1, 0.0, 0.0), ('month', date '2026-09-01', 1, 1.0, 1.0), "
        "('month', date '2026-10-01', 2, 2.0, 0.0), ('month', date '2026-10-01', 900, 9.0, null), "
        "('week', date '2026-10-05', 5000, 100.0, 0.0), ('month', date '2026-11-01', 50, 5.0, 5.0)"
        ") t(period_grain, period_start, n_responses, ces_index, csat_pct_satisfied)"
    )
    r, n = conn.execute(report.QUERIES["ces_csat_corr"], [date(2026, 10, 1)]).fetchone()
    assert n == 3
    assert r == pytest.approx(-0.25 / 2.0625**0.5, rel=1e-12)
    assert r == pytest.approx(weighted_r([(1, 0, 0), (1, 1, 1), (2, 2, 0)]), rel=1e-12)


def report_data(**fields) -> report.ReportData:
    """A page's data with nothing in it but `fields`."""
    empty = {key: [] for key in ("hotspots", "months", "drivers", "quality")}
    nothing = dict.fromkeys(("correlation", "first_date", "last_date", "latest_month"))
    return report.ReportData(
        **{**empty, **nothing, "correlation_points": 0, "answers": 0, **fields}
    )


def test_a_touchpoints_colour_is_its_own_whatever_touchpoints_are_added():
    """The registry's colour, else one from the id's hash: adding a touchpoint (with or
    without a colour) changes no other touchpoint's colour in the scatter."""

    def scatter_colors(touchpoints: list[tuple[str, str, str | None]]) -> dict[str, str]:
        data = report_data(
            touchpoints=[
                {"touchpoint_id": i, "touchpoint_name": n, "report_color": c}
                for i, n, c in touchpoints
            ],
        )
        month = {"touchpoint_name": "Delivery", "csat_pct_satisfied": 80.0, "ces_index": 60.0}
        scale = report._scatter_chart([month], data.touchpoint_colors).to_dict()
        scale = scale["encoding"]["color"]["scale"]
        return dict(zip(scale["domain"], scale["range"], strict=True))

    shipped = [
        ("delivery", "Delivery", "#54a24b"),
        ("returns", "Returns and refunds", "#e45756"),
        ("web_chat", "Web chat", None),
    ]
    before = scatter_colors(shipped)
    assert before["Delivery"] == "#54a24b" and before["Returns and refunds"] == "#e45756"
    chat = before["Web chat"]
    assert chat == report.touchpoint_color("web_chat", None) and chat in report.FALLBACK_COLORS
    after = scatter_colors([("billing", "Billing", None), ("app", "App", "#000000"), *shipped])
    assert {name: after[name] for name in before} == before
    assert after["App"] == "#000000"
    # the shipped registry gives every touchpoint its own colour
    import csv

    rows = list(csv.DictReader((report.PROJECT_DIR / "seeds" / "touchpoints.csv").open()))
    colors = [r["report_color"] for r in rows]
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colors) and len(set(colors)) == len(rows)


def test_report_wording_each_reading_once_ease_of_7_and_doc_links(built_warehouse):
    """A touchpoint not tested is not also flagged "fewer than 30 answers"; a tested one
    on few answers is; every mean ease in a sentence says "of 7"; the driver bars rise
    from the scale's floor; the docs are links to files that exist."""
    low = {
        "effort_rank": 1,
        "touchpoint_name": "Site search",
        "n_responses": 2,
        "ces_mean_7pt": 2.0,
        "ces_index": 16.7,
        "ces_mean_7pt_change": None,
        "is_change_significant": False,
        "pct_difficult": 1.0,
        "others_ces_mean_7pt": 4.0,
        "welch_t": None,
        "welch_p_value": None,
        "holm_p_value": None,
        "is_low_sample": True,
        "comparison": "not tested (too few answers or no variance)",
    }
    tested = {
        **low,
        "welch_t": -3.1,
        "welch_p_value": 0.01,
        "holm_p_value": 0.02,
        "n_responses": 12,
        "comparison": "harder than the rest",
    }
    data = report_data(hotspots=[low, tested])
    readings = [row[-1] for row in report.hotspot_rows(data)]
    assert readings == [
        "not tested (too few answers or no variance)",
        "harder than the rest (fewer than 30 answers)",
    ]

    page = built_warehouse / "report" / "index.html"
    text = page.read_text(encoding="utf-8")
    points = re.search(r'<ul id="key-points">(.*?)</ul>', text, flags=re.S).group(1)
    means = re.findall(r"mean ease (\d\.\d\d)( of 7)?", points)
    assert means and all(of_7 for _, of_7 in means), means
    drivers = embedded_specs(page)["drivers"]["spec"]["layer"][0]["encoding"]
    assert drivers["y2"] == {"datum": 1}
    assert drivers["y"]["scale"] == {"domain": [1, 7], "clamp": True}
    links = re.findall(r'<a href="(file://[^"]+)">(docs/[\w.]+)</a>', text)
    assert [name for _, name in links] == [
        "docs/metrics.md",
        "docs/architecture.md",
        "docs/reliability.md",
    ]
    for target, name in links:
        assert target.endswith(name) and Path(target.removeprefix("file://")).is_file()


def table_rows(text: str, table_id: str) -> list[list[str]]:
    """The cell texts of a table of the page, row by row."""
    body = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', text, flags=re.S)
    return [
        [html.unescape(cell) for cell in re.findall(r"<td>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1))
    ]


def test_the_insight_sections_show_the_marts(built_warehouse):
    """Open alerts, the trend table, the driver ranking and the themes of difficult
    answers are the marts' rows, formatted."""
    text = (built_warehouse / "report" / "index.html").read_text(encoding="utf-8")
    with serving(built_warehouse) as conn:
        alerts = conn.execute(
            "select count(*) from marts.rpt_effort_alerts where is_alert"
        ).fetchone()[0]
        trends = conn.execute(
            "select touchpoint_name, n_months_fitted, trend from marts.rpt_effort_trends "
            "order by touchpoint_name"
        ).fetchall()
        ranking = conn.execute(
            "select cost_rank, driver_label, ease_cost_7pt, holm_p_value "
            "from marts.rpt_effort_driver_ranking order by cost_rank, driver"
        ).fetchall()
        month = conn.execute("select hotspot_month from marts.rpt_build_info").fetchone()[0]
        themes = conn.execute(
            "select theme_label, count(*) from marts.fct_comment_themes "
            "where effort_bucket = 'difficult' and date_trunc('month', response_date) = ? "
            "group by 1 order by 2 desc, 1",
            [month],
        ).fetchall()
    if alerts:
        assert text.count("<li>", text.index('<ul id="alerts">')) >= alerts
    else:
        assert '<p class="note" id="alerts">No open alerts' in text
    assert [(r[0], int(r[1]), r[6]) for r in table_rows(text, "trends")] == trends
    assert [(int(r[0]), r[1], r[4], r[6]) for r in table_rows(text, "driver-ranking")] == [
        (rank, label, f"{cost:+.2f}", report._p_value(p)) for rank, label, cost, p in ranking
    ]
    assert len(ranking) == 4
    assert [(r[0], int(r[1])) for r in table_rows(text, "difficult-themes")] == themes
    assert themes, "the sample's difficult answers have themed comments"


def test_a_chart_that_cannot_render_fails_the_browser_check(built_warehouse, chromium, tmp_path):
    """The check can fail: a chart whose element is missing is reported with the error."""
    page = tmp_path / "index.html"
    original = (built_warehouse / "report" / "index.html").read_text(encoding="utf-8")
    page.write_text(original.replace("vegaEmbed('#scatter',", "vegaEmbed('#nowhere',"), "utf-8")
    check = report.check_in_browser(page, None, chromium)
    assert not check.ok
    assert check.charts_rendered == 0
    assert any("nowhere" in error for error in check.errors), check.errors


def test_before_any_month_is_complete_the_page_says_so_and_mixes_the_month_so_far(tmp_path):
    """No hotspots yet: no month is called complete, and the effort mix shows only the
    month in progress (not every month stacked together)."""
    from datetime import date, datetime

    def month(start: date, n: int) -> dict:
        return {
            "touchpoint_id": "checkout",
            "touchpoint_name": "Checkout and payment",
            "period_start": start,
            "n_responses": n,
            **dict.fromkeys(
                ("ces_index", "ces_index_ci95_low", "ces_index_ci95_high", "ces_mean_7pt"), 50.0
            ),
            **dict.fromkeys(("pct_easy", "pct_neutral", "pct_difficult"), 1 / 3),
            **dict.fromkeys(("pct_easy_ci95_low", "pct_easy_ci95_high", "net_easy_score"), 0.0),
            "is_low_sample": True,
            **dict.fromkeys(("n_csat_responses", "csat_mean_5pt", "csat_pct_satisfied"), None),
            "n_linked_pairs": 0,
            "ces_csat_corr": None,
        }

    data = report.ReportData(
        hotspots=[],
        months=[month(date(2026, 10, 1), 3), month(date(2026, 11, 1), 5)],
        drivers=[],
        quality=[],
        correlation=None,
        correlation_points=0,
        answers=8,
        first_date=date(2026, 10, 30),
        last_date=date(2026, 11, 3),
        latest_month=None,
    )
    page = tmp_path / "index.html"
    page.write_text(report.render_html(data, report.CheckSummary(), datetime(2026, 11, 4), "x"))
    text = page.read_text()
    assert "No month is complete yet: the hotspot table waits for the first one." in text
    assert "Effort mix per touchpoint: November 2026 so far (no complete month yet)" in text
    mix = chart_rows(embedded_specs(page)["distribution"])
    assert [(r["period_start"], r["n_responses"]) for r in mix] == [("2026-11-01", 5)]
