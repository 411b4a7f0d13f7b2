"""`hotline report` against a real PostgreSQL: tests/support/kpi_day.py's day written on 10 November 2026 (c8 and
c9 reach into the 11th), a call at the last second of October (the year to date only), one on 1 December
(neither), targets imported from a file; every column of 昆明 and of the total compared with numbers counted by
hand, the CSV and the XLSX read back, and bad input refused by the real command."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
from pathlib import Path

import asyncpg
import openpyxl
import pytest
from aiohttp.test_utils import TestClient, TestServer

from agents.app import create_root
from db import agents
from db import kpi as kpi_db
from db import targets as targets_db
from hotline.clock import FrozenClock
from hotline.config import ConsoleSettings, Settings
from hotline.events import CallEvent
from hotline.kpi.targets import parse_targets
from hotline.report import service
from hotline.report.table import parse_month
from tests.support.cli import hotline
from tests.support.kpi_day import SHANGHAI, Line, at, write_day

NOV_1 = dt.datetime(2026, 11, 1, tzinfo=SHANGHAI)
NOV_10 = dt.datetime(2026, 11, 10, tzinfo=SHANGHAI)
OCT_31 = dt.datetime(2026, 10, 31, tzinfo=SHANGHAI)
DEC_1 = dt.datetime(2026, 12, 1, tzinfo=SHANGHAI)
TARGETS = """prefecture,period,measure,target
全省,2026,接通率,90%
昆明,2026,接通率,70%
昆明,2026Q4,接通率,80%
昆明,2026-11,满意率,95%
昆明,2026,平均应答速度,15
昆明,2026,放弃率,5%
""".encode()


@pytest.fixture
async def month(conn: asyncpg.Connection) -> None:
    await write_day(conn, NOV_10)
    line = Line(conn, sips=100)
    li = await conn.fetchval("SELECT id FROM agents WHERE username = 'li'")
    # 昆明, 23:59:59 on 31 October: answered by li after 8 s (in November), no survey: the year to date only
    october = await line.inbound("13908712345", at(23, 59, 59, OCT_31))
    await line.enqueue(october, "legal_consult", at(23, 59, 59, OCT_31))
    await line.talk(october, "legal_consult", li, at(0, 0, 7, NOV_1), at(0, 3, 7, NOV_1), by_caller=True)
    await line.end(october, "answered", at(0, 3, 10, NOV_1))
    # 昆明, midnight of 1 December: abandons after 30 s; in no column of the November report
    december = await line.inbound("13908712345", DEC_1)
    await line.enqueue(december, "legal_consult", at(0, 0, 5, DEC_1))
    await line.leave(december, "legal_consult", CallEvent.ABANDON, at(0, 0, 35, DEC_1), 30.0)
    await line.end(december, "abandoned", at(0, 0, 35, DEC_1))
    # 昆明, 10 November: a call `hotline simulate` placed (signed Call-ID), abandoned after 40 s; in no column
    simulated = await line.inbound("13908712345", at(11, 0, 0, NOV_10))
    await line.enqueue(simulated, "legal_consult", at(11, 0, 20, NOV_10))
    await line.leave(simulated, "legal_consult", CallEvent.ABANDON, at(11, 1, 0, NOV_10), 40.0)
    await line.end(simulated, "abandoned", at(11, 1, 0, NOV_10))
    await conn.execute("UPDATE calls SET simulated = true WHERE id = $1", simulated)
    await line.restamp_calls()
    await targets_db.import_file(conn, parse_targets(Path("targets.csv"), TARGETS), actor="test")


def _kpis(values: dict[str, tuple[float | None, float | None, float | None]]) -> dict[str, float | None]:
    """id -> (month, year to date, target): the four columns of each KPI, the completion from the month and target
    (higher is better: value / target; 平均应答速度, 放弃率: target / value)."""
    out: dict[str, float | None] = {}
    for kpi, (value, ytd, target) in values.items():
        lower = kpi in ("asa", "abandon_rate")
        done = None
        if value is not None and target is not None:
            done = (target / value if value else None) if lower else value / target
        out |= {kpi: value, f"{kpi}_ytd": ytd, f"{kpi}_target": target, f"{kpi}_completion": done}
    return out


# 昆明 in November: inbound c1 c5 c6 c8 c9 c11 c12 c13; offered c1 c5 c6 c8 c9 c12 (c13 still waits), answered
# c1 c5 (called back) c8 c9, within 15 s c1 (10 s) c9 (5 s); live waits 10, 22, 5; rated c1 满意, c9 满意 of the
# eligible c1 c8 c9; c1 answered 是 and 电视广播; needs c1 c5 c6 c8 c9 c12 c13, responded c1 c5 c6 c8 c9; the
# registered poor caller of c5 needs legal aid and was referred. The year to date adds October's call: offered,
# answered live after 8 s, eligible, not rated, a need responded.
KUNMING = {
    "key": "530100",
    "name": "昆明市",
    "inbound": 8,
    "offered": 6,
    "answered": 4,
    "abandoned": 0,
    **_kpis(
        {
            "answer_rate": (4 / 6, 5 / 7, 0.8),  # the quarter's target: no month target for 接通率
            "service_level": (2 / 6, 3 / 7, None),
            "asa": (37 / 3, 45 / 4, 15.0),
            "abandon_rate": (0.0, 0.0, 0.05),  # none abandoned: no completion ratio (target over zero)
            "satisfaction": (1.0, 1.0, 0.95),
            "rating_rate": (2 / 3, 2 / 4, None),
            "first_choice": (1.0, 1.0, None),
            "awareness": (1.0, 1.0, None),
            "response_rate": (5 / 7, 6 / 8, None),
            "legal_aid_rate": (1.0, 1.0, None),
        }
    ),
}
# The province in November: kpi_day's day (inbound c1-c8 c11 c12 c13, offered c1 c2 c3 c5 c6 c7 c8 c12, answered
# c1 c2 c5 c8, abandoned c3) and c9; waits 10, 25, 22, 5; rated c1 满意, c2 不满意, c9 满意 of eligible c1 c2 c8 c9;
# first choice and channel answered by c1 (是, 电视广播) and c2 (否, 亲友介绍); needs 9 + c9, responded 5 + c9;
# poor callers needing legal aid c5 (referred) and c7 (not).
TOTAL = {
    "key": "total",
    "name": "全省合计",
    "inbound": 12,
    "offered": 9,
    "answered": 5,
    "abandoned": 1,
    **_kpis(
        {
            "answer_rate": (5 / 9, 6 / 10, 0.9),
            "service_level": (2 / 9, 3 / 10, None),
            "asa": (62 / 4, 70 / 5, None),
            "abandon_rate": (1 / 9, 1 / 10, None),
            "satisfaction": (2 / 3, 2 / 3, None),
            "rating_rate": (3 / 4, 3 / 5, None),
            "first_choice": (1 / 2, 1 / 2, None),
            "awareness": (1 / 2, 1 / 2, None),
            "response_rate": (6 / 10, 7 / 11, None),
            "legal_aid_rate": (1 / 2, 1 / 2, None),
        }
    ),
}


def _approx(row: dict[str, object]) -> dict[str, object]:
    return {k: pytest.approx(v) if isinstance(v, float) else v for k, v in row.items()}


async def test_every_column_of_kunming_and_the_total(conn: asyncpg.Connection, month: None) -> None:
    table = await service.build(conn, parse_month("2026-11"))
    assert len(table.rows) == 19
    kunming, total = table.row("530100"), table.row("total")
    assert {k: kunming[k] for k in KUNMING} == _approx(KUNMING)
    assert {k: total[k] for k in TOTAL} == _approx(TOTAL)
    # The programme's counts: 昆明 talked with c1 c8 c9 and c5 (its callback); c5 asked for legal aid (the flow's
    # tag) and was referred there; 曲靖's c7 asked for legal aid too (voicemail, no referral); the year adds
    # October's answered call to the consultations; a year target of none.
    counts = ("consultations", "matters", "legal_aid", "mediation", "referred")
    assert [kunming[k] for k in counts] == [4, 1, 1, 0, 1]
    assert [kunming[f"{k}_ytd"] for k in counts] == [5, 1, 1, 0, 1]
    assert [total[k] for k in counts] == [5, 2, 2, 0, 1]
    assert kunming["consultations_target"] is None and kunming["consultations_completion"] is None
    dali = table.row("532900")  # c2 only
    assert (dali["inbound"], dali["answer_rate"], dali["satisfaction"], dali["answer_rate_target"]) == (
        1,
        1.0,
        0.0,
        None,
    )
    assert table.row("outside_yunnan")["abandon_rate"] == 1.0  # c3
    assert table.row("unknown")["offered"] == 0  # c4's 2 s abandon is short
    only = await service.build(conn, parse_month("2026-11"), only="530100")
    assert only.rows == (table.rows[0],)
    october = await service.build(conn, parse_month("2026-10"))
    assert october.row("530100")["answered"] == 1 and october.row("total")["inbound"] == 1


async def test_csv_and_xlsx_read_back(conn: asyncpg.Connection, month: None) -> None:
    nov = parse_month("2026-11")
    clock = FrozenClock(dt.datetime(2026, 12, 7, 3, tzinfo=dt.UTC))
    first = await service.render(conn, nov, "csv", clock)
    assert first.startswith(b"\xef\xbb\xbf")
    assert await service.render(conn, nov, "csv", FrozenClock(dt.datetime(2027, 1, 1, tzinfo=dt.UTC))) == first
    rows = list(csv.reader(io.StringIO(first.decode("utf-8-sig"))))
    km = dict(zip(rows[0], rows[1], strict=True))
    assert (km["州市"], km["接通率 v1"], km["接通率 目标"], km["接通率 完成率"]) == (
        "昆明市",
        "66.7%",
        "80.0%",
        "83.3%",
    )

    data = await service.render(conn, nov, "xlsx", clock)
    assert data == await service.render(conn, nov, "xlsx", clock)
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book["上报表"]
    assert sheet.freeze_panes == "C2"
    headers = [c.value for c in sheet[1]]
    assert headers[:6] == ["代码", "州市", "呼入电话", "呼入排队", "接通", "放弃"]
    total = {h: c.value for h, c in zip(headers, sheet[20], strict=True)}
    assert total["州市"] == "全省合计" and total["接通率 v1"] == pytest.approx(5 / 9)
    assert sheet.cell(row=20, column=headers.index("接通率 v1") + 1).number_format == "0.0%"


async def test_the_command_writes_the_file_and_refuses_bad_input(db: str, tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    done = hotline(db, "report", "--month", "2026-11", "--format", "csv", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(b"\xef\xbb\xbf\xe4\xbb\xa3\xe7\xa0\x81")  # BOM, 代码
    xlsx = tmp_path / "r.xlsx"
    done = hotline(db, "report", "--month", "2026-11", "--prefecture", "昆明", "--out", str(xlsx))  # xlsx: the default
    assert done.returncode == 0, done.stderr
    sheet = openpyxl.load_workbook(xlsx)["上报表"]
    assert [c.value for c in sheet["B"]] == ["州市", "昆明市"]
    for args, expected in (
        (("--month", "2026-13"), "hotline: error: --month '2026-13': expected a month as YYYY-MM, e.g. 2026-11"),
        (("--month", "2026-11", "--prefecture", "999"), "hotline: error: --prefecture '999': expected one of the 16"),
        (("--month", "2026-11", "--format", "pdf"), "hotline: error: --format 'pdf': expected csv, xlsx or html"),
    ):
        bad = hotline(db, "report", *args, "--out", str(tmp_path / "bad"))
        assert bad.returncode == 2 and bad.stderr.startswith(expected), bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    assert not (tmp_path / "bad").exists()


async def test_simulated_calls_are_read_apart(conn: asyncpg.Connection, month: None) -> None:
    """The report's reads leave the simulated call out; asked for, it is there, alone or with the real calls."""
    since, until = NOV_1, DEC_1
    real = await kpi_db.read(conn, since, until)
    only = await kpi_db.read(conn, since, until, kpi_db.Filters(simulated=True))
    both = await kpi_db.read(conn, since, until, kpi_db.Filters(simulated=None))
    assert [c.call_id for c in only.cases] == [await conn.fetchval("SELECT id FROM calls WHERE simulated")]
    assert len(both.cases) == len(real.cases) + 1
    assert len(both.visits) == len(real.visits) + 1


