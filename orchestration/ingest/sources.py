"""Vendor exports: declarative source configs in config/sources/*.yml.

A source config names a file glob under the landing folder and how its records become rows
of the landing contract (docs/sources.md). Three formats:

- `csv`: any delimited file; `outputs` map columns to contract fields, per stream;
- `qualtrics`: a Qualtrics CSV response export (three header rows); `questions` say which
  columns are CES / CSAT answers of which survey, `fields` how the rest is derived;
- `zendesk`: a Zendesk ticket export (JSON with `tickets[]`, or JSON Lines); tickets go to
  the tickets stream, good/bad satisfaction ratings to survey_responses.

Configs are validated when loaded: an unknown key, an unknown contract field or a stream
without its required fields is an error naming the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestration.ingest.contract import STREAMS, SURVEY_RESPONSES, TICKETS, visible_files
from orchestration.settings import PROJECT_DIR

CONFIG_DIR = PROJECT_DIR / "config" / "sources"
FORMATS = ("csv", "qualtrics", "zendesk")
FIELD_KEYS = {"column", "value", "prefix", "recode", "default", "lower", "format", "timezone"}


class SourceConfigError(ValueError):
    """A source config that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class FieldSpec:
    """How one contract field is derived from a record."""

    column: str | None = None
    value: str | None = None
    prefix: str | None = None
    recode: dict[str, str] = field(default_factory=dict)
    default: str | None = None
    lower: bool = False
    format: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class Output:
    """The rows one file gives one stream (csv format)."""

    stream: str
    fields: dict[str, FieldSpec]
    only_when: dict[str, Any] = field(default_factory=dict)
    skip_reason: str = "filtered out by only_when"


@dataclass(frozen=True)
class Question:
    """A Qualtrics answer column: which survey its answers belong to."""

    column: str | None
    import_id: str | None
    survey_id: str
    comment_column: str | None = None


@dataclass(frozen=True)
class SourceConfig:
    name: str
    path: Path
    format: str
    files: str
    delimiter: str = ","
    drop: tuple[str, ...] = ()
    outputs: dict[str, Output] = field(default_factory=dict)
    # qualtrics
    questions: tuple[Question, ...] = ()
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    normal_statuses: tuple[str, ...] = ("IP Address", "0")
    # zendesk
    ticket_id_prefix: str = ""
    touchpoint: dict[str, Any] = field(default_factory=dict)
    csat_survey_id: str = "csat_good_bad"
    language: str | None = None

    @property
    def streams(self) -> tuple[str, ...]:
        if self.format == "csv":
            return tuple(self.outputs)
        if self.format == "qualtrics":
            return (SURVEY_RESPONSES.name,)
        return (TICKETS.name, SURVEY_RESPONSES.name)

    def matches(self, landing_dir: Path) -> list[Path]:
        """The landing files this source reads (dot-files and dot-folders ignored)."""
        return visible_files(landing_dir.glob(self.files), landing_dir)


def _fail(path: Path, where: str, message: str) -> SourceConfigError:
    return SourceConfigError(f"{path}: {where}: {message}")


