"""`ces sample`: deterministic, realistic landing data in the generic contract.

Everything is computed in DuckDB from `range()` and a seeded hash, so 10 million answers
are written without holding rows in Python, and the same seed gives the same bytes.

The story the data tells (so the marts have something to find):
- seven touchpoints with different ease levels and trends over the period (site search and
  delivery get harder, returns and navigation get easier);
- support tickets whose reopens, transfers and slow resolution really lower the ease of the
  answers linked to them by interaction_id;
- CSAT answers that move with CES (same interaction, positively correlated);
- every scale the registry knows: CES 2.0 agreement 1-7, CES 1.0 effort 1-5 (reversed),
  an English labelled 5-point ease scale, a Dutch labelled 1-7 effort scale (reversed),
  CSAT 1-5 and CSAT good/bad;
- a small share of realistic defects: unknown survey, out-of-range answer, unknown label,
  bad timestamp, unknown touchpoint, exact re-sends, and two structurally broken lines per
  CSV file.
"""

from __future__ import annotations

import csv
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

from orchestration.ingest.contract import SURVEY_RESPONSES, TICKETS
from orchestration.settings import PROJECT_DIR, Settings
from orchestration.sql import sql_literal

# touchpoint, share of interactions, ease at start, change over the period,
# probability the interaction is a support ticket, interaction is an order
TOUCHPOINTS: tuple[tuple[str, float, float, float, float, bool], ...] = (
    ("website_navigation", 0.20, 0.70, +0.08, 0.04, False),
    ("site_search", 0.12, 0.62, -0.14, 0.02, False),
    ("checkout", 0.17, 0.80, -0.02, 0.12, True),
    ("delivery", 0.16, 0.66, -0.16, 0.45, True),
    ("returns", 0.10, 0.42, +0.14, 0.60, True),
    ("account_management", 0.07, 0.50, -0.04, 0.35, False),
    ("customer_support", 0.18, 0.58, 0.00, 1.00, False),
)

# survey_id and its share among the answers of its metric
CES_SURVEY_MIX = (
    ("ces2_agree_7", 0.45),
    ("ces1_effort_5", 0.20),
    ("ces_ease_label_5", 0.20),
    ("ces_nl_moeite_7", 0.15),
)
COMMENTS = (
    "Took three tries, but it worked in the end.",
    "Please call me back on +31 6 1234 5678, nobody did.",
    'Great, "super" quick!',
    "Mail me at jan.jansen@example.com about the refund",
    "Site kept logging me out;\nhad to start over twice",
    "Heel fijn geholpen, dank!",
    "Why do I need an account just to return something?",
    "Delivery was late again, 3rd time this month",
    "Smooth. No complaints.",
    "Chat agent transferred me twice before anyone could help",
)
BAD_TIMESTAMPS = ("31/02/2026 25:61", "yesterday", "2026-13-01T00:00:00Z")
FORMATS = ("csv", "jsonl", "parquet")
# The files follow the landing contract exactly.
RESPONSE_COLUMNS = SURVEY_RESPONSES.columns
TICKET_COLUMNS = TICKETS.columns


@dataclass(frozen=True)
class Scale:
    survey_id: str
    metric: str
    scale_min: int
    scale_max: int
    higher_is_better: bool
    labels: tuple[str, ...]  # by value, scale_min first; empty for numeric scales
    language: str


@dataclass(frozen=True)
class SampleSummary:
    responses: int
    tickets: int
    resent: int
    files: list[Path]