def _basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{user}-password".encode()).decode()}


async def test_the_console_shows_last_month_and_serves_the_files(
    db: str, conn: asyncpg.Connection, month: None
) -> None:
    """The supervisor's report page (the month before the clock's today by default) shows the same figures as the
    command; the download gives each format; a bad month is named; an agent is refused."""
    await agents.create(conn, "boss", "王主任", "supervisor", "boss-password")
    await agents.create(conn, "lawyer9", "赵律师", "lawyer", "lawyer9-password")
    pool = await asyncpg.create_pool(db, min_size=1, max_size=3)
    clock = FrozenClock(dt.datetime(2026, 12, 7, 3, tzinfo=dt.UTC))
    settings = Settings(console=ConsoleSettings(require_registration=False))
    client: TestClient = TestClient(TestServer(create_root(pool, settings, clock)))  # type: ignore[type-arg]
    await client.start_server()
    boss = _basic("boss")
    try:
        async with client.get("/supervisor/report", headers=boss) as resp:
            page = await resp.text()
            assert resp.status == 200, page
        assert 'value="2026-11"' in page and "昆明市" in page and "66.7%" in page  # 昆明's 接通率, as in the CSV
        async with client.get("/supervisor/report", params={"month": "2026-13"}, headers=boss) as resp:
            assert resp.status == 400 and "2026-13" in await resp.text()
        for fmt, start in (("csv", b"\xef\xbb\xbf"), ("xlsx", b"PK"), ("html", b"<!doctype html>")):
            params = {"month": "2026-11", "format": fmt, "prefecture": "530100"}
            async with client.get("/supervisor/report/download", params=params, headers=boss) as resp:
                body = await resp.read()
                assert resp.status == 200 and body.startswith(start), (fmt, body[:200])
                assert f"hotline-report-2026-11-530100.{fmt}" in resp.headers["Content-Disposition"]
        expected = await service.render(conn, parse_month("2026-11"), "csv", clock, only="530100")
        params = {"month": "2026-11", "format": "csv", "prefecture": "530100"}
        async with client.get("/supervisor/report/download", params=params, headers=boss) as resp:
            assert await resp.read() == expected
        async with client.get("/supervisor/report/download", params={"format": "pdf"}, headers=boss) as resp:
            assert resp.status == 400 and "pdf" in (await resp.json())["error"]
        async with client.get("/supervisor/report/download", headers=_basic("lawyer9")) as resp:
            assert resp.status == 403
    finally:
        await client.close()
        await pool.close()


