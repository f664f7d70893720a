"""Benchmark: Great Expectations validation of a large fact table, by SQL push-down.

Builds a warehouse holding `marts.fct_ces_responses` with N rows (default 10 million)
plus what its suite refers to (the touchpoint registry and the accepted answers it is
counted against), then times `orchestration.quality.validate_suite` in a fresh process
and reads that process's peak RSS. As a baseline measured in the same run it times one
hand-written DuckDB query computing the same checks, the least work any validator must do.

    .venv/bin/python bench/ge_validation.py [--rows N] [--runs R] [--out FILE]

Writes bench/results/ge_validation.json and prints a Markdown table row.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

RESULTS = Path(__file__).resolve().parent / "results"

VALIDATE = """
import json, resource, sys, time
from pathlib import Path
from orchestration import quality
from orchestration.engines import DuckDBEngine
suite = next(s for s in quality.load_suites() if s.name == "fct_ces_responses")
started = time.perf_counter()
outcome = quality.validate_suite(suite, DuckDBEngine(Path(sys.argv[1])))
seconds = time.perf_counter() - started
print(json.dumps({
    "seconds": seconds,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "failed_errors": [o.describe() for o in outcome.failed_errors],
    "evaluated": len(outcome.outcomes),
}))
"""

BASELINE = """
select
    count(*) filter (where response_id is null),
    count(*) - count(distinct response_id),
    count(*) filter (where scale_position not between 0 and 1),
    count(*) filter (where ease_0_100 not between 0 and 100),
    count(*) filter (where ease_7pt not between 1 and 7),
    count(*) filter (where csat_5pt not between 1 and 5),
    count(*) filter (where effort_bucket not in ('easy', 'neutral', 'difficult')),
    count(*) filter (where touchpoint_id not in (select touchpoint_id from registry.touchpoints)),
    count(*) filter (
        where responded_at > (select clock_at from marts.rpt_build_info) + interval 1 hour
    )
from marts.fct_ces_responses
"""


def build_warehouse(path: Path, rows: int) -> None:
    conn = duckdb.connect(str(path))
    conn.execute("create schema marts; create schema registry; create schema intermediate")
    conn.execute(
        "create table registry.touchpoints as select * from (values ('checkout'), "
        "('delivery'), ('returns'), ('site_search')) t(touchpoint_id)"
    )
    conn.execute(
        f"""
        create table marts.fct_ces_responses as
        select
            'R' || i as response_id,
            'ces2_agree_7' as survey_id,
            md5(i::varchar) as customer_key,
            ['checkout', 'delivery', 'returns', 'site_search'][1 + i % 4] as touchpoint_id,
            'web' as channel,
            'T' || (i // 3) as interaction_id,
            timestamp '2025-11-01' + to_seconds(i % 31536000) as responded_at,
            (1 + i % 7)::varchar as answer_raw,
            (1 + i % 7)::double as answer_value,
            ((i % 7) / 6.0)::double as scale_position,
            (100 * (i % 7) / 6.0)::double as ease_0_100,
            (1 + (i % 7))::double as ease_7pt,
            case when i % 7 > 3 then 'easy' when i % 7 = 3 then 'neutral' else 'difficult' end
                as effort_bucket,
            case when i % 2 = 0 then (1 + i % 5)::double end as csat_5pt
        from range({rows}) t(i)
        """
    )
    # the build's clock, which the no-future-answers expectation compares with: fixed
    # after the data, so the benchmark gives the same result on any date
    conn.execute(
        "create table marts.rpt_build_info as select timestamp '2026-11-02 06:00:00' as clock_at"
    )
    conn.execute(
        "create table intermediate.int_answers_scored as "
        "select response_id, 'ces' as metric, null::varchar as reject_reason "
        "from marts.fct_ces_responses"
    )
    conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "ge_validation.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ces-bench-ge-") as scratch:
        database = Path(scratch) / "ces.duckdb"
        build_warehouse(database, args.rows)
        # Run as a script file, not `python -c`: pyspark (imported by Great Expectations
        # when installed) takes a main module without a file for its own doctests and exits.
        validate = Path(scratch) / "validate.py"
        validate.write_text(VALIDATE, encoding="utf-8")
        validations, baselines = [], []
        for _ in range(args.runs):
            done = subprocess.run(
                [sys.executable, str(validate), str(database)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode or not done.stdout.strip():
                sys.exit(f"validation failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
            validations.append(json.loads(done.stdout.strip().splitlines()[-1]))
            conn = duckdb.connect(str(database), read_only=True)
            started = time.perf_counter()
            conn.execute(BASELINE).fetchall()
            baselines.append(time.perf_counter() - started)
            conn.close()
    seconds = statistics.median(v["seconds"] for v in validations)
    baseline = statistics.median(baselines)
    result = {
        "rows": args.rows,
        "runs": args.runs,
        "validation_seconds_median": round(seconds, 3),
        "validation_peak_rss_mib_max": round(max(v["peak_rss_mib"] for v in validations), 1),
        "baseline_query_seconds_median": round(baseline, 3),
        "ratio_to_baseline": round(seconds / baseline, 2),
        "expectations_evaluated": validations[0]["evaluated"],
        "failed_errors": validations[0]["failed_errors"],
        "target_seconds": 10,
        "target_met": seconds <= 10,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(
        f"| GE validation of fct_ces_responses, {args.rows:,} rows | "
        f"{seconds:.1f} s (median of {args.runs}) | {result['validation_peak_rss_mib_max']} MiB | "
        f"{result['ratio_to_baseline']}x the hand-written check query ({baseline:.2f} s) | "
        f"{'met' if result['target_met'] else 'not met'} (target <= 10 s, no pandas) |"
    )
    return 0 if not result["failed_errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
