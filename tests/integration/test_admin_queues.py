"""The admin page's queue settings and registry upload, through aiohttp's test client against the real PostgreSQL:
changes stored and audited with before and after, wrong values refused per field, the ACD (dispatcher passes and
reconciliation) deciding by the new values without a restart; a registry file imported whole or not at all,
within its own size limit; `hotline queue set` doing the same from the command line."""

from __future__ import annotations

import asyncio
import getpass
import html
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from db import agents, households
from hotline.acd.dispatcher import Dispatcher
from hotline.caller.privacy import NumberKeys
from hotline.clock import SYSTEM
from hotline.config import ConsoleSettings, PrivacySettings, Settings
from hotline.supervisor.service import make_app
from tests.support import console
from tests.support.cli import SECRET, hotline

PASSWORDS = {"root": "root-password", "boss": "boss-password", "lawyer01": "password-123", "lawyer02": "password-456"}
KEYS = NumberKeys.from_master(SECRET.encode())
Client = console.Client
GOOD_CSV = "姓名,身份证号,联系电话\n张三,530102190001011234,13908712345\n李四,530102190001015678,0871-65551234\n"
# line 3: too short, line 5: empty, line 6: not a number (line 4 is blank and skipped)
BAD_CSV = "姓名,电话\n甲,13908712345\n乙,1390871\n\n丙,\n丁,not-a-number\n"


ACCOUNTS = (("root", "系统管理员", "admin"), ("boss", "王主任", "supervisor"), ("lawyer01", "张律师", "lawyer"))


