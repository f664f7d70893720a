"""Limit baseline: one hand-written DuckDB query over the landing files (read once) that
computes the monthly touchpoint table: answers, mean ease (1-7), % easy, % difficult and
the CSAT mean. The least work any system must do for the headline numbers.

    python bench/baselines/limit_duckdb.py LANDING_DIR OUT_JSON
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
# The sample's CSV layout (the landing contract's columns, in order).
CSV_COLUMNS = (
    "response_id survey_id customer_id touchpoint channel interaction_id responded_at answer "
    "comment language"
)

QUERY = """
with
scales as (select * from read_csv('{seeds}/survey_scales.csv', all_varchar = true)),
labels as (
    select label_set, lower(trim(label)) as label_key, value::double as value
    from read_csv('{seeds}/scale_labels.csv', all_varchar = true)
),
answers as (
    select response_id, survey_id, touchpoint, responded_at, answer
    from read_csv('{landing}/survey_responses/*.csv', header = true, auto_detect = false,
                  columns = {{{csv_columns}}}, delim = ',', quote = '"', escape = '"',
                  strict_mode = true, ignore_errors = true)
    union all by name
    select response_id, survey_id, touchpoint, responded_at, answer
    from read_json('{landing}/survey_responses/*.jsonl', format = 'newline_delimited',
                   columns = {{response_id: 'VARCHAR', survey_id: 'VARCHAR',
                              touchpoint: 'VARCHAR', responded_at: 'VARCHAR', answer: 'VARCHAR'}})
    union all by name
    select response_id, survey_id, touchpoint, responded_at::varchar as responded_at,
           answer::varchar as answer
    from read_parquet('{landing}/survey_responses/*.parquet')
),
latest as (select * from answers qualify row_number() over (partition by response_id) = 1),
scored as (
    select
        a.touchpoint,
        date_trunc('month', try_cast(a.responded_at as timestamptz) at time zone 'UTC') as month,
        s.metric,
        (coalesce(try_cast(a.answer as double), l.value) - s.scale_min::double)
            / (s.scale_max::double - s.scale_min::double) as p_raw,
        s.higher_is_better = 'true' as hib
    from latest a
    join scales s using (survey_id)
    left join labels l on l.label_set = s.label_set and l.label_key = lower(trim(a.answer))
    where a.touchpoint in (select touchpoint_id from read_csv('{seeds}/touchpoints.csv'))
),
positioned as (
    select touchpoint, month, metric, case when hib then p_raw else 1 - p_raw end as p
    from scored where p_raw between 0 and 1 and month is not null
)
select
    touchpoint,
    month,
    count(*) filter (where metric = 'ces') as n,
    avg(1 + 6 * p) filter (where metric = 'ces') as ces_mean_7pt,
    avg((p > 0.5)::int) filter (where metric = 'ces') as pct_easy,
    avg((p < 0.5)::int) filter (where metric = 'ces') as pct_difficult,
    avg(1 + 4 * p) filter (where metric = 'csat') as csat_mean_5pt
from positioned
group by all
having count(*) filter (where metric = 'ces') > 0
order by all
"""


def main() -> int:
    landing, out = Path(sys.argv[1]), Path(sys.argv[2])
    started = time.perf_counter()
    conn = duckdb.connect()
    conn.execute("set TimeZone = 'UTC'")
    rows = conn.execute(
        QUERY.format(
            seeds=SEEDS,
            landing=landing,
            csv_columns=", ".join(f"'{c}': 'VARCHAR'" for c in CSV_COLUMNS.split()),
        )
    ).fetchall()
    seconds = time.perf_counter() - started
    out.write_text(json.dumps({"seconds": seconds, "rows": [list(map(str, r)) for r in rows]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
