"""The interface every landing-file reader implements.

A reader turns one file into the loader's two temporary tables, in two steps:

- `plan(file)` probes the header or the document, chooses the encoding
  (`file.text_encoding()`; afterwards `file.path` is the file to read, a UTF-8 copy with LF
  breaks when the landing file needs one), records warnings on `result`, and raises
  UnreadableFileError when the file cannot be read at all. It returns whatever `stage`
  needs.
- `stage(file, plan)` fills `_stage` (the stream's contract columns as text, `_rec`,
  `_line`, `_extra`) and `_stage_rejects` (`line`, `error_type`, `reason`, `raw_text`;
  created by the loader). It returns the records skipped on purpose, by reason (rows
  landed = accepted + rejected + skipped).

Both run before the file's transaction opens (a DuckDB error inside a transaction aborts
it and hides the cause). Whatever they raise quarantines the file, each record rejected
with the reason, except the loader's own failures (memory, disk, AttributeError, KeyError,
TypeError ...: `loader.quarantine_reason`), which fail the load.

The loader owns discovery, hashing, the transaction, the raw / audit writes and the
manifest (orchestration/ingest/loader.py). A vendor reader also owns its source config's
format-specific keys: `config_keys` and `parse_options` (docs/sources.md, "A new vendor
format").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol

from orchestration.ingest.staging import LandingFile


class Reader(Protocol):
    def plan(self, file: LandingFile) -> Any: ...

    def stage(self, file: LandingFile, plan: Any) -> dict[str, int]: ...


class VendorOptions(Protocol):
    """A vendor format's parsed config keys."""

    @property
    def streams(self) -> tuple[str, ...]: ...


class VendorSource(Protocol):
    """What a vendor reader reads of its source config (orchestration/ingest/sources.py)."""

    path: Path
    delimiter: str
    drop: tuple[str, ...]
    options: Any


class VendorReader(Reader, Protocol):
    """A reader for one vendor format, configured by a source config (config/sources/)."""

    format: ClassVar[str]
    config_keys: ClassVar[frozenset[str]]  # top-level keys besides the common ones

    def __init__(self, source: VendorSource) -> None: ...

    @staticmethod
    def parse_options(path: Path, raw: dict) -> VendorOptions: ...