@pytest.fixture
async def pool(db: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(db, min_size=1, max_size=6)
    async with p.acquire() as conn:
        for username, name, role in (*ACCOUNTS, ("lawyer02", "李律师", "lawyer")):
            await agents.create(conn, username, name, role, PASSWORDS[username])
    yield p
    await p.close()


def _settings(**console: Any) -> Settings:
    return Settings(
        console=ConsoleSettings(**{"require_registration": False, **console}),
        privacy=PrivacySettings(secret=SecretStr(SECRET)),
    )


@pytest.fixture
async def server(pool: asyncpg.Pool) -> AsyncIterator[TestServer]:
    """The console with JSON bodies limited to 1 KB and registry files to 8 KB."""
    async with TestServer(make_app(_settings(max_body_kb=1, registry_max_kb=8), pool, SYSTEM)) as s:
        yield s


@pytest.fixture
async def client(server: TestServer) -> AsyncIterator[Client]:
    async with TestClient(server) as c:
        yield c


def basic(username: str) -> dict[str, str]:
    return console.basic(username, PASSWORDS[username])


async def post(client: Client, path: str, body: Any, as_: str = "root") -> tuple[int, Any]:
    async with client.post(path, data=json.dumps(body), headers=basic(as_)) as resp:
        return resp.status, await resp.json()


async def get_queues(client: Client, as_: str = "root") -> tuple[int, Any]:
    async with client.get("/admin/queues", headers=basic(as_)) as resp:
        return resp.status, await resp.json()


async def queue_row(pool: asyncpg.Pool, name: str) -> dict[str, Any]:
    row = await pool.fetchrow("SELECT * FROM queues WHERE name = $1", name)
    return {k: v for k, v in row.items() if k not in ("id", "created_at")}


async def audit(pool: asyncpg.Pool, object_type: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    rows = await pool.fetch(
        "SELECT actor, action, object_id, detail FROM audit_log WHERE object_type = $1 ORDER BY id", object_type
    )
    return [(r["actor"], r["action"], r["object_id"], json.loads(r["detail"])) for r in rows]


@pytest.fixture
async def browsers(server: TestServer) -> AsyncIterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    for browser in opened:
        await browser.close()


async def login(server: TestServer, browsers: list[Client], username: str) -> tuple[Client, str]:
    """A browser logged in through the login form, and the CSRF token of its pages."""
    browser = await console.browser_login(server, browsers, username, PASSWORDS[username])
    async with browser.get("/agent/") as resp:
        meta = re.search(r'<meta name="csrf-token" content="([^"]*)"', await resp.text())
    assert meta
    return browser, html.unescape(meta.group(1))


def registry_form(content: bytes, kind: str = "建档立卡", filename: str = "五华区建档立卡.csv") -> FormData:
    form = FormData()
    form.add_field("kind", kind)
    form.add_field("file", content, filename=filename, content_type="text/csv")
    return form


async def upload(browser: Client, form: FormData, csrf: str | None) -> tuple[int, Any]:
    headers = {} if csrf is None else {"X-CSRF-Token": csrf}
    async with browser.post("/admin/registry", data=form, headers=headers) as resp:
        return resp.status, await resp.json()


async def registered(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM vulnerable_registry")
    return count


# ---- queue settings


async def test_an_admin_changes_a_queues_settings_which_are_stored_and_audited_with_before_and_after(
    client: Client, pool: asyncpg.Pool
) -> None:
    status, body = await get_queues(client)
    assert status == 200
    legal_aid = next(q for q in body["queues"] if q["name"] == "legal_aid")
    assert (legal_aid["strategy"], legal_aid["wrapup_seconds"], legal_aid["max_wait_seconds"]) == (
        "skills_weighted",
        60,
        600,
    )
    assert legal_aid["penalty_steps_text"] == "0:0, 30:100" and body["strategy_names"]["round_robin"] == "轮流分配"

    change = {
        "display_name": " 法律援助热线 ",
        "strategy": "round_robin",
        "wrapup_seconds": 45,
        "ring_timeout_seconds": "25",
        "max_length": 20,
        "max_wait_seconds": None,
        "leave_when_empty": False,
        "penalty_steps": "0:0, 20:50, 60:100",
        "priority_aging_per_minute": 2.5,
        "skills_relax_after_seconds": 120,
        "service_level_seconds": 15,  # unchanged: not in the audit row
    }
    status, body = await post(client, "/admin/queues/legal_aid", change)
    assert status == 200, body
    assert body["queue"]["strategy_name"] == "轮流分配" and body["queue"]["display_name"] == "法律援助热线"
    assert "service_level_seconds" not in body["changed"] and "wrapup_seconds" in body["changed"]
    row = await queue_row(pool, "legal_aid")
    assert row["display_name"] == "法律援助热线" and row["strategy"] == "round_robin"
    assert (row["wrapup_seconds"], row["ring_timeout_seconds"], row["max_length"], row["max_wait_seconds"]) == (
        45,
        25,
        20,
        None,
    )
    assert row["leave_when_empty"] is False and row["priority_aging_per_minute"] == 2.5
    assert json.loads(row["penalty_steps"]) == [
        {"after_seconds": 0, "max_penalty": 0},
        {"after_seconds": 20, "max_penalty": 50},
        {"after_seconds": 60, "max_penalty": 100},
    ]
    [(actor, action, object_id, detail)] = await audit(pool, "queue")
    assert (actor, action, object_id) == ("root", "update", "legal_aid")
    assert detail["before"]["wrapup_seconds"] == 60 and detail["after"]["wrapup_seconds"] == 45
    assert detail["before"]["max_wait_seconds"] == 600 and detail["after"]["max_wait_seconds"] is None
    assert detail["before"]["strategy"] == "skills_weighted" and detail["after"]["strategy"] == "round_robin"
    assert set(detail["before"]) == set(detail["after"]) == set(body["changed"])
    assert "service_level_seconds" not in detail["before"]

    status, body = await post(client, "/admin/queues/legal_aid", {"wrapup_seconds": 45})  # the same value again
    assert status == 200 and body["changed"] == []
    assert len(await audit(pool, "queue")) == 1
    async with client.get("/admin/", headers=basic("root")) as resp:
        page = await resp.text()
    assert "队列设置" in page and "法律援助热线" in page and "名单导入" in page and "0:0, 20:50, 60:100" in page


async def test_wrong_values_answer_422_naming_each_field_and_change_nothing(client: Client, pool: asyncpg.Pool) -> None:
    before = await queue_row(pool, "legal_aid")
    bad = {
        "strategy": "random",
        "wrapup_seconds": -1,
        "ring_timeout_seconds": "abc",
        "service_level_seconds": None,
        "penalty_steps": "30:100, 10:50",
        "priority_aging_per_minute": 99,
        "join_when_empty": "maybe",
        "leave_when_empty": "yes",
        "display_name": "",
        "colour": "red",
    }
    status, body = await post(client, "/admin/queues/legal_aid", bad)
    assert status == 422
    assert set(body["fields"]) == set(bad)
    assert "最长空闲优先" in body["fields"]["strategy"] and "0 至 3600" in body["fields"]["wrapup_seconds"]
    assert "1 至 300" in body["fields"]["ring_timeout_seconds"] and "逐步增大" in body["fields"]["penalty_steps"]
    assert "colour" in body["fields"]["colour"] and "未保存" in body["error"]
    assert (await post(client, "/admin/queues/legal_aid", {}))[0] == 422
    assert (await post(client, "/admin/queues/legal_aid", {"penalty_steps": []}))[0] == 422
    status, body = await post(client, "/admin/queues/legal_aid", {"wrapup_seconds": 30, "max_length": 0})
    assert status == 422 and set(body["fields"]) == {"max_length"}  # one wrong field: the right one not saved
    assert await queue_row(pool, "legal_aid") == before
    assert await audit(pool, "queue") == []


async def test_an_unknown_queue_is_404_and_nothing_is_audited(client: Client, pool: asyncpg.Pool) -> None:
    status, body = await post(client, "/admin/queues/no_such_queue", {"wrapup_seconds": 30})
    assert status == 404 and "no_such_queue" in body["error"] and "legal_aid" in body["error"]
    assert await audit(pool, "queue") == []


async def test_agents_and_supervisors_get_403_on_queue_settings_and_registry_import(
    client: Client, pool: asyncpg.Pool, server: TestServer, browsers: list[Client]
) -> None:
    before = await queue_row(pool, "operator")
    for who in ("lawyer01", "boss"):
        assert (await get_queues(client, who))[0] == 403
        status, body = await post(client, "/admin/queues/operator", {"wrapup_seconds": 5}, as_=who)
        assert status == 403 and who in body["error"]
        browser, csrf = await login(server, browsers, who)
        status, body = await upload(browser, registry_form(GOOD_CSV.encode()), csrf)
        assert status == 403 and who in body["error"]
    assert await queue_row(pool, "operator") == before
    assert await registered(pool) == 0 and await audit(pool, "queue") == []


async def test_a_session_without_the_csrf_token_is_refused_403_for_settings_and_uploads(
    pool: asyncpg.Pool, server: TestServer, browsers: list[Client]
) -> None:
    browser, csrf = await login(server, browsers, "root")
    async with browser.post("/admin/queues/operator", json={"wrapup_seconds": 5}) as resp:
        assert resp.status == 403 and "CSRF" in (await resp.json())["error"]
    async with browser.post(
        "/admin/queues/operator", json={"wrapup_seconds": 5}, headers={"X-CSRF-Token": csrf[:-1] + "x"}
    ) as resp:
        assert resp.status == 403
    assert (await upload(browser, registry_form(GOOD_CSV.encode()), None))[0] == 403
    assert await registered(pool) == 0
    assert (await queue_row(pool, "operator"))["wrapup_seconds"] == 30
    async with browser.post("/admin/queues/operator", json={"wrapup_seconds": 5}, headers={"X-CSRF-Token": csrf}) as r:
        assert r.status == 200  # with the page's token: accepted
    assert (await queue_row(pool, "operator"))["wrapup_seconds"] == 5


# ---- the ACD uses the new settings without a restart


async def _agent(pool: asyncpg.Pool, username: str, queue: str, idle_s: float, penalty: int = 0) -> int:
    """Make an agent an available member of `queue`, idle for `idle_s` seconds (PostgreSQL's clock)."""
    agent_id: int = await pool.fetchval(
        """UPDATE agents SET state = 'available', state_changed_at = now() - make_interval(secs => $2)
           WHERE username = $1 RETURNING id""",
        username,
        idle_s,
    )
    await pool.execute(
        "INSERT INTO queue_members (queue_id, agent_id, penalty) SELECT id, $2, $3 FROM queues WHERE name = $1",
        queue,
        agent_id,
        penalty,
    )
    return agent_id


async def _caller(pool: asyncpg.Pool, queue: str) -> int:
    call = await pool.fetchval(
        "INSERT INTO calls (sip_call_id, caller_masked, caller_kind) VALUES ($1, '未显示号码', 'withheld') "
        "RETURNING id",
        f"admin-{uuid.uuid4().hex[:8]}",
    )
    entry: int = await pool.fetchval(
        "INSERT INTO queue_entries (call_id, queue_id, cell) SELECT $1, id, 'cell1' FROM queues WHERE name = $2 "
        "RETURNING id",
        call,
        queue,
    )
    return entry


async def _leader(pool: asyncpg.Pool, name: str) -> Dispatcher:
    dispatcher = Dispatcher(pool, name)
    dispatcher.term = await pool.fetchval("UPDATE acd_leader SET term = term + 1 RETURNING term")
    return dispatcher


async def _offered_to(pool: asyncpg.Pool, entry: int) -> int | None:
    agent_id: int | None = await pool.fetchval(
        "SELECT agent_id FROM queue_entries WHERE id = $1 AND state = 'offered'", entry
    )
    return agent_id


async def test_the_dispatcher_offers_by_the_strategy_set_on_the_admin_page(client: Client, pool: asyncpg.Pool) -> None:
    first = await _agent(pool, "lawyer01", "operator", idle_s=10)  # the lower id, idle for a short while
    longest = await _agent(pool, "lawyer02", "operator", idle_s=300)
    entry = await _caller(pool, "operator")
    assert await (await _leader(pool, "before")).match_all() == 1
    assert await _offered_to(pool, entry) == longest  # longest_idle, the queue's strategy until now

    await pool.execute("UPDATE queue_entries SET state = 'waiting', agent_id = NULL, offered_at = NULL")
    await pool.execute(
        "UPDATE agents SET state = 'available', state_changed_at = now() - make_interval(secs => "
        "CASE WHEN id = $1 THEN 10 ELSE 300 END) WHERE id IN ($1, $2)",
        first,
        longest,
    )
    assert (await post(client, "/admin/queues/operator", {"strategy": "round_robin"}))[0] == 200
    assert await (await _leader(pool, "after")).match_all() == 1
    assert await _offered_to(pool, entry) == first  # round robin starts at the lowest id


async def test_a_shorter_wrapup_set_on_the_admin_page_ends_a_running_wrapup_at_the_next_reconciliation(
    client: Client, pool: asyncpg.Pool
) -> None:
    agent_id = await _agent(pool, "lawyer01", "operator", idle_s=0)
    await pool.execute(
        "UPDATE agents SET state = 'wrap_up', state_changed_at = now() - interval '45 seconds' WHERE id = $1",
        agent_id,
    )
    dispatcher = Dispatcher(pool, "reconciler")
    assert (await post(client, "/admin/queues/operator", {"wrapup_seconds": 120}))[0] == 200
    await dispatcher.reconcile()
    assert await pool.fetchval("SELECT state FROM agents WHERE id = $1", agent_id) == "wrap_up"
    assert (await post(client, "/admin/queues/operator", {"wrapup_seconds": 40}))[0] == 200
    await dispatcher.reconcile()
    assert await pool.fetchval("SELECT state FROM agents WHERE id = $1", agent_id) == "available"
    reason = await pool.fetchval(
        "SELECT reason FROM agent_state_log WHERE agent_id = $1 AND to_state = 'available' ORDER BY id DESC LIMIT 1",
        agent_id,
    )
    assert reason == "wrap-up over"


async def test_a_running_dispatcher_is_woken_by_a_settings_change_and_applies_it_at_once(
    client: Client, pool: asyncpg.Pool
) -> None:
    """The member's penalty 50 waits 30 s under the default steps; relaxing them makes the caller offerable now,
    and the dispatcher (polling only every 60 s) offers within seconds: the change's NOTIFY woke it."""
    agent_id = await _agent(pool, "lawyer01", "legal_aid", idle_s=5, penalty=50)
    entry = await _caller(pool, "legal_aid")
    dispatcher = Dispatcher(pool, "live", poll_interval=60, reconcile_interval=600)
    task = asyncio.create_task(dispatcher.run(asyncio.Event()))
    try:
        for _ in range(100):
            if dispatcher.leading and dispatcher.stats.terms:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # its first pass is over: nobody eligible yet
        assert await _offered_to(pool, entry) is None
        status, _ = await post(
            client, "/admin/queues/legal_aid", {"penalty_steps": [{"after_seconds": 0, "max_penalty": 100}]}
        )
        assert status == 200
        for _ in range(100):
            if await _offered_to(pool, entry) is not None:
                break
            await asyncio.sleep(0.05)
        assert await _offered_to(pool, entry) == agent_id
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# ---- registry import


async def test_a_good_registry_file_is_imported_counted_audited_and_found_by_lookup(
    pool: asyncpg.Pool, server: TestServer, browsers: list[Client]
) -> None:
    browser, csrf = await login(server, browsers, "root")
    status, body = await upload(browser, registry_form(GOOD_CSV.encode()), csrf)
    assert status == 200, body
    assert (body["rows"], body["imported"], body["already_registered"], body["rejected"]) == (2, 2, 0, [])
    assert body["file"] == "五华区建档立卡.csv" and body["kind"] == "建档立卡"
    async with pool.acquire() as conn:
        assert await households.lookup(conn, KEYS.digest("+8613908712345")) == ["建档立卡"]
        assert await households.lookup(conn, KEYS.digest("+8687165551234")) == ["建档立卡"]

    again = GOOD_CSV + "王五,530102190001019999,15887123456\n"
    status, body = await upload(browser, registry_form(again.encode("gb18030")), csrf)
    assert status == 200 and (body["imported"], body["already_registered"]) == (1, 2)
    assert await registered(pool) == 3
    rows = await audit(pool, "vulnerable_registry")
    assert [(actor, action, object_id, d["added"]) for actor, action, object_id, d in rows] == [
        ("root", "import", "建档立卡", 2),
        ("root", "import", "建档立卡", 1),
    ]
    assert rows[0][3]["file"] == "五华区建档立卡.csv" and "13908712345" not in json.dumps(rows, ensure_ascii=False)


async def test_a_registry_file_over_the_json_limit_is_within_its_own_limit_and_the_form_field_token_works(
    pool: asyncpg.Pool, server: TestServer, browsers: list[Client]
) -> None:
    """JSON bodies stop at 1 KB here; a 3 KB registry file is under the upload's own 8 KB. A plain HTML form
    (the token as the ``csrf`` field) is read by the CSRF check within the JSON limit, so it takes only small
    files."""
    browser, csrf = await login(server, browsers, "root")
    numbers = "".join(f"1390871{i:04d}\n" for i in range(250))
    assert 2048 < len(numbers) < 8192
    status, body = await upload(browser, registry_form(numbers.encode(), kind="低保"), csrf)
    assert status == 200 and body["imported"] == 250
    small = registry_form(b"15887123456\n", kind="特困")
    small.add_field("csrf", csrf)
    status, body = await upload(browser, small, None)
    assert status == 200 and body["imported"] == 1
    assert await registered(pool) == 251


async def test_a_bad_registry_file_is_422_with_every_bad_line_in_chinese_and_nothing_imported(
    pool: asyncpg.Pool, server: TestServer, browsers: list[Client]
) -> None:
    browser, csrf = await login(server, browsers, "root")
    status, body = await upload(browser, registry_form(BAD_CSV.encode()), csrf)
    assert status == 422
    assert [p["line"] for p in body["rejected"]] == [3, 5, 6] and body["rejected_count"] == 3
    assert "号码为空" in body["rejected"][1]["reason"] and "不是有效的电话号码" in body["rejected"][0]["reason"]
    assert "未导入" in body["error"] and "file" in body["fields"]
    assert "13908712345" not in json.dumps(body, ensure_ascii=False)
    status, body = await upload(browser, registry_form("姓名,地址\n张三,昆明\n".encode()), csrf)
    assert status == 422 and body["rejected"][0]["line"] == 1 and "找不到号码列" in body["rejected"][0]["reason"]
    assert await registered(pool) == 0  # line 2 of BAD_CSV was good: not stored either
    assert await audit(pool, "vulnerable_registry") == []


async def test_an_oversized_file_is_413_and_a_wrong_kind_or_no_file_is_422_nothing_imported(
    pool: asyncpg.Pool, server: TestServer, browsers: list[Client]
) -> None:
    browser, csrf = await login(server, browsers, "root")
    big = "".join(f"1390871{i:04d}\n" for i in range(1000)).encode()  # 12 KB, the limit is 8 KB
    status, body = await upload(browser, registry_form(big), csrf)
    assert status == 413 and "8 KB" in body["error"]
    status, body = await upload(browser, registry_form(GOOD_CSV.encode(), kind="贫困户"), csrf)
    assert status == 422 and set(body["fields"]) == {"kind"} and "建档立卡" in body["fields"]["kind"]
    form = FormData()
    form.add_field("kind", "低保")
    status, body = await upload(browser, form, csrf)
    assert status == 422 and set(body["fields"]) == {"file"}
    async with browser.post("/admin/registry", json={"kind": "低保"}, headers={"X-CSRF-Token": csrf}) as resp:
        assert resp.status == 422 and "multipart" in (await resp.json())["fields"]["file"]
    assert await registered(pool) == 0 and await audit(pool, "vulnerable_registry") == []


# ---- the command line


async def test_queue_set_changes_settings_from_the_command_line_audited_and_refuses_wrong_values(
    pool: asyncpg.Pool, db: str
) -> None:
    out = hotline(
        db, "queue", "set", "mediation", "--strategy", "fewest_calls", "--wrapup", "90", "--max-length", "none"
    )
    assert out.returncode == 0, out.stderr
    assert "wrapup 60 -> 90" in out.stdout and "strategy 'longest_idle' -> 'fewest_calls'" in out.stdout
    row = await queue_row(pool, "mediation")
    assert (row["strategy"], row["wrapup_seconds"], row["max_length"]) == ("fewest_calls", 90, None)
    [(actor, _, object_id, detail)] = await audit(pool, "queue")
    assert (actor, object_id) == (f"cli:{getpass.getuser()}", "mediation")
    assert detail == {
        "before": {"strategy": "longest_idle", "wrapup_seconds": 60},
        "after": {"strategy": "fewest_calls", "wrapup_seconds": 90},
    }

    bad = hotline(db, "queue", "set", "mediation", "--wrapup", "-5", "--penalty-steps", "30:100,10:0")
    assert bad.returncode == 2
    assert "--wrapup:" in bad.stderr and "--penalty-steps:" in bad.stderr and "not changed" in bad.stderr
    unknown = hotline(db, "queue", "set", "nowhere", "--wrapup", "5")
    assert unknown.returncode == 1 and "nowhere" in unknown.stderr
    assert (await queue_row(pool, "mediation"))["wrapup_seconds"] == 90
    assert len(await audit(pool, "queue")) == 1