def _check_keys(path: Path, where: str, data: dict, allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _fail(path, where, f"unknown key(s) {', '.join(unknown)}; allowed: {sorted(allowed)}")


def _field_spec(path: Path, where: str, raw: Any) -> FieldSpec:
    if isinstance(raw, str):  # shorthand: a column name
        return FieldSpec(column=raw)
    if not isinstance(raw, dict):
        raise _fail(path, where, "a field is a column name or a mapping")
    _check_keys(path, where, raw, FIELD_KEYS)
    if ("column" in raw) == ("value" in raw):
        raise _fail(path, where, "give exactly one of `column` and `value`")
    recode = raw.get("recode") or {}
    if not isinstance(recode, dict):
        raise _fail(path, where, "`recode` maps source values to contract values")

    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return FieldSpec(
        column=text(raw.get("column")),
        value=text(raw.get("value")),
        prefix=text(raw.get("prefix")),
        recode={str(k): str(v) for k, v in recode.items()},
        default=text(raw.get("default")),
        lower=bool(raw.get("lower", False)),
        format=text(raw.get("format")),
        timezone=text(raw.get("timezone")),
    )


def _fields(path: Path, where: str, raw: Any, stream_name: str) -> dict[str, FieldSpec]:
    if not isinstance(raw, dict):
        raise _fail(path, where, "`fields` maps contract fields to their source")
    stream = STREAMS[stream_name]
    unknown = sorted(set(raw) - set(stream.columns))
    if unknown:
        raise _fail(
            path, where, f"{', '.join(unknown)} not in the {stream_name} contract {stream.columns}"
        )
    return {name: _field_spec(path, f"{where}.{name}", spec) for name, spec in raw.items()}


def _require(path: Path, where: str, stream_name: str, present: set[str]) -> None:
    missing = [c for c in STREAMS[stream_name].required if c not in present]
    if missing:
        raise _fail(
            path, where, f"required {stream_name} field(s) not mapped: {', '.join(missing)}"
        )


def load_source_config(path: Path) -> SourceConfig:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise _fail(path, "yaml", str(error).splitlines()[0]) from error
    if not isinstance(raw, dict):
        raise _fail(path, "top level", "a source config is a mapping")
    fmt = raw.get("format")
    if fmt not in FORMATS:
        raise _fail(path, "format", f"{fmt!r} is not one of {FORMATS}")
    common = {"format", "files", "description", "delimiter", "drop"}
    allowed = {
        "csv": common | {"outputs"},
        "qualtrics": common | {"questions", "fields", "normal_statuses"},
        "zendesk": common | {"ticket_id_prefix", "touchpoint", "csat_survey_id", "language"},
    }[fmt]
    _check_keys(path, "top level", raw, allowed)
    files = raw.get("files")
    if not isinstance(files, str) or not files:
        raise _fail(path, "files", "a glob under the landing folder, e.g. helpdesk/*.csv")
    top = Path(files).parts[0]
    if top in {s.folder for s in STREAMS.values()} or files.startswith(("/", "..")):
        raise _fail(path, "files", f"{files!r} must not point into the contract folders")
    kwargs: dict[str, Any] = {
        "name": path.stem,
        "path": path,
        "format": fmt,
        "files": files,
        "delimiter": str(raw.get("delimiter", ",")),
        "drop": tuple(str(c) for c in raw.get("drop") or ()),
    }
    if len(kwargs["delimiter"]) != 1:
        raise _fail(path, "delimiter", "one character")
    if fmt == "csv":
        outputs = raw.get("outputs")
        if not isinstance(outputs, dict) or not outputs:
            raise _fail(path, "outputs", "map at least one stream to its fields")
        parsed = {}
        for stream_name, spec in outputs.items():
            where = f"outputs.{stream_name}"
            if stream_name not in STREAMS:
                raise _fail(path, where, f"unknown stream; streams: {sorted(STREAMS)}")
            if not isinstance(spec, dict):
                raise _fail(path, where, "a mapping with `fields`")
            _check_keys(path, where, spec, {"fields", "only_when", "skip_reason"})
            fields = _fields(path, f"{where}.fields", spec.get("fields"), stream_name)
            _require(path, f"{where}.fields", stream_name, set(fields))
            only_when = spec.get("only_when") or {}
            if only_when:
                _check_keys(path, f"{where}.only_when", only_when, {"column", "present", "in"})
                if "column" not in only_when:
                    raise _fail(path, f"{where}.only_when", "names a `column`")
            parsed[stream_name] = Output(
                stream=stream_name,
                fields=fields,
                only_when=only_when,
                skip_reason=str(spec.get("skip_reason") or "filtered out by only_when"),
            )
        kwargs["outputs"] = parsed
    elif fmt == "qualtrics":
        fields = _fields(path, "fields", raw.get("fields") or {}, SURVEY_RESPONSES.name)
        for derived in ("response_id", "survey_id", "answer"):
            if derived in fields:
                raise _fail(path, f"fields.{derived}", "derived from the question; not mapped")
        fields.setdefault("responded_at", FieldSpec(column="RecordedDate"))
        _require(
            path,
            "fields",
            SURVEY_RESPONSES.name,
            set(fields) | {"response_id", "survey_id", "answer"},
        )
        questions = raw.get("questions")
        if not isinstance(questions, list) or not questions:
            raise _fail(path, "questions", "list the answer columns and their survey_id")
        parsed_questions = []
        for i, q in enumerate(questions):
            where = f"questions[{i}]"
            if not isinstance(q, dict):
                raise _fail(path, where, "a mapping")
            _check_keys(path, where, q, {"column", "import_id", "survey_id", "comment_column"})
            if ("column" in q) == ("import_id" in q) or "survey_id" not in q:
                raise _fail(path, where, "give `survey_id` and one of `column` / `import_id`")
            parsed_questions.append(
                Question(
                    column=q.get("column"),
                    import_id=q.get("import_id"),
                    survey_id=str(q["survey_id"]),
                    comment_column=q.get("comment_column"),
                )
            )
        kwargs["questions"] = tuple(parsed_questions)
        kwargs["fields"] = fields
        if "normal_statuses" in raw:
            kwargs["normal_statuses"] = tuple(str(s) for s in raw["normal_statuses"])
    else:
        touchpoint = raw.get("touchpoint") or {}
        _check_keys(path, "touchpoint", touchpoint, {"tags", "custom_field_id", "default"})
        kwargs["touchpoint"] = touchpoint
        kwargs["ticket_id_prefix"] = str(raw.get("ticket_id_prefix") or "")
        kwargs["csat_survey_id"] = str(raw.get("csat_survey_id") or "csat_good_bad")
        kwargs["language"] = raw.get("language")
    return SourceConfig(**kwargs)


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