def read_registry(seeds_dir: Path = PROJECT_DIR / "seeds") -> dict[str, Scale]:
    """The survey registry from the dbt seeds, so sample data always matches it."""
    labels: dict[str, dict[int, str]] = {}
    with (seeds_dir / "scale_labels.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            labels.setdefault(row["label_set"], {})[int(row["value"])] = row["label"]
    scales: dict[str, Scale] = {}
    with (seeds_dir / "survey_scales.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            low, high = int(row["scale_min"]), int(row["scale_max"])
            label_set = labels.get(row["label_set"] or "", {})
            scales[row["survey_id"]] = Scale(
                survey_id=row["survey_id"],
                metric=row["metric"],
                scale_min=low,
                scale_max=high,
                higher_is_better=row["higher_is_better"].strip().lower() == "true",
                labels=tuple(label_set[v] for v in range(low, high + 1)) if label_set else (),
                language=row["language"],
            )
    return scales


def _sql_list(values) -> str:
    def one(v) -> str:
        if isinstance(v, str):
            return sql_literal(v)
        if isinstance(v, bool):
            return "true" if v else "false"
        return repr(v)

    return "[" + ", ".join(one(v) for v in values) + "]"


def _pick(u: str, weights: list[float]) -> str:
    """SQL for a 0-based category index drawn with the given weights from uniform `u`."""
    total = sum(weights)
    cases, cumulative = [], 0.0
    for index, weight in enumerate(weights[:-1]):
        cumulative += weight / total
        cases.append(f"when {u} < {cumulative!r} then {index}")
    return f"(case {' '.join(cases)} else {len(weights) - 1} end)"


def _survey_sql(scales: dict[str, Scale]) -> dict[str, str]:
    ids = list(scales)
    return {
        "ids": _sql_list(ids),
        "min": _sql_list([scales[s].scale_min for s in ids]),
        "max": _sql_list([scales[s].scale_max for s in ids]),
        "hib": _sql_list([scales[s].higher_is_better for s in ids]),
        "lang": _sql_list([scales[s].language for s in ids]),
        # labels as a list of lists (empty list for numeric scales)
        "labels": "[" + ", ".join(_sql_list(scales[s].labels) for s in ids) + "]",
    }


def generate_sample(
    out_dir: Path,
    responses: int = 200_000,
    days: int = 365,
    seed: int = 42,
    end_date: date | None = None,
    threads: int | None = None,
    id_offset: int = 0,
) -> SampleSummary:
    """Write survey_responses/ and tickets/ landing files under `out_dir`: `days` days of
    data ending on `end_date` (default: yesterday by the project's clock, CES_NOW when
    pinned), no answer after that day's end. The same end date and seed give the same bytes.

    id_offset shifts every response, ticket and order id, so a second sample (say, one more
    day) adds new answers and tickets instead of re-sending those of the first.
    """
    if responses < 1 or days < 1:
        raise ValueError("responses and days must be at least 1")
    if id_offset < 0 or id_offset + 2 * responses >= 10**9:
        raise ValueError("id_offset must keep every id below 10^9 (9-digit ticket ids)")
    if end_date is None:
        end_date = Settings.from_env().yesterday()
    scales = read_registry()
    for survey_id, _ in (*CES_SURVEY_MIX, ("csat_5", 0), ("csat_good_bad", 0)):
        if survey_id not in scales:
            raise ValueError(f"seeds/survey_scales.csv has no survey {survey_id!r}")
    out_dir = Path(out_dir)
    (out_dir / "survey_responses").mkdir(parents=True, exist_ok=True)
    (out_dir / "tickets").mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="ces-sample-") as scratch:
        # In memory (spilling to the scratch folder if needed): writing the intermediate
        # tables to a database file costs more than generating them.
        conn = duckdb.connect(config={"temp_directory": scratch, "memory_limit": "6GB"})
        try:
            if threads:
                conn.execute(f"set threads = {int(threads)}")
            conn.execute("set preserve_insertion_order = true")
            _build_tables(conn, scales, responses, days, seed, end_date, id_offset)
            files = _write_files(conn, out_dir)
            tickets = conn.execute("select count(*) from tickets").fetchone()[0]
            resent = conn.execute("select count(*) from answers where is_resent").fetchone()[0]
        finally:
            conn.close()
    return SampleSummary(responses=responses, tickets=tickets, resent=resent, files=files)


def _build_tables(
    conn: duckdb.DuckDBPyConnection,
    scales: dict[str, Scale],
    responses: int,
    days: int,
    seed: int,
    end_date: date,
    id_offset: int = 0,
) -> None:
    start = end_date - timedelta(days=days - 1)
    period_format = period_format_for(days)
    interactions = 2 * ((responses + 2) // 3) + 1
    customers = max(responses // 3, 1)
    sv = _survey_sql(scales)
    survey_index = {s: i for i, s in enumerate(scales)}
    ces_pick = _pick("u_survey", [w for _, w in CES_SURVEY_MIX])
    ces_ids = _sql_list([survey_index[s] + 1 for s, _ in CES_SURVEY_MIX])
    tp = {
        "name": _sql_list([t[0] for t in TOUCHPOINTS]),
        "base": _sql_list([t[2] for t in TOUCHPOINTS]),
        "trend": _sql_list([t[3] for t in TOUCHPOINTS]),
        "ticket": _sql_list([t[4] for t in TOUCHPOINTS]),
        "order": _sql_list([t[5] for t in TOUCHPOINTS]),
        "pick": _pick("u(k, 1)", [t[1] for t in TOUCHPOINTS]),
    }
    # One 64-bit mix per (seed, row, draw): DuckDB's hash of a single integer mixes well,
    # its combination of several arguments does not (draws would correlate).
    conn.execute(
        f"create or replace macro u(k, n) as "
        f"hash(k::bigint * 4096 + n + {int(seed)} * 1099511627776)::double "
        f"/ 18446744073709551616.0"
    )
    conn.execute(
        "create or replace macro z(k, n) as "
        "sqrt(-2 * ln(greatest(u(k, n), 1e-12))) * cos(2 * pi() * u(k, n + 1000))"
    )
    conn.execute("create or replace macro clamp01(x) as greatest(0.0, least(1.0, x))")
    span = max(days - 1, 1)
    conn.execute(
        f"""
        create table drawn as
            select
                k,
                {tp["pick"]} + 1 as tp,
                floor(u(k, 2) * {days})::int as day_offset,
                timestamp '{start.isoformat()}'
                    + to_seconds(floor(u(k, 2) * {days})::bigint * 86400
                                 + floor(u(k, 3) * 86400)::bigint) as interaction_at,
                u(k, 4) as u_ticket,
                case when u(k, 5) < 0.75 then 0 when u(k, 5) < 0.92 then 1
                     when u(k, 5) < 0.98 then 2 else 3 end as reopen_count,
                case when u(k, 6) < 0.60 then 0 when u(k, 6) < 0.85 then 1
                     when u(k, 6) < 0.95 then 2 else 3 end as transfer_count,
                {_pick("u(k, 7)", [0.25, 0.50, 0.18, 0.07])} as priority_idx,
                {_pick("u(k, 8)", [0.40, 0.30, 0.20, 0.10])} as ticket_channel_idx,
                {_pick("u(k, 8)", [0.55, 0.25, 0.12, 0.08])} as web_channel_idx,
                z(k, 9) as z_hours,
                z(k, 11) as z_ease,
                z(k, 13) as z_csat,
                u(k, 15) as u_status,
                'CUST-' || lpad(floor(u(k, 16) * {customers})::bigint::varchar, 8, '0')
                    as customer_id,
                u(k, 17) as u_survey,
                u(k, 18) as u_csat_survey,
                u(k, 19) as u_delay,
                floor(u(k, 20) * 4)::int as extra_replies
            from range({interactions}) t(k)
        """
    )
    # Draws are materialised first: DuckDB inlines CTEs, so a derived column used several
    # times would re-draw (and re-hash) every time it is referenced.
    conn.execute(
        f"""
        create table interactions as
        with shaped as (
            select
                *,
                {tp["name"]}[tp] as touchpoint,
                u_ticket < {tp["ticket"]}[tp] as is_ticket,
                {tp["order"]}[tp] as is_order,
                {tp["base"]}[tp] + {tp["trend"]}[tp] * (day_offset / {span}.0) as mean_ease,
                exp(1.3 + 0.55 * reopen_count + 0.35 * transfer_count + 0.6 * z_hours)
                    as resolution_hours
            from drawn
        ),
        scored as (
            select
                *,
                clamp01(
                    mean_ease
                    - case when is_ticket then 0.10 * reopen_count + 0.07 * transfer_count
                                               + 0.003 * least(resolution_hours, 72)
                           else 0 end
                    + 0.16 * z_ease
                ) as p_ces,
                interaction_at + to_seconds((resolution_hours * 3600)::bigint) as solved_at
            from shaped
        )
        select
            *,
            clamp01(0.18 + 0.72 * p_ces + 0.13 * z_csat) as p_csat,
            case
                when not is_ticket then null
                when solved_at > timestamp '{end_date.isoformat()}' + interval 1 day
                    then 'open'
                when u_status < 0.03 then 'pending'
                when u_status < 0.60 then 'solved'
                else 'closed'
            end as status,
            case
                when is_ticket then
                    case when solved_at > timestamp '{end_date.isoformat()}' + interval 1 day
                              or u_status < 0.03
                         then interaction_at + to_seconds((u_delay * 7200)::bigint)
                         else solved_at + to_seconds((u_delay * 21600)::bigint) end
                else interaction_at + to_seconds((u_delay * 600)::bigint)
            end as answered_at
        from scored
        """
    )
    conn.execute(
        f"""
        create table tickets as
        select
            k,
            'TCK-' || lpad((k + {id_offset})::varchar, 9, '0') as ticket_id,
            customer_id,
            touchpoint,
            ['email', 'chat', 'phone', 'web_form'][ticket_channel_idx + 1] as channel,
            interaction_at as created_ts,
            strftime(interaction_at, '%Y-%m-%dT%H:%M:%SZ') as created_at,
            case when status in ('solved', 'closed')
                 then strftime(solved_at, '%Y-%m-%dT%H:%M:%SZ') end as solved_at,
            status,
            ['low', 'normal', 'high', 'urgent'][priority_idx + 1] as priority,
            1 + 2 * reopen_count + transfer_count + extra_replies as reply_count,
            reopen_count,
            transfer_count,
            strftime(interaction_at, '{period_format}') as period
        from interactions
        where is_ticket
        """
    )
    comments = _sql_list(COMMENTS)
    bad_ts = _sql_list(BAD_TIMESTAMPS)
    conn.execute(
        f"""
        create table answers as
        with rows as (
            select
                i,
                2 * (i // 3) + (i % 3 = 2)::int as k,
                case when i % 3 = 1 then 'csat' else 'ces' end as metric
            from range({responses}) t(i)
        ),
        picked as (
            select
                r.i,
                r.metric,
                x.*,
                case when r.metric = 'ces' then {ces_ids}[{ces_pick} + 1]
                     when x.is_ticket and x.u_csat_survey < 0.4
                         then {survey_index["csat_good_bad"] + 1}
                     else {survey_index["csat_5"] + 1} end as sv,
                case when r.metric = 'ces' then x.p_ces else x.p_csat end as p,
                -- no answer after the last day: an answer given after its ticket was
                -- solved late on that day is dated its last second instead
                least(
                    x.answered_at + case when r.metric = 'csat' then interval 1 minute
                                         else interval 0 minute end,
                    timestamp '{end_date.isoformat()}' + interval 1 day - interval 1 second
                ) as responded_ts,
                u(r.i, 50) as u_defect,
                u(r.i, 52) as u_tsfmt,
                u(r.i, 53) as u_comment,
                u(r.i, 54) as u_case
            from rows r
            join interactions x using (k)
        ),
        valued as (
            select
                *,
                round(p * ({sv["max"]}[sv] - {sv["min"]}[sv]))::int as steps,
                {sv["labels"]}[sv] as labels
            from picked
        ),
        answered as (
            select
                *,
                case when {sv["hib"]}[sv] then {sv["min"]}[sv] + steps
                     else {sv["max"]}[sv] - steps end as value
            from valued
        )
        select
            i,
            responded_ts,
            u(i, 51) < 0.003 as is_resent,
            'RSP-' || lpad((i + {id_offset})::varchar, 10, '0') as response_id,
            case when u_defect < 0.002 then 'ces_legacy_v0' else {sv["ids"]}[sv] end
                as survey_id,
            customer_id,
            case when u_defect >= 0.0065 and u_defect < 0.007 then 'store_pickup'
                 else touchpoint end as touchpoint,
            case when is_ticket then ['email', 'chat', 'phone', 'web_form'][ticket_channel_idx + 1]
                 else ['web', 'app', 'email', 'in_store'][web_channel_idx + 1] end as channel,
            case when is_ticket then 'TCK-' || lpad((k + {id_offset})::varchar, 9, '0')
                 when is_order then 'ORD-' || lpad((k + {id_offset})::varchar, 9, '0')
            end as interaction_id,
            case
                when u_defect >= 0.0055 and u_defect < 0.0065
                    then {bad_ts}[1 + floor(u_tsfmt * 3)::int]
                when u_tsfmt < 0.6 then strftime(responded_ts, '%Y-%m-%dT%H:%M:%SZ')
                when u_tsfmt < 0.8
                    then strftime(responded_ts + interval 2 hour, '%Y-%m-%dT%H:%M:%S') || '+02:00'
                else strftime(responded_ts, '%Y-%m-%d %H:%M:%S')
            end as responded_at,
            case
                when u_defect >= 0.002 and u_defect < 0.004
                    then ({sv["max"]}[sv] + 2)::varchar
                when u_defect >= 0.004 and u_defect < 0.0055
                    then case when len(labels) > 0 then 'Kinda meh' else 'n/a' end
                when len(labels) > 0 then
                    case when u_case < 0.08 then lower(labels[value - {sv["min"]}[sv] + 1])
                         when u_case < 0.12
                             then '  ' || upper(labels[value - {sv["min"]}[sv] + 1]) || ' '
                         else labels[value - {sv["min"]}[sv] + 1] end
                when u_case < 0.03 then value::varchar || '.0'
                else value::varchar
            end as answer,
            case when u_comment < 0.08
                 then {comments}[1 + floor(u_comment / 0.08 * {len(COMMENTS)})::int] end
                as comment,
            {sv["lang"]}[sv] as language,
            strftime(responded_ts, '{period_format}') as period
        from answered
        """
    )


def period_format_for(days: int) -> str:
    """One file per month, or per day for windows of two months or less."""
    return "%Y-%m" if days > 62 else "%Y-%m-%d"


def _periods(conn: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [
        row[0]
        for row in conn.execute(f"select distinct period from {table} order by period").fetchall()
    ]


def _copy(conn: duckdb.DuckDBPyConnection, query: str, path: Path, fmt: str) -> None:
    options = {
        "csv": "format csv, header true",
        "jsonl": "format json",
        "parquet": "format parquet, compression zstd",
    }[fmt]
    conn.execute(f"copy ({query}) to '{path}' ({options})")


def _write_files(conn: duckdb.DuckDBPyConnection, out_dir: Path) -> list[Path]:
    files: list[Path] = []
    response_cols = ", ".join(RESPONSE_COLUMNS)
    periods = _periods(conn, "answers")
    for index, period in enumerate(periods):
        fmt = FORMATS[index % len(FORMATS)]
        path = out_dir / "survey_responses" / f"responses_{period}.{fmt}"
        _copy(
            conn,
            f"select {response_cols} from answers where period = '{period}' order by i",
            path,
            fmt,
        )
        if fmt == "csv":
            _append_broken_lines(path, period)
        files.append(path)
    if conn.execute("select count(*) from answers where is_resent").fetchone()[0]:
        # named by the sample's span: a later sample's re-sends never overwrite this file
        span = periods[0] if len(periods) == 1 else f"{periods[0]}_to_{periods[-1]}"
        path = out_dir / "survey_responses" / f"responses_resent_{span}.csv"
        _copy(
            conn,
            f"select {response_cols} from answers where is_resent order by i",
            path,
            "csv",
        )
        files.append(path)

    ticket_cols = ", ".join(TICKET_COLUMNS)
    for index, period in enumerate(_periods(conn, "tickets")):
        fmt = FORMATS[(index + 1) % len(FORMATS)]
        path = out_dir / "tickets" / f"tickets_{period}.{fmt}"
        _copy(
            conn,
            f"select {ticket_cols} from tickets where period = '{period}' order by k",
            path,
            fmt,
        )
        files.append(path)
    return files


def _append_broken_lines(path: Path, period: str) -> None:
    """Two lines an export tool gets wrong: an unquoted comma and a stray quote."""
    day = f"{period}-01" if len(period) == 7 else period
    with path.open("a", encoding="utf-8", newline="") as handle:
        handle.write(
            f"RSP-BROKEN-{period}-1,ces2_agree_7,CUST-00000001,checkout,web,,"
            f"{day}T12:00:00Z,6,Fast, easy and friendly,en\n"
        )
        handle.write(
            f"RSP-BROKEN-{period}-2,csat_5,CUST-00000002,delivery,web,,"
            f'{day}T12:00:00Z,4,"He said "no" twice",en\n'
        )
