"""A site's own reference ranges for the atrophy flags, read from a CSV file (``params.norms_table``).

Columns structure, side, sex, age_min, age_max, mean_percent_icv, sd_percent_icv and a ``# source:`` line;
checked when the pipeline is constructed (:class:`ConfigError` naming the option, file and line).
The format in full: docs/atrophy-norms-table.md.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path

from dicom_node.errors import ConfigError
from inference.pipelines.atrophy import norms

OPTION = "pipelines.atrophy.params.norms_table"
STRUCTURES = ("frontal", "temporal", "parietal", "occipital", "hippocampus")
SIDES = ("left", "right")
SEXES = ("M", "F")
COLUMNS = ("structure", "side", "sex", "age_min", "age_max", "mean_percent_icv", "sd_percent_icv")
SOURCE_LINE = re.compile(r"#\s*source\s*:(.*)", re.IGNORECASE)


@dataclass(frozen=True)
class NormsRow:
    """One age band of one structure / side / sex (side and sex already expanded from ``both``)."""

    structure: str
    side: str
    sex: str
    age_min: float
    age_max: float
    mean_percent: float
    sd_percent: float
    source: str
    line: int

    def covers(self, structure: str, side: str, sex: str, age: float) -> bool:
        return (self.structure, self.side, self.sex) == (
            structure,
            side,
            sex,
        ) and self.age_min <= age < self.age_max


@dataclass(frozen=True)
class NormsTable:
    """A validated site reference table (see the module docstring)."""

    path: Path
    rows: tuple[NormsRow, ...]

    @property
    def sources(self) -> tuple[str, ...]:
        """The distinct citations, in file order."""
        return tuple(dict.fromkeys(row.source for row in self.rows))

    @property
    def note(self) -> str:
        """The table's name and citation(s), for the summary and the algorithm parameters."""
        return f"site table {self.path.name} ({'; '.join(self.sources)})"

    def row_for(self, structure: str, side: str, sex: str, age: float) -> NormsRow | None:
        """The row covering this region, sex and age; None when the built-in reference applies."""
        return next((row for row in self.rows if row.covers(structure, side, sex, age)), None)

    def assess(
        self, structure: str, side: str, percent_of_icv: float, age: float, sex: str
    ) -> norms.Assessment | None:
        """z and flag against the covering row, or None when no row covers this region / sex / age."""
        row = self.row_for(structure, side, sex, age)
        if row is None:
            return None
        z = (percent_of_icv - row.mean_percent) / row.sd_percent
        return norms.Assessment(expected_percent=row.mean_percent, z=z, atrophy=z < norms.Z_CUTOFF)


def _fail(path: Path, line: int | None, problem: str) -> ConfigError:
    where = f"{path}, line {line}" if line is not None else str(path)
    return ConfigError(f"{OPTION}: {where}: {problem}")


def _choice(value: str, allowed: tuple[str, ...], column: str, path: Path, line: int) -> tuple[str, ...]:
    """The values a cell stands for (``both`` expands to all, except for structure); else an error."""
    text = value.strip()
    if text.lower() == "both" and column != "structure":
        return allowed
    match = next((a for a in allowed if a.lower() == text.lower()), None)
    if match is None:
        choices = " | ".join(allowed if column == "structure" else (*allowed, "both"))
        raise _fail(path, line, f"unknown {column} {text!r} (expected {choices})")
    return (match,)


def _number(value: str, column: str, path: Path, line: int) -> float:
    try:
        number = float(value)
    except ValueError:
        raise _fail(path, line, f"{column} {value.strip()!r} is not a number") from None
    if not math.isfinite(number):
        raise _fail(path, line, f"{column} {value.strip()!r} is not a finite number")
    return number


def load_norms_table(value: object) -> NormsTable:
    """Read and check the table named by ``params.norms_table`` (a path); ConfigError on any problem."""
    path = Path(str(value)).expanduser()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, None, f"cannot be read ({exc.__class__.__name__}: {exc})") from None
    lines = text.splitlines()
    default_source = ""
    first = 0
    source_line = SOURCE_LINE.fullmatch(lines[0].strip()) if lines else None
    if source_line is not None:
        default_source = source_line.group(1).strip()
        if not default_source:
            raise _fail(path, 1, "the '# source:' line names no source")
        first = 1
    reader = csv.reader(lines[first:])
    header: list[str] | None = None
    header_line = 0
    rows: list[NormsRow] = []
    for cells in reader:
        line = first + reader.line_num
        if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        if header is None:
            header, header_line = [c.strip().lower() for c in cells], line
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise _fail(
                    path, line, f"missing column(s) {', '.join(missing)} (header: {', '.join(header)})"
                )
            if not default_source and "source" not in header:
                raise _fail(
                    path,
                    1,
                    "no source: the first line must be '# source: <citation>' (or add a source column)",
                )
            continue
        if len(cells) > len(header):
            raise _fail(path, line, f"{len(cells)} cells, the header (line {header_line}) has {len(header)}")
        record = dict(zip(header, [c.strip() for c in cells], strict=False))
        rows.extend(_rows(record, default_source, path, line))
    if header is None or not rows:
        raise _fail(path, None, f"no data rows (expected a header with the columns {', '.join(COLUMNS)})")
    _check_overlaps(rows, path)
    return NormsTable(path=path, rows=tuple(rows))


def _rows(record: dict[str, str], default_source: str, path: Path, line: int) -> list[NormsRow]:
    """The rows (one per side and sex) that one CSV line stands for, after checking its cells."""
    for column in COLUMNS:
        if not record.get(column):
            raise _fail(path, line, f"empty {column}")
    (structure,) = _choice(record["structure"], STRUCTURES, "structure", path, line)
    sides = _choice(record["side"], SIDES, "side", path, line)
    sexes = _choice(record["sex"], SEXES, "sex", path, line)
    age_min = _number(record["age_min"], "age_min", path, line)
    age_max = _number(record["age_max"], "age_max", path, line)
    mean = _number(record["mean_percent_icv"], "mean_percent_icv", path, line)
    sd = _number(record["sd_percent_icv"], "sd_percent_icv", path, line)
    if age_min < 0 or age_min >= age_max:
        raise _fail(
            path, line, f"age band [{age_min:g}, {age_max:g}) is empty or negative (age_min < age_max)"
        )
    if mean <= 0:
        raise _fail(path, line, f"mean_percent_icv must be > 0, got {mean:g}")
    if sd <= 0:
        raise _fail(path, line, f"sd_percent_icv must be > 0, got {sd:g}")
    source = record.get("source") or default_source
    if not source:
        raise _fail(path, line, "no source: empty source cell and no '# source:' first line")
    return [
        NormsRow(structure, side, sex, age_min, age_max, mean, sd, source, line)
        for side in sides
        for sex in sexes
    ]


def _check_overlaps(rows: list[NormsRow], path: Path) -> None:
    by_key: dict[tuple[str, str, str], list[NormsRow]] = {}
    for row in rows:
        by_key.setdefault((row.structure, row.side, row.sex), []).append(row)
    for (structure, side, sex), group in by_key.items():
        group.sort(key=lambda r: (r.age_min, r.line))
        for before, after in itertools.pairwise(group):
            if after.age_min < before.age_max:
                later, earlier = sorted((before, after), key=lambda r: r.line, reverse=True)
                raise _fail(
                    path,
                    later.line,
                    f"age band [{later.age_min:g}, {later.age_max:g}) of {structure} {side} {sex} overlaps"
                    f" [{earlier.age_min:g}, {earlier.age_max:g}) on line {earlier.line}",
                )
