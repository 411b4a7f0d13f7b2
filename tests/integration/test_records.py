"""Supervisors' records, through a real aiohttp server of the console (agents.app.create_root) over the real
PostgreSQL: the work-order search (each filter narrows it, newest first, paged, numbers masked, wrong filters
refused by name), a work order's page with its call, transcript and recordings (audited), and a recording
played with Range (one 'listen' per playback, not per chunk) or downloaded ('export'). Agents are refused."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
import re
import struct
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from agents.app import create_root
from db import agents, calls, tickets
from hotline.caller.phone import parse_caller
from hotline.clock import FrozenClock
from hotline.config import ConsoleSettings, Settings
from tests.support.calls import CALLER, KEYS, WAGES, answered_call

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 12, 7, 15, 0, tzinfo=SHANGHAI)  # the clock's "today" is 2026-12-07
BEIJING = "01065551234"
FULL_NUMBERS = (CALLER, "8613908712345", BEIJING, "65551234")
USERS = (("lawyer01", "张律师", "lawyer"), ("lawyer02", "李律师", "lawyer"), ("boss", "王主任", "supervisor"))
USERS += (("root", "系统管理员", "admin"),)
Client = TestClient[web.Request, web.Application]


def _basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{user}-password".encode()).decode()}


@dataclass
class Records:
    client: Client
    pool: asyncpg.Pool
    orders: dict[str, str]  # label -> work-order number
    recording_id: int
    wav: Path
    opened: list[Client] = field(default_factory=list)

    async def json(self, path: str, user: str = "boss", **params: str) -> tuple[int, Any]:
        async with self.client.get(path, params=params, headers=_basic(user)) as resp:
            assert resp.content_type == "application/json", resp.content_type
            return resp.status, await resp.json()

    async def found(self, **params: str) -> list[str]:
        status, body = await self.json("/supervisor/tickets.json", **params)
        assert status == 200, body
        numbers = [t["number"] for t in body["tickets"]]
        assert body["total"] == len(numbers)
        return [label for number in numbers for label, n in self.orders.items() if n == number]

    async def audits(self) -> list[tuple[str, str, str, str]]:
        """The audit rows of reads, playbacks and downloads (not the logins)."""
        rows = await self.pool.fetch(
            "SELECT actor, action, object_type, object_id FROM audit_log WHERE action <> 'login' ORDER BY id"
        )
        return [(r["actor"], r["action"], r["object_type"], r["object_id"]) for r in rows]

    async def browser(self, username: str) -> Client:
        """A browser logged in through the login form (its own cookie jar, session cookie)."""
        browser: Client = TestClient(self.client.server)
        self.opened.append(browser)
        await browser.start_server()
        async with browser.get("/account/login") as resp:
            csrf = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
        assert csrf is not None
        form = {"username": username, "password": f"{username}-password", "csrf": csrf.group(1), "next": "/"}
        async with browser.post("/account/login", data=form, allow_redirects=False) as resp:
            assert resp.status == 303, await resp.text()
        return browser


def _write_wav(path: Path, seconds: float = 0.5, rate: int = 8000) -> bytes:
    """A real mono 16-bit WAV: a 440 Hz tone."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(int(seconds * rate))
    )
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return path.read_bytes()


async def _seed(conn: asyncpg.Connection, wav: Path) -> tuple[dict[str, str], int]:
    """Four work orders, one per prefecture group, on different days, agents, areas and statuses."""
    ids = {a.username: a.id for a in [await agents.get(conn, u) for u, _, _ in USERS]}

    async def order(day: int, hour: int, **fields: Any) -> str:
        at = dt.datetime(2026, 12, day, hour, 0, tzinfo=SHANGHAI)
        made = await tickets.create(conn, prefix="YN", tz="Asia/Shanghai", actor="system", now=at, **fields)
        return made.number

    kunming_call = await answered_call(conn, ids["lawyer01"], WAGES, queue="legal_aid")
    data = _write_wav(wav)
    await calls.add_recording(conn, kunming_call, str(wav), 1, 8000, 0.5, len(data), hashlib.sha256(data).hexdigest())
    recording_id = await conn.fetchval("SELECT id FROM recordings WHERE call_id = $1", kunming_call)
    beijing_call = await calls.start(conn, sip_call_id="sip-beijing", caller=parse_caller(BEIJING), keys=KEYS)
    withheld_call = await calls.start(conn, sip_call_id="sip-withheld", caller=parse_caller("anonymous"), keys=KEYS)
    orders = {
        "kunming": await order(
            7,
            9,
            call_id=kunming_call,
            assignee_id=ids["lawyer01"],
            caller_masked="139****2345",
            legal_area="劳动争议",
            deadline=NOW - dt.timedelta(hours=1),
        ),
        "dali": await order(
            5,
            10,
            assignee_id=ids["lawyer02"],
            caller_masked="138****0001",
            prefecture_code="532900",
            legal_area="婚姻家庭",
        ),
        "beijing": await order(3, 11, call_id=beijing_call, assignee_id=ids["lawyer01"], legal_area="合同纠纷"),
        "withheld": await order(1, 12, call_id=withheld_call, legal_area="劳动争议"),
    }
    await tickets.transition(conn, orders["dali"], "in_progress", actor="lawyer02")
    for step in ("in_progress", "answered", "closed"):
        await tickets.transition(conn, orders["beijing"], step, actor="lawyer01", answer="已答复")
    return orders, recording_id


