"""Targets (目标值) per prefecture and period: the measure vocabulary and the checked targets file, all or nothing.

A targets file is a CSV (UTF-8, with or without BOM, or GB18030) with four columns, English or Chinese headers in
any order; other columns (a note, 备注) are read past:

- ``prefecture`` (州市, 地区): one of the 16 codes (530100), its name (昆明市) or short name (昆明), or ``province``
  (全省) for the whole province;
- ``period`` (期间, 时段): ``2026-11`` a month, ``2026Q2`` a quarter, ``2026`` a year;
- ``measure`` (指标): an id of ``MEASURES`` (answer_rate, matters, ...) or its Chinese name (接通率, ...);
- ``target`` (目标, 目标值): a rate as a fraction in [0, 1] or a percent (``98%``), a count as a whole number
  (``100000``), a time in seconds.

The file is checked completely before anything is stored: every problem is reported as ``FILE:LINE: column:
problem``. A (prefecture, period, measure) given twice is a problem. This module does no I/O beyond reading the
file it is given (``read_targets_file``); ``parse_targets`` works on bytes.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path

from hotline.caller.prefectures import PREFECTURES
from hotline.errors import HotlineError
from hotline.kpi.model import DEFINITIONS, Unit

PROVINCE = "province"
PROVINCE_NAMES = ("province", "全省", "云南省", "云南", "省")


class MeasureUnit(StrEnum):
    RATIO = "ratio"  # a fraction in [0, 1]
    COUNT = "count"  # a whole number of calls, matters, people
    SECONDS = "seconds"


@dataclass(frozen=True)
class Measure:
    id: str
    name: str  # the name on the province's forms
    unit: MeasureUnit
    higher_is_better: bool = True


def _from_kpi() -> tuple[Measure, ...]:
    lower = {"abandon_rate", "asa"}
    units = {Unit.RATIO: MeasureUnit.RATIO, Unit.SECONDS: MeasureUnit.SECONDS}
    return tuple(
        Measure(d.id, d.name, units[d.unit], d.id not in lower)
        for d in DEFINITIONS
        if d.id != "talk_time"  # a talk time is neither good nor bad when longer: no target
    )


#: Every measure a target may be set for: the KPIs of hotline.kpi (same ids), then the programme's counts.
MEASURES: tuple[Measure, ...] = (
    *_from_kpi(),
    Measure("mediation_success_rate", "调解成功率", MeasureUnit.RATIO),
    Measure("consultations", "法律咨询人次", MeasureUnit.COUNT),
    Measure("matters", "法律服务事项件数", MeasureUnit.COUNT),
    Measure("legal_aid", "法律援助件数", MeasureUnit.COUNT),
    Measure("mediation", "人民调解件数", MeasureUnit.COUNT),
    Measure("notary", "公证事项件数", MeasureUnit.COUNT),
    Measure("appraisal", "司法鉴定件数", MeasureUnit.COUNT),
    Measure("arbitration", "仲裁引导件数", MeasureUnit.COUNT),
)
BY_ID = {m.id: m for m in MEASURES}
_BY_NAME = {m.name: m for m in MEASURES}

COLUMNS: dict[str, tuple[str, ...]] = {
    "prefecture": ("prefecture", "州市", "地区", "州(市)"),
    "period": ("period", "期间", "时段", "周期"),
    "measure": ("measure", "指标"),
    "target": ("target", "目标", "目标值"),
}
_PERIOD = re.compile(r"^(\d{4})(?:-(\d{1,2})|[-]?[Qq]([1-4]))?$")


class PeriodKind(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


@dataclass(frozen=True)
class Period:
    """A month, quarter or year: ``text`` is its canonical spelling (2026-11, 2026Q2, 2026); [starts, ends)."""

    text: str
    kind: PeriodKind
    starts: date
    ends: date


def parse_period(text: str) -> Period:
    """`2026-11`, `2026Q2` (or 2026-Q2, 2026q2), `2026`; ValueError otherwise."""
    m = _PERIOD.match(text.strip())
    if not m or not 2000 <= int(m[1]) <= 2100:
        raise ValueError(f"{text.strip()!r} is not a period: expected 2026-11 (month), 2026Q2 (quarter) or 2026 (year)")
    year = int(m[1])
    if m[2] is not None:
        month = int(m[2])
        if not 1 <= month <= 12:
            raise ValueError(f"{text.strip()!r}: month {month} is not 1 to 12")
        ends = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return Period(f"{year}-{month:02d}", PeriodKind.MONTH, date(year, month, 1), ends)
    if m[3] is not None:
        q = int(m[3])
        ends = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
        return Period(f"{year}Q{q}", PeriodKind.QUARTER, date(year, 3 * q - 2, 1), ends)
    return Period(str(year), PeriodKind.YEAR, date(year, 1, 1), date(year + 1, 1, 1))


def parse_prefecture(text: str) -> str:
    """A prefecture code (530100), its name or short name (昆明市, 昆明), or `province`; ValueError otherwise."""
    value = text.strip()
    if value.lower() in PROVINCE_NAMES:
        return PROVINCE
    for p in PREFECTURES:
        if value in (p.code, p.name, p.short):
            return p.code
    raise ValueError(f"{value!r} is not one of the 16 prefecture codes (530100 ... 533400), their names, or province")


def parse_measure(text: str) -> Measure:
    value = text.strip()
    found = BY_ID.get(value.lower()) or _BY_NAME.get(value)
    if found is None:
        raise ValueError(f"{value!r} is not a measure: expected one of {', '.join(BY_ID)}")
    return found


def parse_target(text: str, measure: Measure) -> Decimal:
    """A rate as a fraction in [0, 1] or a percent (98%), a count as a whole number (100000 or 100,000), seconds."""
    value = text.strip().replace("％", "%")
    percent = value.endswith("%")
    digits = value.removesuffix("%").strip()
    if measure.unit is MeasureUnit.COUNT:
        digits = digits.replace(",", "").replace("_", "")
    try:
        number = Decimal(digits)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a number")
    if number < 0:
        raise ValueError(f"{value} is negative")
    if measure.unit is MeasureUnit.RATIO:
        if percent:
            number = number / 100
        if number > 1:
            hint = f" (write {value}% for a percent)" if not percent and number <= 100 else ""
            raise ValueError(f"{value} is above 100 % for the rate {measure.id}{hint}")
        return number.normalize() if number else Decimal(0)
    if percent:
        raise ValueError(f"{value}: {measure.id} is a {measure.unit.value}, not a rate")
    if measure.unit is MeasureUnit.COUNT and number != number.to_integral_value():
        raise ValueError(f"{value}: {measure.id} is a count, a whole number")
    return number.quantize(Decimal(1)) if measure.unit is MeasureUnit.COUNT else number


@dataclass(frozen=True)
class Target:
    prefecture: str  # a prefecture code or "province"
    period: Period
    measure: Measure
    target: Decimal
    line: int


@dataclass(frozen=True)
class Problem:
    line: int
    column: str
    problem: str

    def render(self, path: Path) -> str:
        return f"{path}:{self.line}: {self.column}: {self.problem}"


class TargetsFileError(HotlineError):
    """A rejected targets file: every problem, one per line as ``FILE:LINE: column: problem``."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.path = path
        self.found = problems
        self.problems = [p.render(path) for p in problems]
        super().__init__(
            f"targets file {path} rejected, nothing stored ({len(problems)} problem(s)):\n" + "\n".join(self.problems)
        )


