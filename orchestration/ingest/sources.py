"""Vendor exports: declarative source configs in config/sources/*.yml.

A source config names a file glob under the landing folder and how its records become rows
of the landing contract (docs/sources.md). Its `format` names the reader
(orchestration/ingest/readers/): `csv` (any delimited file mapped column by column),
`qualtrics` (a Qualtrics CSV response export), `zendesk` (a Zendesk ticket export). The
keys every format shares are parsed here; each reader parses its own.

Configs are validated when loaded: an unknown key, an unknown contract field or a stream
without its required fields is an error naming the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from orchestration.ingest.contract import STREAMS, visible_files
from orchestration.ingest.readers import VENDOR_READERS, VendorReader
from orchestration.ingest.readers.base import VendorOptions
from orchestration.ingest.readers.fields import (
    FieldSpec,
    SourceConfigError,
    check_keys,
    config_error,
)
from orchestration.settings import PROJECT_DIR

CONFIG_DIR = PROJECT_DIR / "config" / "sources"
COMMON_KEYS = frozenset({"format", "files", "description", "delimiter", "drop"})

__all__ = [
    "CONFIG_DIR",
    "FieldSpec",
    "SourceConfig",
    "SourceConfigError",
    "load_source_config",
    "load_source_configs",
]


@dataclass(frozen=True)
class SourceConfig:
    name: str
    path: Path
    format: str
    files: str
    options: VendorOptions  # the reader's own keys, parsed by it
    delimiter: str = ","
    drop: tuple[str, ...] = ()

    @property
    def streams(self) -> tuple[str, ...]:
        return self.options.streams

    def reader(self) -> VendorReader:
        return VENDOR_READERS[self.format](self)

    def matches(self, landing_dir: Path) -> list[Path]:
        """The landing files this source reads (dot-files and dot-folders ignored)."""
        return visible_files(landing_dir.glob(self.files), landing_dir)


def load_source_config(path: Path) -> SourceConfig:
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise config_error(path, "yaml", str(error).splitlines()[0]) from error
    if not isinstance(raw, dict):
        raise config_error(path, "top level", "a source config is a mapping")
    fmt = raw.get("format")
    if fmt not in VENDOR_READERS:
        raise config_error(path, "format", f"{fmt!r} is not one of {tuple(VENDOR_READERS)}")
    reader = VENDOR_READERS[fmt]
    check_keys(path, "top level", raw, COMMON_KEYS | reader.config_keys)
    files = raw.get("files")
    if not isinstance(files, str) or not files:
        raise config_error(path, "files", "a glob under the landing folder, e.g. helpdesk/*.csv")
    top = Path(files).parts[0]
    if top in {s.folder for s in STREAMS.values()} or files.startswith(("/", "..")):
        raise config_error(path, "files", f"{files!r} must not point into the contract folders")
    delimiter = str(raw.get("delimiter", ","))
    if len(delimiter) != 1:
        raise config_error(path, "delimiter", "one character")
    return SourceConfig(
        name=path.stem,
        path=path,
        format=fmt,
        files=files,
        options=reader.parse_options(path, raw),
        delimiter=delimiter,
        drop=tuple(str(c) for c in raw.get("drop") or ()),
    )


def load_source_configs(config_dir: Path = CONFIG_DIR) -> list[SourceConfig]:
    """Every config in config/sources/ (sorted by name); an invalid one raises."""
    if not config_dir.exists():
        return []
    configs = [load_source_config(p) for p in sorted(config_dir.glob("*.yml"))]
    for i, a in enumerate(configs):
        for b in configs[i + 1 :]:
            if a.files == b.files:
                raise SourceConfigError(
                    f"{a.path} and {b.path} read the same files ({a.files}): one source per file"
                )
    return configs
