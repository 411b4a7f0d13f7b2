"""`hotline report`: the month's and the year to date's KPI sums per prefecture (db.kpi_totals.read, counted by
PostgreSQL from 1 January to the month's end, Asia/Shanghai) and the stored targets for the month, its quarter and
its year (db.targets), laid out by hotline.report.table, as CSV, HTML or XLSX."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from db import kpi_totals
from db import targets as targets_db
from hotline.clock import Clock
from hotline.kpi import DEFAULTS, KpiParams
from hotline.kpi.targets import Period
from hotline.report import table as layout
from hotline.report.html import to_html
from hotline.report.xlsx import to_xlsx

TZ = ZoneInfo("Asia/Shanghai")
FORMATS = ("csv", "xlsx", "html")


async def read_targets(conn: Any, month: Period) -> list[layout.StoredTarget]:
    """The targets stored for the month, its quarter and its year."""
    found: list[layout.StoredTarget] = []
    for period in (month.text, f"{month.starts.year}Q{(month.starts.month - 1) // 3 + 1}", str(month.starts.year)):
        for r in await targets_db.list_targets(conn, period):
            found.append(layout.StoredTarget(r["prefecture"], r["period"], r["measure"], float(r["target"])))
    return found


async def build(
    conn: Any, month: Period, *, only: str | None = None, params: KpiParams = DEFAULTS
) -> layout.ReportTable:
    """The month's table; the database sums the calls (no row per call is read)."""
    year_start, since, until = layout.bounds(month, TZ)
    totals = await kpi_totals.read(conn, year_start, since, until, params, matters=layout.MATTERS)
    month_totals = layout.totals_of_sums(totals.month.by_prefecture, totals.month.hotline, params)
    ytd_totals = layout.totals_of_sums(totals.year.by_prefecture, totals.year.hotline, params)
    targets = await read_targets(conn, month)
    return layout.build_from_totals(month, month_totals, ytd_totals, targets, only=only, params=params)


async def render(conn: Any, month: Period, fmt: str, clock: Clock, *, only: str | None = None) -> bytes:
    """The report's bytes: CSV (no time in it), HTML or XLSX (the clock's now as generated-at)."""
    table = await build(conn, month, only=only)
    if fmt == "csv":
        return layout.to_csv(table)
    if fmt == "html":
        return to_html(table, clock.now())
    return to_xlsx(table, clock.now())