@dataclass(frozen=True)
class TargetsFile:
    path: Path
    targets: list[Target]


def _decode(path: Path, raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise TargetsFileError(path, [Problem(1, "file", "neither UTF-8 nor GB18030 text")])


def read_targets_file(path: Path) -> TargetsFile:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TargetsFileError(path, [Problem(1, "file", f"cannot read the file: {exc.strerror}")]) from None
    return parse_targets(path, raw)


def parse_targets(path: Path, raw: bytes) -> TargetsFile:
    """Check a targets file's content (``path`` names it in messages); TargetsFileError with every problem."""
    reader = csv.reader(io.StringIO(_decode(path, raw)))
    rows, last = [], 0
    for row in reader:  # a row starts after the last line of the one before (a quoted cell may span lines)
        rows.append((last + 1, row))
        last = reader.line_num
    rows = [(line, row) for line, row in rows if any(c.strip() for c in row)]
    if not rows:
        raise TargetsFileError(path, [Problem(1, "file", "the file is empty: expected a header and targets")])
    header_line, first = rows[0]
    header = [c.strip().lower() for c in first]
    index: dict[str, int] = {}
    problems: list[Problem] = []
    for column, names in COLUMNS.items():
        where = [i for i, h in enumerate(header) if h in names]
        if not where:
            problems.append(
                Problem(header_line, column, f"no {column} column: expected a header named one of {', '.join(names)}")
            )
        elif len(where) > 1:
            problems.append(Problem(header_line, column, f"given {len(where)} times in the header"))
        else:
            index[column] = where[0]
    if problems:
        raise TargetsFileError(path, problems)

    targets: list[Target] = []
    seen: dict[tuple[str, str, str], int] = {}
    for line, row in rows[1:]:
        target = _row(line, {c: row[i].strip() if i < len(row) else "" for c, i in index.items()}, problems)
        if target is None:
            continue
        key = (target.prefecture, target.period.text, target.measure.id)
        if key in seen:
            problems.append(
                Problem(
                    line,
                    "measure",
                    f"{target.measure.id} for {target.prefecture} in {target.period.text} "
                    f"already given at line {seen[key]}",
                )
            )
            continue
        seen[key] = line
        targets.append(target)
    if problems:
        raise TargetsFileError(path, problems)
    if not targets:
        raise TargetsFileError(path, [Problem(header_line, "file", "the file holds no targets, only a header")])
    return TargetsFile(path=path, targets=targets)


def _row(line: int, cells: dict[str, str], problems: list[Problem]) -> Target | None:
    """One row's target, or None with its problems (every column's) added to `problems`."""
    before = len(problems)
    for column, cell in cells.items():
        if not cell:
            problems.append(Problem(line, column, "empty"))
    prefecture = period = measure = value = None
    if cells["prefecture"]:
        try:
            prefecture = parse_prefecture(cells["prefecture"])
        except ValueError as exc:
            problems.append(Problem(line, "prefecture", str(exc)))
    if cells["period"]:
        try:
            period = parse_period(cells["period"])
        except ValueError as exc:
            problems.append(Problem(line, "period", str(exc)))
    if cells["measure"]:
        try:
            measure = parse_measure(cells["measure"])
        except ValueError as exc:
            problems.append(Problem(line, "measure", str(exc)))
    if measure is not None and cells["target"]:
        try:
            value = parse_target(cells["target"], measure)
        except ValueError as exc:
            problems.append(Problem(line, "target", str(exc)))
    if len(problems) > before or prefecture is None or period is None or measure is None or value is None:
        return None
    return Target(prefecture, period, measure, value, line)
