"""Source configs' shared vocabulary: the errors naming file and key, and the field specs
(`column`, `value`, `recode`, `format` …) that the mapped CSV and Qualtrics readers use to
derive a contract field from a record (docs/sources.md, "Fields")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration.ingest.contract import STREAMS
from orchestration.sql import sql_literal

FIELD_KEYS = {
    "column",
    "columns",
    "line",
    "value",
    "prefix",
    "recode",
    "default",
    "lower",
    "format",
    "timezone",
}
SOURCE_KEYS = ("column", "columns", "line", "value")
ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


class SourceConfigError(ValueError):
    """A source config that cannot be used; the message names the file and the key."""


def config_error(path: Path, where: str, message: str) -> SourceConfigError:
    return SourceConfigError(f"{path}: {where}: {message}")


def check_keys(path: Path, where: str, data: dict, allowed: set[str] | frozenset[str]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise config_error(
            path, where, f"unknown key(s) {', '.join(unknown)}; allowed: {sorted(allowed)}"
        )


@dataclass(frozen=True)
class FieldSpec:
    """How one contract field is derived from a record."""

    column: str | None = None
    value: str | None = None
    # a key made of several columns ("a|b"), or the record's line in the file, for exports
    # that give their records no id
    columns: tuple[str, ...] = ()
    line: bool = False
    prefix: str | None = None
    recode: dict[str, str] = field(default_factory=dict)
    default: str | None = None
    lower: bool = False
    format: str | None = None
    timezone: str | None = None


def parse_field_spec(path: Path, where: str, raw: Any) -> FieldSpec:
    if isinstance(raw, str):  # shorthand: a column name
        return FieldSpec(column=raw)
    if not isinstance(raw, dict):
        raise config_error(path, where, "a field is a column name or a mapping")
    check_keys(path, where, raw, FIELD_KEYS)
    if sum(key in raw for key in SOURCE_KEYS) != 1:
        raise config_error(
            path, where, "give exactly one of `column`, `columns`, `line` and `value`"
        )
    columns = raw.get("columns", [])
    if not isinstance(columns, list) or ("columns" in raw and len(columns) < 2):
        raise config_error(path, where, "`columns` lists two or more columns")
    if "line" in raw and raw["line"] is not True:
        raise config_error(path, where, "`line: true` takes the record's line in the file")
    recode = raw.get("recode") or {}
    if not isinstance(recode, dict):
        raise config_error(path, where, "`recode` maps source values to contract values")

    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return FieldSpec(
        column=text(raw.get("column")),
        value=text(raw.get("value")),
        columns=tuple(str(c) for c in columns),
        line=bool(raw.get("line", False)),
        prefix=text(raw.get("prefix")),
        recode={str(k): str(v) for k, v in recode.items()},
        default=text(raw.get("default")),
        lower=bool(raw.get("lower", False)),
        format=text(raw.get("format")),
        timezone=text(raw.get("timezone")),
    )


def parse_fields(path: Path, where: str, raw: Any, stream_name: str) -> dict[str, FieldSpec]:
    if not isinstance(raw, dict):
        raise config_error(path, where, "`fields` maps contract fields to their source")
    stream = STREAMS[stream_name]
    unknown = sorted(set(raw) - set(stream.columns))
    if unknown:
        raise config_error(
            path, where, f"{', '.join(unknown)} not in the {stream_name} contract {stream.columns}"
        )
    return {name: parse_field_spec(path, f"{where}.{name}", spec) for name, spec in raw.items()}


def require_fields(path: Path, where: str, stream_name: str, present: set[str]) -> None:
    missing = [c for c in STREAMS[stream_name].required if c not in present]
    if missing:
        raise config_error(
            path, where, f"required {stream_name} field(s) not mapped: {', '.join(missing)}"
        )


def field_sql(spec: FieldSpec, column: Callable[[str], str]) -> str:
    """The DuckDB expression of a contract field (text) from its FieldSpec."""
    if spec.value is not None:
        expr = sql_literal(spec.value)
    elif spec.columns:
        # null when every part is blank: a record without its key is rejected in staging
        parts = [f"coalesce(trim({column(c)}), '')" for c in spec.columns]
        expr = f"nullif(concat_ws('|', {', '.join(parts)}), {sql_literal('|' * (len(parts) - 1))})"
    elif spec.line:
        expr = "cast(_line as varchar)"
    else:
        expr = f"nullif(trim({column(spec.column)}), '')"
    if spec.lower:
        expr = f"lower({expr})"
    if spec.format:
        parsed = f"try_strptime({expr}, {sql_literal(spec.format)})"
        if spec.timezone:
            parsed = f"timezone('UTC', timezone({sql_literal(spec.timezone)}, {parsed}))"
        # a value not in the format is kept as sent: staging rejects it with its reason
        expr = f"coalesce(strftime({parsed}, {sql_literal(ISO_UTC)}), {expr})"
    if spec.recode:
        cases = " ".join(
            f"when {sql_literal(k.strip().lower())} then {sql_literal(v)}"
            for k, v in spec.recode.items()
        )
        fallback = sql_literal(spec.default) if spec.default is not None else expr
        expr = f"(case lower({expr}) {cases} else {fallback} end)"
    elif spec.default is not None:
        expr = f"coalesce({expr}, {sql_literal(spec.default)})"
    if spec.prefix:
        expr = f"({sql_literal(spec.prefix)} || {expr})"
    return expr
