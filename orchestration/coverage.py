"""What the marts cover and as of when, in words: the build summary and the CES report say
the same sentences, from `marts.rpt_build_info` (one row per build).

Every fact is a mart value; this module only phrases it. A headline never rests on a
sliver of a month: when the latest complete month is partial, the sentence says why and
which month the hotspots show instead.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

BUILD_INFO_QUERY = """
    select as_of_date, clock_at, is_clock_pinned, n_ces_answers, oldest_answer_at,
        newest_answer_at, newest_answer_loaded_at, days_since_newest_answer,
        latest_complete_month, latest_complete_month_days, latest_complete_month_answer_days,
        latest_complete_month_is_fully_covered, latest_complete_month_coverage_gap,
        hotspot_month, hotspot_month_is_fully_covered, is_hotspot_month_fallback
    from marts.rpt_build_info
"""

MONTH_COVERAGE_QUERY = """
    select period_start, days_in_period, answer_days, is_complete, is_fully_covered,
        coverage_gap
    from marts.rpt_period_coverage
    where period_grain = 'month'
    order by period_start
"""


def month_name(month: date) -> str:
    return f"{month:%B %Y}"


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def freshness_sentence(info: dict[str, Any]) -> str:
    """Where the data starts and ends, and the as-of date (a stale feed shows here)."""
    if not info["n_ces_answers"]:
        return f"No accepted CES answers yet; as of {info['as_of_date']}."
    newest: datetime = info["newest_answer_at"]
    age = info["days_since_newest_answer"]
    stale = f", {_days(age)} before the as-of date" if age and age > 1 else ""
    return (
        f"{info['n_ces_answers']:,} accepted CES answers from {info['oldest_answer_at']:%Y-%m-%d} "
        f"to {newest:%Y-%m-%d %H:%M} UTC (the newest{stale}); as of {info['as_of_date']}"
        + (" (clock pinned by CES_NOW)" if info["is_clock_pinned"] else "")
        + "."
    )


def gap_phrase(gap: str | None, answer_days: int, days: int, info: dict[str, Any]) -> str:
    """Why a month is not fully covered, as a clause (gap: rpt_period_coverage.coverage_gap
    or no_answers)."""
    newest, oldest = info["newest_answer_at"], info["oldest_answer_at"]
    share = f"answers on {answer_days} of its {days} days"
    if gap == "no_answers":
        return "no answers" + (f"; data ends {newest:%Y-%m-%d}" if newest else "")
    if gap == "data_ends_earlier":
        return f"data ends {newest:%Y-%m-%d}, {share}"
    if gap == "data_starts_later":
        return f"data starts {oldest:%Y-%m-%d}, {share}"
    if gap == "few_answer_days":
        return f"{share} only"
    return "in progress"


def coverage_sentence(info: dict[str, Any]) -> str | None:
    """Which month the hotspots are for and why, when it is not simply the latest complete
    month, fully covered; None when it is."""
    if info["latest_complete_month_is_fully_covered"]:
        return None
    latest, hotspot = info["latest_complete_month"], info["hotspot_month"]
    if hotspot is None:
        return "No complete month has answers yet."
    partial = gap_phrase(
        info["latest_complete_month_coverage_gap"],
        info["latest_complete_month_answer_days"],
        info["latest_complete_month_days"],
        info,
    )
    said = f"{month_name(latest)} is partial: {partial}."
    if not info["is_hotspot_month_fallback"]:
        return f"{said} No complete month is fully covered yet: read the hotspots with care."
    if info["hotspot_month_is_fully_covered"]:
        return (
            f"{said} The hotspots are for {month_name(hotspot)}, the latest month the answers "
            "fully cover."
        )
    return (
        f"{said} No complete month is fully covered: the hotspots are for "
        f"{month_name(hotspot)}, itself partial; read them with care."
    )
