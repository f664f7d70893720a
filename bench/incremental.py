"""Benchmark: one more day of files on a built year, against a full build of that year.

Generates one year of sample landing files (`ces sample`, default 1 M answers) and, apart,
one more day at the same daily rate with new ids. Then, each as a whole `ces build`
process (wall time and the peak RSS summed over its process tree, polled with psutil):

- fixed overhead: an empty landing folder on an empty warehouse;
- full build: the year on an empty warehouse (`--full-refresh`);
- no-op: the built year again, nothing new;
- incremental day: the built year plus the new day's files.

Each is run `--runs` times (median reported); every incremental and no-op run starts from
a copy of the same built warehouse. Finally the incremental result is checked against a
full build of year + day: same period table (floats within 1e-9), same fact row count.

    .venv/bin/python bench/incremental.py [--responses N] [--runs R] [--out FILE]

Writes bench/results/incremental.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path

import duckdb
import psutil
from common import RESULTS, build, median_of, sample

YEAR_END = date(2026, 10, 31)
NEXT_DAY = date(2026, 11, 1)


def period_table(warehouse: Path) -> tuple[int, list[tuple]]:
    with duckdb.connect(str(warehouse / "ces.duckdb"), read_only=True) as conn:
        facts = conn.execute("select count(*) from marts.fct_ces_responses").fetchone()[0]
        rows = conn.execute(
            "select * exclude (refreshed_at) from marts.fct_ces_touchpoint_period order by all"
        ).fetchall()
    return facts, rows


def same_rows(left: list[tuple], right: list[tuple]) -> bool:
    if len(left) != len(right):
        return False
    for a_row, b_row in zip(left, right, strict=True):
        for a, b in zip(a_row, b_row, strict=True):
            if isinstance(a, float) and isinstance(b, float):
                if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9):
                    return False
            elif a != b:
                return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=1_000_000, help="answers in the year")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--out", type=Path, default=RESULTS / "incremental.json")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="ces-bench-incremental-") as scratch:
        work = Path(scratch)
        year, day, empty = work / "landing", work / "day", work / "empty"
        empty.mkdir()
        sample(year, args.responses, 365, YEAR_END, seed=42, id_offset=0)
        day_responses = max(1, round(args.responses / 365))
        sample(day, day_responses, 1, NEXT_DAY, seed=43, id_offset=500_000_000)

        fixed = [build(empty, work / f"fixed{i}") for i in range(args.runs)]
        full = []
        for i in range(args.runs):
            full.append(build(year, work / f"full{i}", "--full-refresh"))
        base = work / "full0"

        noop = []
        for i in range(args.runs):
            shutil.copytree(base, work / f"noop{i}")
            noop.append(build(year, work / f"noop{i}"))
        for stream in ("survey_responses", "tickets"):
            for path in sorted((day / stream).iterdir()):
                shutil.copy(path, year / stream / f"nextday_{path.name}")
        incremental = []
        for i in range(args.runs):
            shutil.copytree(base, work / f"incr{i}")
            incremental.append(build(year, work / f"incr{i}"))

        # The incremental result must equal a full build of year + day.
        reference = build(year, work / "reference", "--full-refresh")
        incr_facts, incr_rows = period_table(work / "incr0")
        ref_facts, ref_rows = period_table(work / "reference")
        base_facts, _ = period_table(base)
        equal = incr_facts == ref_facts and same_rows(incr_rows, ref_rows)

    result = {
        "date": date.today().isoformat(),
        "machine_cores": psutil.cpu_count(),
        "responses_year": args.responses,
        "responses_new_day": day_responses,
        "ces_facts_year": base_facts,
        "ces_facts_after_day": incr_facts,
        "fixed_overhead": median_of(fixed),
        "full_build": median_of(full),
        "noop_rebuild": median_of(noop),
        "incremental_day": median_of(incremental),
        "reference_full_build_year_plus_day_seconds": reference["seconds"],
        "incremental_equals_full_build": equal,
    }
    f, full_s = result["fixed_overhead"]["seconds_median"], result["full_build"]["seconds_median"]
    inc_s = result["incremental_day"]["seconds_median"]
    result["full_variable_seconds"] = full_s - f
    result["ratio_incremental_to_full"] = inc_s / full_s
    result["ratio_incremental_to_full_variable"] = inc_s / (full_s - f)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print("| run | wall (median) | peak RSS (median) | stages (first run) |")
    print("|---|---|---|---|")
    for name in ("fixed_overhead", "full_build", "noop_rebuild", "incremental_day"):
        row = result[name]
        stage_text = ", ".join(f"{k} {v:.1f} s" for k, v in row["runs"][0]["stages"].items())
        print(
            f"| {name} | {row['seconds_median']:.1f} s | {row['peak_rss_mib_median']:,.0f} MiB "
            f"| {stage_text} |"
        )
    print(
        f"\nincremental day / full build: {result['ratio_incremental_to_full']:.2f}; "
        f"/ full variable time: {result['ratio_incremental_to_full_variable']:.2f}; "
        f"equals a full build of year + day: {equal}"
    )
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
