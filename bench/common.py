"""Shared by the benchmark scripts: whole-process measurement and `ces` invocations."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CES = [sys.executable, "-m", "orchestration.cli"]


def run_measured(args: list[str], env: dict[str, str] | None = None) -> dict:
    """Run a process to completion; wall seconds and peak RSS of its whole process tree
    (`env`: variables added to this process's environment)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env} if env else None,
    )
    peak = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        root = psutil.Process(process.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    poller.join()
    if process.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} exited {process.returncode}:\n{stdout.decode()[-3000:]}"
            f"\n{stderr.decode()[-3000:]}"
        )
    return {"seconds": seconds, "peak_rss_mib": peak / 2**20, "stages": stages(stdout.decode())}


def stages(summary: str) -> dict[str, float]:
    """The per-stage seconds `ces build` prints in its summary."""
    line = next((x for x in summary.splitlines() if x.startswith("elapsed per stage: ")), "")
    return {
        name.strip(): float(sec)
        for name, sec in re.findall(
            r"([^,:]+?) ([\d.]+) s", line.removeprefix("elapsed per stage: ")
        )
    }


def build(landing: Path, warehouse: Path, *extra: str, env: dict[str, str] | None = None) -> dict:
    return run_measured(
        [
            *CES,
            "build",
            "--quiet",
            "--landing",
            str(landing),
            "--warehouse",
            str(warehouse),
            *extra,
        ],
        env=env,
    )


def sample(out: Path, responses: int, days: int, end: date, seed: int, id_offset: int) -> None:
    subprocess.run(
        [
            *CES,
            "sample",
            "--out",
            str(out),
            "--responses",
            str(responses),
            "--days",
            str(days),
            "--end",
            end.isoformat(),
            "--seed",
            str(seed),
            "--id-offset",
            str(id_offset),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def median_of(runs: list[dict]) -> dict:
    return {
        "seconds_median": statistics.median(r["seconds"] for r in runs),
        "peak_rss_mib_median": statistics.median(r["peak_rss_mib"] for r in runs),
        "runs": runs,
    }