@pytest.fixture
async def records(db: str, tmp_path: Path) -> AsyncIterator[Records]:
    pool = await asyncpg.create_pool(db, min_size=1, max_size=6)
    async with pool.acquire() as conn:
        for username, name, role in USERS:
            await agents.create(conn, username, name, role, f"{username}-password")
        orders, recording_id = await _seed(conn, tmp_path / "call.wav")
    settings = Settings(console=ConsoleSettings(require_registration=False))
    client: Client = TestClient(TestServer(create_root(pool, settings, FrozenClock(NOW))))
    await client.start_server()
    found = Records(client, pool, orders, recording_id, tmp_path / "call.wav")
    try:
        yield found
    finally:
        for browser in found.opened:
            await browser.close()
        await client.close()
        await pool.close()


# ---- the search


async def test_without_filters_every_work_order_is_listed_newest_first(records: Records) -> None:
    assert await records.found() == ["kunming", "dali", "beijing", "withheld"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"number": "20261205"}, ["dali"]),
        ({"number": "yn-20261203-000001"}, ["beijing"]),
        ({"date_from": "2026-12-05"}, ["kunming", "dali"]),
        ({"date_to": "2026-12-03"}, ["beijing", "withheld"]),
        ({"date_from": "2026-12-03", "date_to": "2026-12-05"}, ["dali", "beijing"]),
        ({"prefecture": "530100"}, ["kunming"]),
        ({"prefecture": "532900"}, ["dali"]),
        ({"prefecture": "outside_yunnan"}, ["beijing"]),
        ({"prefecture": "unknown"}, ["withheld"]),
        ({"legal_area": "劳动争议"}, ["kunming", "withheld"]),
        ({"status": "closed"}, ["beijing"]),
        ({"status": "in_progress"}, ["dali"]),
        ({"agent": "lawyer01"}, ["kunming", "beijing"]),
        ({"agent": "lawyer01", "legal_area": "劳动争议"}, ["kunming"]),
        ({"agent": "boss"}, []),
    ],
)
async def test_each_filter_narrows_the_search_to_the_matching_work_orders(
    records: Records, filters: dict[str, str], expected: list[str]
) -> None:
    assert await records.found(**filters) == expected


async def test_a_local_day_runs_from_midnight_to_midnight_in_the_hotlines_zone(records: Records) -> None:
    async with records.pool.acquire() as conn:  # 23:30 on the 4th in Shanghai is 15:30 UTC, still the 4th
        late = await tickets.create(
            conn, prefix="YN", tz="Asia/Shanghai", actor="system", now=dt.datetime(2026, 12, 4, 23, 30, tzinfo=SHANGHAI)
        )
    records.orders["late"] = late.number
    assert await records.found(date_from="2026-12-04", date_to="2026-12-04") == ["late"]
    assert await records.found(date_from="2026-12-05", date_to="2026-12-05") == ["dali"]


async def test_results_are_paged_with_the_total_and_the_page_size_is_bounded(records: Records) -> None:
    status, first = await records.json("/supervisor/tickets.json", per_page="3")
    assert status == 200 and first["total"] == 4 and first["pages"] == 2
    assert [t["number"] for t in first["tickets"]] == [records.orders[k] for k in ("kunming", "dali", "beijing")]
    status, second = await records.json("/supervisor/tickets.json", per_page="3", page="2")
    assert [t["number"] for t in second["tickets"]] == [records.orders["withheld"]] and second["total"] == 4
    status, body = await records.json("/supervisor/tickets.json", per_page="500")
    assert status == 400 and "per_page" in body["fields"] and "1 到 100" in body["fields"]["per_page"]


