"""The registry check: the seed files (seeds/*.csv: surveys, scales, labels, touchpoints,
comment themes) validated before dbt runs, each problem named by file, line and rule.

A registry typo changes published numbers silently (a swapped scale drops a survey's
answers as out of range, a trailing blank in a survey id makes its answers
`unknown_survey`), and a malformed seed file fails `dbt seed` with DuckDB's CSV sniffer
dump. `ces build` runs this check first; any problem fails the dbt step, so nothing is
rebuilt and the serving copy stays as it was.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BOOLEANS = {"true", "false"}
METRICS = {"ces", "csat"}
MATCH_TYPES = {"keyword", "pattern"}

# Each seed's columns, in file order (seeds/_seeds.yml documents them).
COLUMNS: dict[str, tuple[str, ...]] = {
    "survey_scales": (
        "survey_id",
        "metric",
        "scale_min",
        "scale_max",
        "higher_is_better",
        "label_set",
        "question_text",
        "language",
    ),
    "scale_labels": ("label_set", "label", "value"),
    "touchpoints": ("touchpoint_id", "touchpoint_name", "journey_stage", "report_color"),
    "comment_themes": ("theme_id", "theme_label", "language", "match_type", "pattern"),
}
# Codes matched against landing data: no blanks at either end, not empty.
CODES: dict[str, tuple[str, ...]] = {
    "survey_scales": ("survey_id", "metric", "label_set", "language"),
    "scale_labels": ("label_set",),
    "touchpoints": ("touchpoint_id", "journey_stage"),
    "comment_themes": ("theme_id", "language", "match_type"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "survey_scales": ("survey_id", "metric", "scale_min", "scale_max", "higher_is_better"),
    "scale_labels": ("label_set", "label", "value"),
    "touchpoints": ("touchpoint_id",),
    "comment_themes": ("theme_id", "match_type", "pattern"),
}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file} line {self.line}: {self.message} [{self.rule}]"


@dataclass
class Row:
    line: int
    values: dict[str, str]


class RegistryError(Exception):
    """The registry check found problems (each named by file, line and rule)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(
            f"registry check: {len(problems)} problem(s) in seeds/ (nothing was rebuilt)\n"
            + "\n".join(f"  {p}" for p in problems)
        )


def label_key(label: str) -> str:
    """A label as answers are matched with it: case, accents and blanks ignored."""
    decomposed = unicodedata.normalize("NFKD", label)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", plain).strip().lower()


def _read(path: Path, name: str, problems: list[Problem]) -> list[Row]:
    """The seed's rows with their physical line numbers (header = line 1); problems of
    the file's form (encoding, BOM, line breaks, header, value count)."""
    file = f"seeds/{path.name}"

    def problem(line: int, rule: str, message: str) -> None:
        problems.append(Problem(file, line, rule, message))

    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        problem(1, "no_bom", "starts with a UTF-8 byte-order mark: save the file without BOM")
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        problem(line, "utf8", f"not valid UTF-8 (byte 0x{data[error.start]:02x}): save as UTF-8")
        return []
    breaks = re.findall(r"\r\n|\r|\n", text)
    if len(set(breaks)) > 1:
        first = breaks[0]
        other = next(i for i, b in enumerate(breaks) if b != first)
        names = {"\r\n": "CR LF", "\n": "LF", "\r": "CR"}
        problem(
            other + 1,
            "line_endings",
            f"line ends with {names[breaks[other]]} but line 1 with {names[first]}: "
            "use one kind of line break in the whole file",
        )
        return []
    if "\r" in breaks and "\r\n" not in breaks:
        problem(1, "line_endings", "CR-only line breaks: save with LF (or CR LF) line breaks")
        return []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as error:
        problem(1, "csv", f"the header is not valid CSV: {error}")
        return []
    expected = COLUMNS[name]
    if header is None:
        problem(1, "header", f"the file is empty: the header must be {','.join(expected)}")
        return []
    if tuple(header) != expected:
        problem(1, "header", f"header is {','.join(header)}; expected {','.join(expected)}")
        return []
    rows: list[Row] = []
    line = 2
    try:
        for record in reader:
            if record:
                if len(record) != len(header):
                    problem(
                        line,
                        "value_count",
                        f"{len(record)} values, the header has {len(header)} columns "
                        "(quote values that hold a comma)",
                    )
                else:
                    rows.append(Row(line, dict(zip(header, record, strict=True))))
            line = reader.line_num + 1
    except csv.Error as error:
        problem(line, "csv", f"not valid CSV: {error}")
    return rows


def _codes(name: str, file: str, rows: list[Row], problems: list[Problem]) -> None:
    for row in rows:
        for column in REQUIRED[name]:
            if not row.values[column].strip():
                problems.append(Problem(file, row.line, "required", f"{column} is empty"))
        for column in CODES[name]:
            value = row.values[column]
            if value != value.strip():
                problems.append(
                    Problem(
                        file,
                        row.line,
                        "blanks",
                        f"{column} {value!r} has blanks at its start or end: landing data "
                        "would not match it",
                    )
                )


def _unique(
    file: str, rows: list[Row], key: Callable[[Row], object], what: str, problems: list[Problem]
) -> None:
    first: dict[object, int] = {}
    for row in rows:
        k = key(row)
        if k in first:
            problems.append(
                Problem(file, row.line, "duplicate_key", f"{what} {k!r} is on line {first[k]} too")
            )
        else:
            first[k] = row.line


