"""db/kpi_totals.py against a real PostgreSQL: the sums PostgreSQL counts give the same numerators and denominators
as hotline.kpi's formulas over db/kpi.py's rows (the definition), per prefecture and for the whole hotline, for the
month and the year to date, and the report laid out from them is the report laid out from the rows.

Two data sets: tests/support/kpi_day.py's day on 10 November 2026 (short abandons, a callback connected, a lost and
an open visit, messages, surveys, work orders answered and referred, registered poor callers, a withheld number)
with calls added for what it lacks (re-queued calls, a registered poor caller with several calls, each call of two
withheld numbers alone, calls of October for the year to date, a simulated call and one of December in no part);
and a month of `hotline demo-history`. The default KpiParams and other ones (each queue's own threshold, short
abandons counted, other labels) are both checked.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import asyncpg
import pytest

from db import kpi as kpi_db
from db import kpi_totals
from hotline.events import CallEvent
from hotline.kpi import DEFAULTS, KpiParams, KpiRows
from hotline.kpi.totals import CARD
from hotline.report import service
from hotline.report import table as layout
from tests.support.cli import hotline
from tests.support.kpi_day import POOR_LANDLINE, POOR_MOBILE, SHANGHAI, Line, at, write_day

MONTH = layout.parse_month("2026-11")
NOV_1 = dt.datetime(2026, 11, 1, tzinfo=SHANGHAI)
NOV_10 = dt.datetime(2026, 11, 10, tzinfo=SHANGHAI)
NOV_20 = dt.datetime(2026, 11, 20, tzinfo=SHANGHAI)
OCT_31 = dt.datetime(2026, 10, 31, tzinfo=SHANGHAI)
DEC_1 = dt.datetime(2026, 12, 1, tzinfo=SHANGHAI)
OTHER = KpiParams(
    service_level_s=None,
    short_abandon_s=1.0,
    exclude_short_abandons=False,
    satisfied_labels=frozenset({"满意"}),
    first_choice_labels=frozenset({"否"}),
    awareness_labels=frozenset({"亲友介绍"}),
    poor_registry_kinds=frozenset({"低保"}),
    aid_services=frozenset({"法律咨询"}),
    response_statuses=frozenset({"answered"}),
)


async def _edge_cases(conn: asyncpg.Connection) -> dict[str, UUID]:
    """kpi_day's day on 10 November and the calls it lacks (their times are those of the cases below)."""
    c = await write_day(conn, NOV_10)
    line = Line(conn, sips=100)
    li = await conn.fetchval("SELECT id FROM agents WHERE username = 'li'")

    # r1: 昆明, re-queued: operator times out after 30 s, legal_consult answers after 8 s
    c["r1"] = await line.inbound("13908711111", at(8, 0, 0, NOV_20))
    await line.enqueue(c["r1"], "operator", at(8, 0, 10, NOV_20))
    await line.leave(c["r1"], "operator", CallEvent.EXITWITHTIMEOUT, at(8, 0, 40, NOV_20), 30.0)
    await line.enqueue(c["r1"], "legal_consult", at(8, 0, 41, NOV_20))
    await line.talk(c["r1"], "legal_consult", li, at(8, 0, 49, NOV_20), at(8, 5, 0, NOV_20), by_caller=True)
    await line.end(c["r1"], "answered", at(8, 5, 1, NOV_20))
    # r2: 昆明, nobody staffs the first queue, then a short abandon (2 s) in the next: one abandon of two visits
    c["r2"] = await line.inbound("13908712222", at(9, 0, 0, NOV_20))
    await line.enqueue(c["r2"], "legal_aid", at(9, 0, 5, NOV_20))
    await line.leave(c["r2"], "legal_aid", CallEvent.EXITEMPTY, at(9, 0, 5, NOV_20), 0.0)
    await line.enqueue(c["r2"], "operator", at(9, 0, 6, NOV_20))
    await line.leave(c["r2"], "operator", CallEvent.ABANDON, at(9, 0, 8, NOV_20), 2.0)
    await line.end(c["r2"], "abandoned", at(9, 0, 8, NOV_20))
    # r3: 昆明, two short abandons in a row (one call, two visits): only short abandons, no need
    c["r3"] = await line.inbound("13908713333", at(9, 30, 0, NOV_20))
    await line.enqueue(c["r3"], "operator", at(9, 30, 5, NOV_20))
    await line.leave(c["r3"], "operator", CallEvent.ABANDON, at(9, 30, 7, NOV_20), 2.0)
    await line.enqueue(c["r3"], "operator", at(9, 30, 8, NOV_20))
    await line.leave(c["r3"], "operator", CallEvent.ABANDON, at(9, 30, 11, NOV_20), 3.0)
    await line.end(c["r3"], "abandoned", at(9, 30, 11, NOV_20))

    # p1: the registered poor landline (曲靖, c7's caller) again, answered, a work order referred to 法律援助: the
    # caller counts as referred, through this call
    c["p1"] = await line.inbound(POOR_LANDLINE, at(10, 0, 0, NOV_20))
    await line.enqueue(c["p1"], "legal_consult", at(10, 0, 5, NOV_20))
    await line.talk(c["p1"], "legal_consult", li, at(10, 0, 20, NOV_20), at(10, 6, 0, NOV_20), by_caller=False)
    await line.ticket(c["p1"], "in_progress", "referred", service="法律咨询")
    await line.end(c["p1"], "answered", at(10, 6, 5, NOV_20))
    # p2: the registered poor mobile (昆明, c5's caller) in October: wants legal aid, hangs up in the menu
    c["p2"] = await line.inbound(POOR_MOBILE, at(10, 0, 0, OCT_31))
    await line.ticket(c["p2"], service="法律援助", flags=("legal_aid_hint",))
    await line.end(c["p2"], "ivr_only", at(10, 1, 0, OCT_31))

    # w1, w2: withheld numbers, each flagged registered poor and needing legal aid; w1's is referred. Each call is a
    # caller of its own: 1 of 2 (taken together they would be 1 of 1)
    for name, steps, minute in (("w1", ("in_progress", "referred"), 0), ("w2", (), 30)):
        c[name] = await line.inbound("anonymous", at(11, minute, 0, NOV_20))
        await line.enqueue(c[name], "legal_aid", at(11, minute, 5, NOV_20))
        await line.talk(
            c[name], "legal_aid", li, at(11, minute, 9, NOV_20), at(11, minute + 5, 0, NOV_20), by_caller=True
        )
        await line.ticket(c[name], *steps, service="法律援助", flags=("registered_poor",))
        await line.end(c[name], "answered", at(11, minute + 5, 1, NOV_20))

    # o1: 昆明, 23:59:59 on 31 October, answered in November after 8 s: the year to date only
    c["o1"] = await line.inbound("13908712345", at(23, 59, 59, OCT_31))
    await line.enqueue(c["o1"], "legal_consult", at(23, 59, 59, OCT_31))
    await line.talk(c["o1"], "legal_consult", li, at(0, 0, 7, NOV_1), at(0, 3, 7, NOV_1), by_caller=True)
    await line.end(c["o1"], "answered", at(0, 3, 10, NOV_1))
    # d1: 昆明, midnight of 1 December: in no part
    c["d1"] = await line.inbound("13908712345", DEC_1)
    await line.enqueue(c["d1"], "legal_consult", at(0, 0, 5, DEC_1))
    await line.leave(c["d1"], "legal_consult", CallEvent.ABANDON, at(0, 0, 35, DEC_1), 30.0)
    await line.end(c["d1"], "abandoned", at(0, 0, 35, DEC_1))
    # s1: 昆明, 10 November, placed by `hotline simulate`, abandoned after 40 s: in no part
    c["s1"] = await line.inbound("13908712345", at(11, 0, 0, NOV_10))
    await line.enqueue(c["s1"], "legal_consult", at(11, 0, 20, NOV_10))
    await line.leave(c["s1"], "legal_consult", CallEvent.ABANDON, at(11, 1, 0, NOV_10), 40.0)
    await line.end(c["s1"], "abandoned", at(11, 1, 0, NOV_10))
    await conn.execute("UPDATE calls SET simulated = true WHERE id = $1", c["s1"])
    await line.restamp_calls()
    return c


