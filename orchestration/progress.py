"""Progress lines for `ces build` on stderr: one line per step started or finished, per asset
written, per quality-gate check and per failed check, with the time since the run started.

A Dagster logger, so the same lines appear for any run that selects it in its run config
(`loggers: {progress: {}}`); `ces build` does.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import TextIO

import dagster as dg

from orchestration import steps


def _write(stream: TextIO, text: str) -> None:
    """Progress is best effort: a closed terminal or pipe must never fail the build."""
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass


# When the current `ces build` started (set by run_build), so every progress line counts
# from the same moment.
RUN_STARTED: list[float] = []


def _elapsed() -> str:
    return f"[{time.perf_counter() - (RUN_STARTED[-1] if RUN_STARTED else 0):7.1f} s]"


# dbt's own result lines worth a progress line: models and seeds built, anything not passing.
_DBT_RESULT = re.compile(
    r"^\s*(?P<n>\d+) of (?P<total>\d+) (?P<what>OK created|OK loaded|ERROR|FAIL|WARN|SKIP)"
    r"(?P<rest>.*?)(\s*\.{3,}.*)?$"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class DbtLogTee:
    """A stdout stand-in for the dbt step: keeps dbt's whole log in a file and echoes its
    progress (each model and seed built, each failure) as progress lines on `echo`."""

    def __init__(self, log: TextIO, echo: TextIO | None) -> None:
        self.log, self.echo, self._pending = log, echo, ""

    def write(self, text: str) -> int:
        self.log.write(text)
        if self.echo is not None:
            lines = (self._pending + text).split("\n")
            self._pending = lines.pop()
            for line in lines:
                match = _DBT_RESULT.match(_ANSI.sub("", line))
                if match:
                    _write(
                        self.echo,
                        f"{_elapsed()}   dbt {match['n']}/{match['total']} "
                        f"{match['what']}{match['rest']}\n",
                    )
        return len(text)

    def flush(self) -> None:
        self.log.flush()


NOTES_PER_STEP = 5


class ProgressHandler(logging.Handler):
    """Turns Dagster's structured events into short progress lines."""

    def __init__(self, stream=None) -> None:
        super().__init__(logging.DEBUG)
        self.stream = stream or sys.stderr
        self._notes: dict[str | None, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is None:
            if record.levelno == logging.WARNING and meta.get("orig_message"):
                self.note(meta.get("step_key"), str(meta["orig_message"]))
            return
        line = self.describe(event, meta.get("step_key"))
        if line:
            _write(self.stream, f"{_elapsed()} {line}\n")

    def note(self, step_key: str | None, message: str) -> None:
        """A step's own warning (a file loaded with rejects, say). Dagster's console log is
        off unless --verbose, so the first few of each step are shown here; its errors are
        in the summary."""
        shown = self._notes[step_key] = self._notes.get(step_key, 0) + 1
        if shown <= NOTES_PER_STEP:
            text = message.strip().replace("\n", "\n" + " " * 22)
            _write(self.stream, f"{_elapsed()}   note    {text}\n")
        elif shown == NOTES_PER_STEP + 1:
            _write(
                self.stream,
                f"{_elapsed()}   note    (more notes of this step: ces build --verbose shows "
                "them; audit.audit_file_outcomes has every file's outcome)\n",
            )

    @staticmethod
    def describe(event: dg.DagsterEvent, step_key: str | None) -> str | None:
        kind = event.event_type
        if kind == dg.DagsterEventType.STEP_START:
            return f"started   {steps.progress_label(step_key)}"
        if kind == dg.DagsterEventType.STEP_SUCCESS:
            seconds = event.event_specific_data.duration_ms / 1000
            return f"finished  {steps.progress_label(step_key)} in {seconds:.1f} s"
        if kind == dg.DagsterEventType.STEP_FAILURE:
            return f"FAILED    {steps.progress_label(step_key)}"
        if kind == dg.DagsterEventType.STEP_SKIPPED:
            return f"skipped   {steps.progress_label(step_key)} (an upstream step failed)"
        if kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.event_specific_data.materialization
            metadata = materialization.metadata
            rows = metadata.get("rows_loaded") or metadata.get("dagster/row_count")
            detail = f" ({rows.value:,} rows)" if rows is not None else ""
            return f"  wrote   {materialization.asset_key.to_user_string()}{detail}"
        if kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if evaluation.passed and not steps.is_reported_when_passed(evaluation.check_name):
                return None  # the dbt tests that pass: counted in the summary
            status = "passed" if evaluation.passed else f"FAILED ({evaluation.severity.value})"
            asset = evaluation.asset_key.to_user_string()
            return f"  check   {asset}: {evaluation.check_name} {status}"
        return None


@dg.logger(description="Short progress lines on stderr (used by `ces build`).")
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    del init_context
    logger = logging.getLogger("ces.progress")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.handlers = [ProgressHandler()]
    return logger