async def test_the_json_rows_carry_the_masked_number_deadline_agent_area_and_prefecture(records: Records) -> None:
    status, body = await records.json("/supervisor/tickets.json", number=records.orders["kunming"])
    assert status == 200
    (row,) = body["tickets"]
    assert row["caller_masked"] == "139****2345" and row["prefecture_name"] == "昆明市"
    assert (row["status_name"], row["agent"], row["agent_name"], row["legal_area"]) == (
        "新建",
        "lawyer01",
        "张律师",
        "劳动争议",
    )
    assert row["deadline"] == "2026-12-07 14:00" and row["overdue"] is True
    status, body = await records.json("/supervisor/tickets.json", prefecture="outside_yunnan")
    assert body["tickets"][0]["prefecture_name"] == "云南省外"
    assert body["tickets"][0]["caller_masked"] == "010-****1234"


async def test_the_page_and_both_json_forms_show_numbers_only_masked(records: Records) -> None:
    browser = await records.browser("boss")
    async with browser.get("/supervisor/tickets") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        page = await resp.text()
    numbers = re.findall(r'<tr data-number="([^"]+)"', page)
    assert numbers == [records.orders[k] for k in ("kunming", "dali", "beijing", "withheld")]
    assert "139****2345" in page and "010-****1234" in page and "未显示号码" in page
    assert 'href="/supervisor/tickets">工单查询</a>' in page  # the supervisor's nav links to it
    async with browser.get("/supervisor/tickets", headers={"Accept": "application/json"}) as resp:
        assert resp.content_type == "application/json"
        by_accept = await resp.text()
    assert json.loads(by_accept)["total"] == 4
    async with browser.get("/supervisor/tickets.json") as resp:
        by_path = await resp.text()
    async with browser.get(f"/supervisor/tickets/{records.orders['kunming']}") as resp:
        detail = await resp.text()
    for text in (page, by_accept, by_path, detail):
        for full in FULL_NUMBERS:
            assert full not in text


@pytest.mark.parametrize(
    ("filters", "field", "message"),
    [
        ({"number": "YN'; DROP TABLE tickets;--"}, "number", "工单号只能包含字母、数字"),
        ({"date_from": "07/12/2026"}, "date_from", "格式应为 YYYY-MM-DD"),
        ({"date_from": "2026-02-30"}, "date_from", "格式应为 YYYY-MM-DD"),
        ({"date_from": "2026-12-08"}, "date_from", "不能晚于今天（2026-12-07）"),
        ({"date_to": "2027-01-01"}, "date_to", "不能晚于今天"),
        ({"date_from": "2026-12-05", "date_to": "2026-12-04"}, "date_to", "不能早于起始日期"),
        ({"prefecture": "110000"}, "prefecture", "地区“110000”不在可选范围内"),
        ({"legal_area": "天文"}, "legal_area", "法律领域“天文”不在可选范围内"),
        ({"status": "done"}, "status", "状态“done”不在可选范围内"),
        ({"agent": "nobody"}, "agent", "坐席“nobody”不存在"),
        ({"page": "0"}, "page", "页码应为 1 到 1000 的整数"),
    ],
)
async def test_a_wrong_filter_answers_400_naming_the_field_in_json_and_on_the_page(
    records: Records, filters: dict[str, str], field: str, message: str
) -> None:
    status, body = await records.json("/supervisor/tickets.json", **filters)
    assert status == 400 and list(body["fields"]) == [field] and message in body["fields"][field]
    async with records.client.get(
        "/supervisor/tickets", params=filters, headers={**_basic("boss"), "Accept": "application/json"}
    ) as resp:
        assert resp.status == 400 and message in (await resp.json())["fields"][field]
    async with records.client.get("/supervisor/tickets", params=filters, headers=_basic("boss")) as resp:
        assert resp.status == 400 and resp.content_type == "text/html"
        page = await resp.text()
    assert f'id="error-{field}">' in page and message in page
    assert "<tr data-number=" not in page  # nothing was searched


async def test_agents_are_refused_every_record_route_and_admins_are_admitted(records: Records) -> None:
    number = records.orders["kunming"]
    for path in (
        "/supervisor/tickets.json",
        f"/supervisor/tickets/{number}",
        f"/supervisor/recordings/{records.recording_id}",
    ):
        async with records.client.get(path, headers=_basic("lawyer01")) as resp:
            assert resp.status == 403, path
    browser = await records.browser("lawyer01")
    async with browser.get("/supervisor/tickets") as resp:
        assert resp.status == 403 and "无权访问" in await resp.text()
    async with browser.get("/agent/") as resp:
        assert "工单查询" not in await resp.text()  # not in an agent's nav
    assert await records.audits() == []
    status, body = await records.json("/supervisor/tickets.json", user="root")
    assert status == 200 and body["total"] == 4