def _same(sql: layout.KeyTotals, rows: layout.KeyTotals, where: str) -> None:
    """The same figures: counts exactly, sums of seconds to a microsecond (the order of float additions differs)."""
    assert sql.inbound == rows.inbound, where
    assert dict(sql.counts) == dict(rows.counts), where
    for kpi_id in CARD:
        got, want = sql.card[kpi_id], rows.card[kpi_id]
        assert got.definition == want.definition and got.formula == want.formula, (where, kpi_id)
        assert got.denominator == want.denominator, (where, kpi_id, got, want)
        assert got.numerator == pytest.approx(want.numerator, abs=1e-6), (where, kpi_id, got, want)


async def _check(conn: asyncpg.Connection, params: KpiParams) -> dict[str, dict[str, layout.KeyTotals]]:
    """Compare the SQL sums with the rows' formulas for the month and the year to date; the SQL's totals."""
    year_start, since, until = layout.bounds(MONTH, service.TZ)
    totals = await kpi_totals.read(conn, year_start, since, until, params, matters=layout.MATTERS)
    ytd_rows = await kpi_db.read(conn, year_start, until)
    out: dict[str, dict[str, layout.KeyTotals]] = {}
    for part, sums, rows in (
        ("month", totals.month, ytd_rows.in_period(since, until)),
        ("year", totals.year, ytd_rows),
    ):
        from_sql = layout.totals_of_sums(sums.by_prefecture, sums.hotline, params)
        from_rows = layout.totals_of_rows(rows, params)
        empty = layout.totals_of_rows(KpiRows(), params)[layout.TOTAL]
        for key in {*from_sql, *from_rows}:
            _same(from_sql.get(key, empty), from_rows.get(key, empty), f"{part} {key}")
        out[part] = from_sql
    return out


