"""The monthly report's table (上报表): rows per prefecture and the province total, KPI columns for the month and
the year to date, targets and completion ratios, and its CSV. Pure: plain rows or sums and targets in, a table
or bytes out (hotline/report/service.py reads the database and writes the file).

Rows: the 16 prefectures in the order of hotline.caller.prefectures, then 云南省外 (outside_yunnan), 未知
(unknown), then 全省合计 (every call). Each KPI has four columns: the month's value (its header names the formula
version, `接通率 v1`), the year to date (from 1 January to the month's end), the month's target and the month's
completion ratio. The month's target is the month's, else the quarter's, else the year's, for the prefecture
(or `province` for the total); 云南省外 and 未知 have none.

The figures come either from rows (`build`: hotline.kpi's formulas over db/kpi.py's rows) or from sums the database
counted (`build_from_totals` with `totals_of_sums`: db/kpi_totals.py, what hotline/report/service.py reads); both
give each row key's KpiValues and counts (KeyTotals), laid out the same way.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from hotline.caller.prefectures import PREFECTURES
from hotline.errors import HotlineError
from hotline.kpi import (
    ABANDON_RATE,
    ANSWER_RATE,
    ASA,
    AWARENESS,
    DEFAULTS,
    FIRST_CHOICE,
    LEGAL_AID_RATE,
    OUTSIDE_YUNNAN,
    RATING_RATE,
    RESPONSE_RATE,
    SATISFACTION,
    SERVICE_LEVEL,
    UNKNOWN,
    CallbackStatus,
    CallCase,
    Definition,
    Group,
    KpiParams,
    KpiRows,
    KpiValue,
    Unit,
    scorecard,
    scorecards,
)
from hotline.kpi.targets import BY_ID, PROVINCE, Period, PeriodKind, parse_period, parse_prefecture
from hotline.kpi.totals import scorecard_of_sums

TOTAL = "total"  # the key of the 全省合计 row
ROW_KEYS: tuple[str, ...] = (*(p.code for p in PREFECTURES), OUTSIDE_YUNNAN, UNKNOWN, TOTAL)
ROW_NAMES: dict[str, str] = {
    **{p.code: p.name for p in PREFECTURES},
    OUTSIDE_YUNNAN: "云南省外",
    UNKNOWN: "未知",
    TOTAL: "全省合计",
}
#: The KPIs of the report, in column order (平均通话时长 is not on the province's form).
KPIS: tuple[Definition, ...] = (
    ANSWER_RATE,
    SERVICE_LEVEL,
    ASA,
    ABANDON_RATE,
    SATISFACTION,
    RATING_RATE,
    FIRST_CHOICE,
    AWARENESS,
    RESPONSE_RATE,
    LEGAL_AID_RATE,
)
#: The services whose calls are matters (法律服务事项) of the programme, by the measure id a target names.
MATTERS: dict[str, str] = {
    "legal_aid": "法律援助",
    "mediation": "人民调解",
    "notary": "公证",
    "appraisal": "司法鉴定",
    "arbitration": "仲裁",
}


def _asked_for(service: str) -> Callable[[CallCase], bool]:
    """A call is a matter of `service` when the flow, the tagger or the work order names it, or a work order was
    referred there."""
    return lambda case: service in case.services or service in case.referrals


def _consulted(case: CallCase) -> bool:
    """An agent talked with the caller: in the call, or in its callback."""
    return case.connected or case.callback is CallbackStatus.CONNECTED


@dataclass(frozen=True)
class Count:
    id: str  # the measure of hotline.kpi.targets a target may be set for
    header: str
    counts: Callable[[CallCase], bool]


#: The programme's counts, in column order after the KPIs: calls of the period counted once each.
COUNTS: tuple[Count, ...] = (
    Count("consultations", "法律咨询人次", _consulted),
    Count("matters", "法律服务事项件数", lambda c: any(_asked_for(s)(c) for s in MATTERS.values())),
    *(Count(measure, BY_ID[measure].name, _asked_for(service)) for measure, service in MATTERS.items()),
    Count("referred", "转介件数", lambda c: bool(c.referrals)),
)
CSV_BOM = b"\xef\xbb\xbf"


class ReportInputError(HotlineError):
    """A bad --month or --prefecture: one line naming the input and what was expected."""


class Kind(StrEnum):
    TEXT = "text"
    COUNT = "count"
    RATIO = "ratio"  # a fraction, shown as a percent
    SECONDS = "seconds"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: Kind
    width: int  # in characters, for the XLSX


Cell = str | float | None


@dataclass(frozen=True)
class StoredTarget:
    """One row of db.targets: a prefecture code or `province`, a period's text (2026-11, 2026Q4, 2026)."""

    prefecture: str
    period: str
    measure: str
    target: float


