"""Peer baseline: the monthly touchpoint table of limit_duckdb.py computed with pandas from
the same landing files, as an analyst's script would (read every file, concatenate, join
the registry, group).

    python bench/baselines/pandas_peer.py LANDING_DIR OUT_JSON
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
COLUMNS = ["response_id", "survey_id", "touchpoint", "responded_at", "answer"]


def read_answers(folder: Path) -> pd.DataFrame:
    frames = []
    for path in sorted(folder.iterdir()):
        if path.suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, on_bad_lines="skip", usecols=COLUMNS)
        elif path.suffix == ".jsonl":
            frame = pd.read_json(path, lines=True, dtype=False)[COLUMNS].astype(str)
        elif path.suffix == ".parquet":
            frame = pd.read_parquet(path, columns=COLUMNS)
        else:
            continue
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def main() -> int:
    landing, out = Path(sys.argv[1]), Path(sys.argv[2])
    started = time.perf_counter()
    answers = read_answers(landing / "survey_responses").drop_duplicates("response_id")
    scales = pd.read_csv(SEEDS / "survey_scales.csv", dtype=str)
    labels = pd.read_csv(SEEDS / "scale_labels.csv", dtype=str)
    touchpoints = set(pd.read_csv(SEEDS / "touchpoints.csv", dtype=str)["touchpoint_id"])
    labels["label_key"] = labels["label"].str.strip().str.lower()
    labels["label_value"] = labels["value"].astype(float)

    df = answers[answers["touchpoint"].isin(touchpoints)].merge(scales, on="survey_id")
    df["label_key"] = df["answer"].astype(str).str.strip().str.lower()
    df = df.merge(labels[["label_set", "label_key", "label_value"]], how="left",
                  on=["label_set", "label_key"])  # fmt: skip
    value = pd.to_numeric(df["answer"], errors="coerce").fillna(df["label_value"])
    low, high = df["scale_min"].astype(float), df["scale_max"].astype(float)
    p_raw = (value - low) / (high - low)
    df["p"] = np.where(df["higher_is_better"] == "true", p_raw, 1 - p_raw)
    times = pd.to_datetime(df["responded_at"], errors="coerce", utc=True, format="mixed")
    df["month"] = times.dt.tz_localize(None).dt.to_period("M").dt.to_timestamp()
    df = df[p_raw.between(0, 1) & df["month"].notna()]

    ces = df[df["metric"] == "ces"].assign(
        ease=lambda d: 1 + 6 * d["p"],
        easy=lambda d: (d["p"] > 0.5).astype(float),
        difficult=lambda d: (d["p"] < 0.5).astype(float),
    )
    table = ces.groupby(["touchpoint", "month"]).agg(
        n=("ease", "size"),
        ces_mean_7pt=("ease", "mean"),
        pct_easy=("easy", "mean"),
        pct_difficult=("difficult", "mean"),
    )
    csat = df[df["metric"] == "csat"].assign(csat=lambda d: 1 + 4 * d["p"])
    table = table.join(csat.groupby(["touchpoint", "month"])["csat"].mean().rename("csat_mean_5pt"))
    table = table.reset_index().sort_values(["touchpoint", "month"])
    seconds = time.perf_counter() - started
    rows = [
        [str(v) if not (isinstance(v, float) and np.isnan(v)) else "None" for v in row]
        for row in table.itertuples(index=False)
    ]
    out.write_text(json.dumps({"seconds": seconds, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