@pytest.mark.parametrize("params", [DEFAULTS, OTHER], ids=["defaults", "other-params"])
async def test_the_sums_are_the_formulas_over_the_rows(conn: asyncpg.Connection, params: KpiParams) -> None:
    await _edge_cases(conn)
    totals = await _check(conn, params)
    month, year = totals["month"], totals["year"]
    kunming, unknown = month["530100"], month["unknown"]
    if params is DEFAULTS:
        # 昆明's November: test_report.py's 8 calls, r1 r2 r3; offered 6 + r1's two visits + r2's first, answered
        # 4 + r1's second (r2's and r3's abandons are short)
        assert kunming.inbound == 11 and year["530100"].inbound == 13  # + o1 and p2 in October
        assert (kunming.card["answer_rate"].numerator, kunming.card["answer_rate"].denominator) == (5, 9)
        # withheld: c4 (a short abandon, not poor), w1 and w2 each a caller: 1 of 2
        assert (unknown.card["legal_aid_rate"].numerator, unknown.card["legal_aid_rate"].denominator) == (1, 2)
        # 曲靖's poor caller referred through p1; 昆明's c5 referred: with w1 and w2, 3 of 4 in the province
        aid = month[layout.TOTAL].card["legal_aid_rate"]
        assert (aid.numerator, aid.denominator) == (3, 4)
        assert year[layout.TOTAL].card["legal_aid_rate"].denominator == 4  # p2's caller is c5's: one caller
    assert month[layout.TOTAL].inbound == 18 and year[layout.TOTAL].inbound == 20


async def test_the_report_from_the_sums_is_the_report_from_the_rows(conn: asyncpg.Connection) -> None:
    await _edge_cases(conn)
    year_start, since, until = layout.bounds(MONTH, service.TZ)
    ytd = await kpi_db.read(conn, year_start, until)
    from_rows = layout.build(MONTH, ytd.in_period(since, until), ytd)
    from_sql = await service.build(conn, MONTH)
    assert from_sql.columns == from_rows.columns and from_sql.notes == from_rows.notes
    for got, want in zip(from_sql.rows, from_rows.rows, strict=True):
        assert got == pytest.approx(want, abs=1e-9), got[0]
    only = await service.build(conn, MONTH, only="unknown")
    assert only.rows == (tuple(from_sql.row("unknown").values()),)


async def test_a_demo_month(db: str) -> None:
    name = db.rpartition("/")[2]
    made = hotline(
        db,
        *("demo-history", "--month", "2026-11", "--calls-per-day", "40", "--seed", "3"),
        *("--database", name, "--into-configured-database"),
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    conn = await asyncpg.connect(db)
    try:
        assert await conn.fetchval("SELECT count(*) FROM vulnerable_registry") > 0
        for params in (DEFAULTS, OTHER):
            totals = await _check(conn, params)
            assert totals["month"][layout.TOTAL].inbound == 1200
            if params is DEFAULTS:  # the demo registry is of 建档立卡 households only
                assert totals["month"][layout.TOTAL].card["legal_aid_rate"].denominator > 0
    finally:
        await conn.close()