@dataclass(frozen=True)
class ReportTable:
    month: Period
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    notes: tuple[tuple[str, str], ...]  # (what, explanation): formulas with their versions, target rules

    def row(self, key: str) -> dict[str, Cell]:
        """One row by its key (a prefecture code, outside_yunnan, unknown, total) as column key -> cell."""
        for r in self.rows:
            if r[0] == key:
                return {c.key: v for c, v in zip(self.columns, r, strict=True)}
        raise KeyError(key)


def parse_month(text: str) -> Period:
    """`2026-11` (a month, YYYY-MM); ReportInputError otherwise."""
    try:
        period = parse_period(text)
    except ValueError:
        period = None
    if period is None or period.kind is not PeriodKind.MONTH:
        raise ReportInputError(f"--month {text.strip()!r}: expected a month as YYYY-MM, e.g. 2026-11")
    return period


def due_month(today: dt.date, day: int) -> Period | None:
    """The month whose report is due on `today` when reports are made on `day` of the next month: the previous
    month from that day to the month's end (a service that was down on the day catches up later), else None."""
    if today.day < day:
        return None
    last = today.replace(day=1) - dt.timedelta(days=1)
    return parse_month(f"{last.year:04d}-{last.month:02d}")


def parse_report_prefecture(text: str) -> str:
    """A prefecture code or name (530100, 昆明市, 昆明), outside_yunnan (云南省外) or unknown (未知)."""
    value = text.strip()
    if value in (OUTSIDE_YUNNAN, ROW_NAMES[OUTSIDE_YUNNAN]):
        return OUTSIDE_YUNNAN
    if value in (UNKNOWN, ROW_NAMES[UNKNOWN]):
        return UNKNOWN
    try:
        code = parse_prefecture(value)
    except ValueError:
        code = PROVINCE
    if code == PROVINCE:
        raise ReportInputError(
            f"--prefecture {value!r}: expected one of the 16 prefecture codes (530100 ... 533400) or their names, "
            "outside_yunnan or unknown"
        )
    return code