def _integer(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


def check_registry(seeds_dir: Path) -> list[Problem]:
    """Every problem of the registry seeds, in file order."""
    problems: list[Problem] = []
    rows: dict[str, list[Row]] = {}
    for name in COLUMNS:
        path = seeds_dir / f"{name}.csv"
        if not path.exists():
            problems.append(Problem(f"seeds/{name}.csv", 1, "missing", "the seed file is missing"))
            rows[name] = []
            continue
        rows[name] = _read(path, name, problems)
        _codes(name, f"seeds/{name}.csv", rows[name], problems)

    scales_file, labels_file = "seeds/survey_scales.csv", "seeds/scale_labels.csv"
    scales = rows["survey_scales"]
    _unique(scales_file, scales, lambda r: r.values["survey_id"].strip(), "survey_id", problems)
    label_sets: dict[str, list[Row]] = {}
    for row in rows["scale_labels"]:
        label_sets.setdefault(row.values["label_set"].strip(), []).append(row)
    used_by: dict[str, list[tuple[Row, int, int]]] = {}
    for row in scales:
        v = row.values
        if v["metric"].strip() and v["metric"].strip() not in METRICS:
            problems.append(
                Problem(
                    scales_file, row.line, "metric", f"metric {v['metric']!r} is not ces or csat"
                )
            )
        if v["higher_is_better"].strip().lower() not in BOOLEANS:
            problems.append(
                Problem(
                    scales_file,
                    row.line,
                    "polarity",
                    f"higher_is_better {v['higher_is_better']!r} is not true or false: "
                    "polarity is registered, never guessed",
                )
            )
        low, high = _integer(v["scale_min"]), _integer(v["scale_max"])
        for column, number in (("scale_min", low), ("scale_max", high)):
            if number is None and v[column].strip():
                problems.append(
                    Problem(scales_file, row.line, "scale", f"{column} {v[column]!r} is no integer")
                )
        if low is not None and high is not None:
            if low >= high:
                problems.append(
                    Problem(
                        scales_file,
                        row.line,
                        "scale",
                        f"scale_min {low} is not below scale_max {high}",
                    )
                )
            elif v["label_set"].strip():
                used_by.setdefault(v["label_set"].strip(), []).append((row, low, high))
        label_set = v["label_set"].strip()
        if label_set and label_set not in label_sets:
            problems.append(
                Problem(
                    scales_file,
                    row.line,
                    "label_set",
                    f"label_set {label_set!r} has no labels in {labels_file}",
                )
            )

    labels = rows["scale_labels"]
    _unique(
        labels_file,
        labels,
        lambda r: (r.values["label_set"].strip(), label_key(r.values["label"])),
        "label (set, label ignoring case, accents and blanks)",
        problems,
    )
    for row in labels:
        value = _integer(row.values["value"])
        if value is None:
            if row.values["value"].strip():
                problems.append(
                    Problem(
                        labels_file,
                        row.line,
                        "value",
                        f"value {row.values['value']!r} is no integer",
                    )
                )
            continue
        for survey, low, high in used_by.get(row.values["label_set"].strip(), []):
            if not low <= value <= high:
                problems.append(
                    Problem(
                        labels_file,
                        row.line,
                        "label_value",
                        f"{row.values['label']!r} = {value} is outside the {low}-{high} scale "
                        f"of survey {survey.values['survey_id'].strip()!r} "
                        f"({scales_file} line {survey.line})",
                    )
                )

    touchpoints_file = "seeds/touchpoints.csv"
    _unique(
        touchpoints_file,
        rows["touchpoints"],
        lambda r: r.values["touchpoint_id"].strip(),
        "touchpoint_id",
        problems,
    )
    for row in rows["touchpoints"]:
        color = row.values["report_color"]
        if color and not re.fullmatch(r"#[0-9a-fA-F]{6}", color):
            problems.append(
                Problem(
                    touchpoints_file,
                    row.line,
                    "report_color",
                    f"report_color {color!r} is not #rrggbb (six hex digits) or empty",
                )
            )
    themes_file = "seeds/comment_themes.csv"
    theme_labels: dict[str, tuple[str, int]] = {}
    for row in rows["comment_themes"]:
        v = row.values
        if v["match_type"].strip() and v["match_type"].strip() not in MATCH_TYPES:
            problems.append(
                Problem(
                    themes_file,
                    row.line,
                    "match_type",
                    f"match_type {v['match_type']!r} is not keyword or pattern",
                )
            )
        if v["match_type"].strip() == "pattern":
            try:
                re.compile(v["pattern"])
            except re.error as error:
                problems.append(
                    Problem(
                        themes_file,
                        row.line,
                        "pattern",
                        f"pattern is no regular expression: {error}",
                    )
                )
        theme = v["theme_id"].strip()
        if theme in theme_labels and theme_labels[theme][0] != v["theme_label"]:
            problems.append(
                Problem(
                    themes_file,
                    row.line,
                    "theme_label",
                    f"theme {theme!r} is labelled {v['theme_label']!r} here and "
                    f"{theme_labels[theme][0]!r} on line {theme_labels[theme][1]}",
                )
            )
        theme_labels.setdefault(theme, (v["theme_label"], row.line))
    return problems


def require_valid_registry(seeds_dir: Path) -> None:
    """Raise RegistryError naming every problem of the registry seeds."""
    problems = check_registry(seeds_dir)
    if problems:
        raise RegistryError(problems)
