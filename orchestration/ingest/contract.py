"""The landing contract: which streams exist, their folders, columns and required fields.

See docs/architecture.md ("Landing contract"). Every field is kept as text in raw; types
are decided in the dbt staging models.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SUPPORTED_EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}


@dataclass(frozen=True)
class Stream:
    """One landing stream: a folder of files that loads into one raw table."""

    name: str
    folder: str
    raw_table: str
    columns: tuple[str, ...]
    required: tuple[str, ...]

    @property
    def qualified_table(self) -> str:
        return f"raw.{self.raw_table}"


SURVEY_RESPONSES = Stream(
    name="survey_responses",
    folder="survey_responses",
    raw_table="survey_responses",
    columns=(
        "response_id",
        "survey_id",
        "customer_id",
        "touchpoint",
        "channel",
        "interaction_id",
        "responded_at",
        "answer",
        "comment",
        "language",
    ),
    required=("response_id", "survey_id", "customer_id", "touchpoint", "responded_at", "answer"),
)

TICKETS = Stream(
    name="tickets",
    folder="tickets",
    raw_table="tickets",
    columns=(
        "ticket_id",
        "customer_id",
        "touchpoint",
        "channel",
        "created_at",
        "solved_at",
        "status",
        "priority",
        "reply_count",
        "reopen_count",
        "transfer_count",
    ),
    required=("ticket_id", "customer_id", "created_at", "status"),
)

STREAMS: dict[str, Stream] = {s.name: s for s in (SURVEY_RESPONSES, TICKETS)}

# Columns every raw table carries besides the contract fields.
LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_extra", "TEXT"),  # JSON object of columns the contract does not know
    ("_source_file", "TEXT"),  # path relative to the landing folder
    ("_source_line", "BIGINT"),  # line of the record in its file (header = line 1)
    ("_loaded_at", "TIMESTAMP"),  # UTC time the file was loaded
    ("_file_hash", "TEXT"),  # sha256 of the file's bytes
    ("_customer_key", "TEXT"),  # HMAC of customer_id, computed at load (ingest/pseudonym.py)
)


def visible_files(paths: Iterable[Path], root: Path) -> list[Path]:
    """The regular files among `paths`, in name order, leaving out any whose name or
    folder below `root` starts with "." (partial uploads, editor and OS files). Symbolic
    links are listed whatever they point to (a folder, nothing): the loader refuses those
    that are not files inside the landing folder, with the reason, instead of passing
    over them in silence."""
    return sorted(
        p
        for p in paths
        if (p.is_file() or p.is_symlink())
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