def bounds(month: Period, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    """(1 January, the month's first instant, the next month's first instant) in the time zone."""

    def midnight(day: dt.date) -> dt.datetime:
        return dt.datetime(day.year, day.month, day.day, tzinfo=tz)

    return midnight(dt.date(month.starts.year, 1, 1)), midnight(month.starts), midnight(month.ends)


def _quarter(month: Period) -> str:
    return f"{month.starts.year}Q{(month.starts.month - 1) // 3 + 1}"


def columns() -> tuple[Column, ...]:
    cols = [
        Column("key", "代码", Kind.TEXT, 16),
        Column("name", "州市", Kind.TEXT, 22),
        Column("inbound", "呼入电话", Kind.COUNT, 10),
        Column("offered", "呼入排队", Kind.COUNT, 10),
        Column("answered", "接通", Kind.COUNT, 8),
        Column("abandoned", "放弃", Kind.COUNT, 8),
    ]
    for d in KPIS:
        kind = Kind.RATIO if d.unit is Unit.RATIO else Kind.SECONDS
        cols += [
            Column(d.id, d.label, kind, max(12, 2 * len(d.name) + 5)),
            Column(f"{d.id}_ytd", f"{d.label} 年累计", kind, max(14, 2 * len(d.name) + 9)),
            Column(f"{d.id}_target", f"{d.name} 目标", kind, max(10, 2 * len(d.name) + 5)),
            Column(f"{d.id}_completion", f"{d.name} 完成率", Kind.RATIO, max(10, 2 * len(d.name) + 7)),
        ]
    for n in COUNTS:
        width = max(10, 2 * len(n.header) + 2)
        cols += [
            Column(n.id, n.header, Kind.COUNT, width),
            Column(f"{n.id}_ytd", f"{n.header} 年累计", Kind.COUNT, width + 4),
            Column(f"{n.id}_target", f"{n.header} 年度目标", Kind.COUNT, width + 4),
            Column(f"{n.id}_completion", f"{n.header} 年度完成率", Kind.RATIO, width + 6),
        ]
    return tuple(cols)


def _counted(rows: KpiRows) -> dict[str, dict[str, float]]:
    """Row key -> count id -> the number of the rows' calls it counts, per prefecture and for the total."""
    out: dict[str, dict[str, float]] = {}
    for case in rows.cases:
        for key in (case.prefecture, TOTAL):
            mine = out.setdefault(key, {n.id: 0.0 for n in COUNTS})
            for n in COUNTS:
                if n.counts(case):
                    mine[n.id] += 1
    return out


def completion(definition: Definition, value: float | None, target: float | None) -> float | None:
    """The value over the target (higher is better), or the target over the value (放弃率, 平均应答速度: lower is
    better); None without a value, a target, or with a zero divisor."""
    if value is None or target is None:
        return None
    if BY_ID[definition.id].higher_is_better:
        return value / target if target else None
    return target / value if value else None


def _target_of(
    targets: Mapping[tuple[str, str, str], float], where: str | None, definition: Definition, periods: Sequence[str]
) -> float | None:
    if where is None:
        return None
    for period in periods:
        found = targets.get((where, period, definition.id))
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class KeyTotals:
    """What the report shows of one row key for one part of the period: its inbound calls, its KPIs (by id, as
    hotline.kpi.scorecard gives them) and its counts (by Count id)."""

    inbound: float
    card: Mapping[str, KpiValue]
    counts: Mapping[str, float]


def totals_of_rows(rows: KpiRows, params: KpiParams = DEFAULTS) -> dict[str, KeyTotals]:
    """Per prefecture key and for TOTAL, computed over the rows by hotline.kpi's formulas."""
    cards = scorecards(rows, Group.PREFECTURE, params)
    cards[TOTAL] = scorecard(rows, params)
    inbound = {k: len(part.cases) for k, part in rows.grouped(Group.PREFECTURE).items()}
    inbound[TOTAL] = len(rows.cases)
    counted = _counted(rows)
    zero = {n.id: 0.0 for n in COUNTS}
    return {k: KeyTotals(float(inbound.get(k, 0)), card, counted.get(k, zero)) for k, card in cards.items()}


def totals_of_sums(
    by_prefecture: Mapping[str, Mapping[str, float]], whole: Mapping[str, float], params: KpiParams = DEFAULTS
) -> dict[str, KeyTotals]:
    """Per prefecture key and for TOTAL (`whole`), from the sums db/kpi_totals.py counts (hotline.kpi.totals.SUMS
    and a sum per Count id)."""

    def of(sums: Mapping[str, float]) -> KeyTotals:
        counts = {n.id: sums.get(n.id, 0.0) for n in COUNTS}
        return KeyTotals(sums.get("inbound", 0.0), scorecard_of_sums(sums, params), counts)

    return {**{k: of(sums) for k, sums in by_prefecture.items()}, TOTAL: of(whole)}


def build(
    month: Period,
    month_rows: KpiRows,
    ytd_rows: KpiRows,
    targets: Sequence[StoredTarget] = (),
    *,
    only: str | None = None,
    params: KpiParams = DEFAULTS,
) -> ReportTable:
    """The report of the month: `month_rows` are the month's rows, `ytd_rows` those from 1 January to the month's
    end; `only` keeps one row (a prefecture code, outside_yunnan or unknown)."""
    month_totals, ytd_totals = totals_of_rows(month_rows, params), totals_of_rows(ytd_rows, params)
    return build_from_totals(month, month_totals, ytd_totals, targets, only=only, params=params)


def build_from_totals(
    month: Period,
    month_totals: Mapping[str, KeyTotals],
    ytd_totals: Mapping[str, KeyTotals],
    targets: Sequence[StoredTarget] = (),
    *,
    only: str | None = None,
    params: KpiParams = DEFAULTS,
) -> ReportTable:
    """The report of the month from each row key's totals for the month and for the year to date (a key missing
    has no calls); `only` keeps one row (a prefecture code, outside_yunnan or unknown)."""
    empty = KeyTotals(0.0, scorecard(KpiRows(), params), {n.id: 0.0 for n in COUNTS})
    by_key = {(t.prefecture, t.period, t.measure): t.target for t in targets}
    periods = (month.text, _quarter(month), str(month.starts.year))

    rows: list[tuple[Cell, ...]] = []
    for key in ROW_KEYS if only is None else (only,):
        mine, ytd = month_totals.get(key, empty), ytd_totals.get(key, empty)
        card = mine.card
        where = PROVINCE if key == TOTAL else key if key not in (OUTSIDE_YUNNAN, UNKNOWN) else None
        cells: list[Cell] = [
            key,
            ROW_NAMES[key],
            mine.inbound,
            card["answer_rate"].denominator,
            card["answer_rate"].numerator,
            card["abandon_rate"].numerator,
        ]
        for d in KPIS:
            value = card[d.id].value
            target = _target_of(by_key, where, d, periods)
            cells += [value, ytd.card[d.id].value, target, completion(d, value, target)]
        for n in COUNTS:
            year_target = by_key.get((where, periods[2], n.id)) if where is not None else None
            done = ytd.counts[n.id] / year_target if year_target else None
            cells += [mine.counts[n.id], ytd.counts[n.id], year_target, done]
        rows.append(tuple(cells))

    notes: list[tuple[str, str]] = [
        ("月份", f"{month.text}（Asia/Shanghai 自然月）；年累计：{month.starts.year}-01-01 至月末"),
        ("目标", f"本月目标取 {periods[0]}，无则 {periods[1]}，再无则 {periods[2]}；全省合计用全省目标"),
        ("完成率", "实际值 / 目标值；放弃率、平均应答速度（越低越好）为 目标值 / 实际值"),
        (
            "件数",
            "法律咨询人次：坐席接通（含回拨接通）的呼入电话；法律援助、人民调解、公证、司法鉴定、仲裁：流程、标签或工单"
            "所涉服务或转介去向为该项的呼入电话，法律服务事项件数为其中任一项；转介件数：工单已转介的呼入电话。"
            "年度完成率 = 年累计 / 年度目标（" + periods[2] + "）",
        ),
    ]
    notes += [(d.label, params.render(d)) for d in KPIS]
    return ReportTable(month, columns(), tuple(rows), tuple(notes))


def cell_text(cell: Cell, kind: Kind) -> str:
    """A cell as the CSV and HTML show it: counts whole, ratios as percents with one decimal."""
    if cell is None:
        return ""
    if isinstance(cell, str):
        return cell
    if kind is Kind.COUNT:
        return f"{cell:.0f}"
    if kind is Kind.RATIO:
        return f"{cell * 100:.1f}%"
    return f"{cell:.1f}"


def to_csv(table: ReportTable) -> bytes:
    """UTF-8 with BOM (what Excel in China opens), CRLF lines; the same table gives the same bytes (no time in it).
    The header row, a row per prefecture and the total, an empty line, then the notes (说明)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.header for c in table.columns])
    for row in table.rows:
        writer.writerow([cell_text(v, c.kind) for c, v in zip(table.columns, row, strict=True)])
    writer.writerow([])
    for what, text in table.notes:
        writer.writerow(["说明", what, text])
    return CSV_BOM + out.getvalue().encode("utf-8")