async def test_hotline_up_makes_last_months_report_from_the_20th_once(
    db: str, conn: asyncpg.Connection, month: None, tmp_path: Path
) -> None:
    """The schedule writes nothing on the 19th, the xlsx and csv of November on 20 December (the csv the same bytes
    as the command's), nothing twice; the console lists them and serves them, and no other file."""
    from hotline.config import ReportSettings
    from hotline.report.scheduled import MonthlyReports

    reports = tmp_path / "reports"
    settings = Settings(
        console=ConsoleSettings(require_registration=False), reports=ReportSettings(dir=reports, day=20)
    )
    pool = await asyncpg.create_pool(db, min_size=1, max_size=3)
    try:
        early = MonthlyReports(settings, pool, FrozenClock(dt.datetime(2026, 12, 19, 23, 59, tzinfo=SHANGHAI)))
        assert await early.once() == [] and not reports.exists()
        clock = FrozenClock(dt.datetime(2026, 12, 20, 0, 0, tzinfo=SHANGHAI))
        made = await MonthlyReports(settings, pool, clock).once()
        assert sorted(p.name for p in made) == ["hotline-report-2026-11.csv", "hotline-report-2026-11.xlsx"]
        assert sorted(p.name for p in reports.iterdir()) == sorted(p.name for p in made)  # no .part left
        csv_bytes = (reports / "hotline-report-2026-11.csv").read_bytes()
        assert csv_bytes == await service.render(conn, parse_month("2026-11"), "csv", clock)
        assert await MonthlyReports(settings, pool, clock).once() == []  # once only

        await agents.create(conn, "boss", "王主任", "supervisor", "boss-password")
        client: TestClient = TestClient(TestServer(create_root(pool, settings, clock)))  # type: ignore[type-arg]
        await client.start_server()
        try:
            async with client.get("/supervisor/report", headers=_basic("boss")) as resp:
                page = await resp.text()
            assert "/supervisor/report/files/hotline-report-2026-11.xlsx" in page and "每月 20 日" in page
            async with client.get("/supervisor/report/files/hotline-report-2026-11.csv", headers=_basic("boss")) as r:
                assert r.status == 200 and await r.read() == csv_bytes
            (reports / "notes.txt").write_text("not a report")
            for name in ("notes.txt", "hotline-report-2026-10.csv", "..%2Fsecret.key"):
                async with client.get(f"/supervisor/report/files/{name}", headers=_basic("boss")) as r:
                    assert r.status == 404, name
        finally:
            await client.close()
    finally:
        await pool.close()