# ---- a work order's page


async def test_the_work_order_page_shows_its_call_transcript_and_recording_and_is_audited(records: Records) -> None:
    number = records.orders["kunming"]
    browser = await records.browser("boss")
    async with browser.get(f"/supervisor/tickets/{number}") as resp:
        assert resp.status == 200
        page = await resp.text()
    assert f"工单 {number}" in page and "劳动争议" in page and "张律师" in page
    src = f"/supervisor/recordings/{records.recording_id}"
    assert f'<audio controls preload="none" src="{src}"></audio>' in page
    assert f'href="{src}?download=1"' in page
    assert "老板 拖欠 工资" in page and "农民工 讨薪" in page  # the batch transcript
    assert await records.audits() == [("boss", "read", "ticket", number)]
    assert "<audio" not in await _page(browser, f"/supervisor/tickets/{records.orders['dali']}")  # no call


async def _page(browser: Client, path: str) -> str:
    async with browser.get(path) as resp:
        assert resp.status == 200
        return await resp.text()


async def test_an_unknown_work_order_is_404_and_not_audited(records: Records) -> None:
    browser = await records.browser("boss")
    async with browser.get("/supervisor/tickets/YN-20261207-999999") as resp:
        assert resp.status == 404 and "YN-20261207-999999 不存在" in await resp.text()
    assert await records.audits() == []


# ---- recordings


async def test_a_range_request_gets_exactly_those_bytes_and_a_playback_is_audited_once(records: Records) -> None:
    data = records.wav.read_bytes()
    path = f"/supervisor/recordings/{records.recording_id}"
    async with records.client.get(path, headers={**_basic("boss"), "Range": "bytes=0-1023"}) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes 0-1023/{len(data)}"
        assert resp.headers["Content-Type"] == "audio/wav" and resp.headers["Cache-Control"] == "no-store"
        assert await resp.read() == data[:1024]
    listened = [("boss", "listen", "recording", str(records.recording_id))]
    assert await records.audits() == listened
    async with records.client.get(path, headers={**_basic("boss"), "Range": "bytes=1024-4999"}) as resp:
        assert resp.status == 206 and resp.headers["Content-Range"] == f"bytes 1024-4999/{len(data)}"
        assert await resp.read() == data[1024:5000]
    assert await records.audits() == listened  # the same playback's next chunk
    async with records.client.get(path, headers=_basic("boss")) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "audio/wav"
        assert "Content-Disposition" not in resp.headers
        assert await resp.read() == data
    assert await records.audits() == listened * 2


async def test_a_range_past_the_end_is_416_and_it_and_a_head_are_not_audited(records: Records) -> None:
    size = records.wav.stat().st_size
    path = f"/supervisor/recordings/{records.recording_id}"
    async with records.client.get(path, headers={**_basic("boss"), "Range": f"bytes={size}-"}) as resp:
        assert resp.status == 416 and resp.headers["Content-Range"] == f"bytes */{size}"
    async with records.client.head(path, headers=_basic("boss")) as resp:
        assert resp.status == 200 and resp.headers["Content-Length"] == str(size)
    assert await records.audits() == []


async def test_a_download_is_an_attachment_audited_as_export(records: Records) -> None:
    path = f"/supervisor/recordings/{records.recording_id}"
    async with records.client.get(path, params={"download": "1"}, headers=_basic("root")) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Disposition"] == (
            f'attachment; filename="{records.orders["kunming"]}-{records.recording_id}.wav"'
        )
        assert await resp.read() == records.wav.read_bytes()
    assert await records.audits() == [("root", "export", "recording", str(records.recording_id))]
    (detail,) = await records.pool.fetch("SELECT detail FROM audit_log WHERE action = 'export'")
    assert json.loads(detail["detail"])["ticket"] == records.orders["kunming"]


async def test_a_missing_recording_or_file_is_404_json(records: Records) -> None:
    for missing in ("999999", "abc", "1" * 30):
        status, body = await records.json(f"/supervisor/recordings/{missing}")
        assert status == 404 and "不存在" in body["error"], missing
    records.wav.unlink()
    status, body = await records.json(f"/supervisor/recordings/{records.recording_id}")
    assert status == 404 and "文件已不在服务器上" in body["error"]
    assert await records.audits() == []
