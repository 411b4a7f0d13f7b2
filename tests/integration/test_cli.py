import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from db import agents
from hotline.caller.privacy import NumberKeys
from hotline.clock import SYSTEM
from hotline.config import ConsoleSettings, Settings
from hotline.supervisor.service import make_app
from tests.conftest import free_port
from tests.integration.cli import ROOT, SECRET, env_for, finish, hotline, popen


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def _wait_http(url: str, proc, timeout: float = 20) -> tuple[int, dict[str, object]]:  # type: ignore[no-untyped-def]
    """The first answer that is not readiness's 503 `starting` (start-up is over), or the last one at the deadline."""
    deadline = time.monotonic() + timeout
    last: tuple[int, dict[str, object]] | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"hotline up exited: {finish(proc)}")
        try:
            last = _get(url)
            if last[1].get("status") != "starting":
                return last
        except OSError:
            pass
        time.sleep(0.1)
    if last is not None:
        return last
    raise AssertionError(f"{url} did not answer")


def test_help_lists_every_subcommand() -> None:
    out = hotline("postgresql://unused/none", "--help")
    assert out.returncode == 0
    for name in ("up", "migrate", "status", "registry"):
        assert name in out.stdout
    for sub in (["up"], ["migrate"], ["status"], ["registry", "import"]):
        assert hotline("postgresql://unused/none", *sub, "--help").returncode == 0
    login = hotline("postgresql://unused/none", "agent", "login", "--help")
    assert login.returncode == 0 and "--password-file" in login.stdout and "HOTLINE_AGENT_PASSWORD" in login.stdout


def test_migrate_twice_then_status(empty_db: str) -> None:
    first = hotline(empty_db, "migrate")
    assert first.returncode == 0, first.stderr
    assert "applied 0001_core.sql" in first.stdout
    second = hotline(empty_db, "migrate")
    assert second.returncode == 0 and "up to date" in second.stdout
    status = hotline(empty_db, "migrate", "--status")
    assert "applied  0001_core.sql" in status.stdout


def test_unreachable_database_names_host_and_port_not_password() -> None:
    port = free_port()
    out = hotline(f"postgresql://hotline:sup3rsecret@127.0.0.1:{port}/hotline", "migrate")
    assert out.returncode == 2
    assert f"127.0.0.1:{port}" in out.stderr
    assert "sup3rsecret" not in out.stderr + out.stdout
    assert "Traceback" not in out.stderr


def test_up_serves_healthz_and_stops_cleanly_on_sigterm(db: str) -> None:
    port = free_port()
    proc = popen(db, "up", "--no-engine", HOTLINE_HTTP_PORT=str(port), HOTLINE_CONSOLE_REQUIRE_REGISTRATION="false")
    try:
        status, body = _wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        assert status == 200
        assert body["status"] == "ok"
        assert body["database"]["ok"] is True  # type: ignore[index]
        proc.send_signal(signal.SIGTERM)
        code, err = finish(proc)
        assert code == 0, err
        assert "Traceback" not in err
    finally:
        finish(proc, timeout=0)


def test_up_refuses_a_schema_that_is_behind_and_names_the_migration(empty_db: str) -> None:
    proc = popen(empty_db, "up", HOTLINE_HTTP_PORT=str(free_port()))
    code, err = finish(proc, timeout=20)
    assert code == 2
    assert "0001_core.sql" in err and "hotline migrate" in err and "Traceback" not in err


def test_up_with_bad_config_names_key_and_value(db: str, tmp_path: Path) -> None:
    cfg = tmp_path / "hotline.yaml"
    cfg.write_text("http:\n  port: eighty\n")
    out = hotline(db, "--config", str(cfg), "up")
    assert out.returncode == 2
    assert "'http.port'" in out.stderr and "'eighty'" in out.stderr and "an integer" in out.stderr


async def test_registry_import_is_all_or_nothing_and_idempotent(db: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("姓名,电话\n甲,13908712345\n乙,1390871\n丙,\n丁,15887123456\n", encoding="utf-8")
    out = hotline(db, "registry", "import", str(bad), "--kind", "建档立卡")
    assert out.returncode == 2
    assert "line 3" in out.stderr and "line 4" in out.stderr and "nothing stored" in out.stderr
    assert "13908712345" not in out.stderr

    conn = await asyncpg.connect(db)
    try:
        assert await conn.fetchval("SELECT count(*) FROM vulnerable_registry") == 0
        good = tmp_path / "good.csv"
        good.write_text("姓名,电话\n甲,13908712345\n乙,0871-65551234\n丁,15887123456\n", encoding="utf-8")
        first = hotline(db, "registry", "import", str(good), "--kind", "建档立卡")
        assert first.returncode == 0, first.stderr
        assert "3 newly registered" in first.stdout
        again = hotline(db, "registry", "import", str(good), "--kind", "建档立卡")
        assert "0 newly registered" in again.stdout
        assert await conn.fetchval("SELECT count(*) FROM vulnerable_registry") == 3
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM vulnerable_registry WHERE number_hmac = $1",
                NumberKeys.from_master(SECRET.encode()).digest("+8613908712345"),
            )
            == 1
        )
        hit = hotline(db, "registry", "lookup", "+86 139 0871 2345")
        assert hit.returncode == 0 and "139****2345: 建档立卡" in hit.stdout
        miss = hotline(db, "registry", "lookup", "13908712399")
        assert "未登记" in miss.stdout
        audits = await conn.fetch("SELECT action, object_id FROM audit_log ORDER BY id")
        assert [a["action"] for a in audits] == ["import", "import", "read", "read"]
        assert all("13908712345" not in str(a["object_id"]) for a in audits)
    finally:
        await conn.close()


def test_check_flows_passes_on_shipped_flows_and_names_file_line_node_field_on_a_broken_copy(tmp_path: Path) -> None:
    ok = hotline("postgresql://unused/none", "check-flows")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yaml"
    text = (ROOT / "ivr_flows" / "yunnan_12348.yaml").read_text(encoding="utf-8")
    broken.write_text(text.replace("next: office_hours}", "next: office_hourz}", 1), encoding="utf-8")
    out = hotline(
        "postgresql://unused/none",
        "check-flows",
        str(broken),
        "--prompts",
        str(ROOT / "ivr_flows" / "prompts"),
        "--schedules",
        str(ROOT / "ivr_flows" / "schedules"),
    )
    assert out.returncode == 1
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "next: office_hours}" in s)
    assert f"{broken}:{line}: node language:" in out.stdout + out.stderr
    assert "office_hourz" in out.stdout + out.stderr


@pytest.fixture
async def agent_api(db: str) -> AsyncIterator[int]:
    """The supervisor's web app (the agents' REST API is agents/state/) on a loopback port, against the test
    database, with lawyer01 (password-123) and the supervisor boss (boss-password)."""
    pool = await asyncpg.create_pool(db, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await agents.create(conn, "lawyer01", "张律师", "lawyer", "password-123")
        await agents.create(conn, "boss", "王主任", "supervisor", "boss-password")
    settings = Settings(console=ConsoleSettings(require_registration=False))  # no SIP front in this service
    runner = web.AppRunner(make_app(settings, pool, SYSTEM), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield int(runner.addresses[0][1])
    await runner.cleanup()
    await pool.close()


async def _agent_cli(db: str, *args: str, input_text: str = "", **extra: str) -> subprocess.CompletedProcess[str]:
    """`hotline agent ...` in a subprocess while this event loop keeps serving the API."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hotline",
        "agent",
        *args,
        cwd=ROOT,
        env=env_for(db, **extra),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(input_text.encode()), 60)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(list(args), proc.returncode, out.decode(), err.decode())


async def _state_and_log(db: str, username: str) -> tuple[str, list[tuple[object, ...]]]:
    conn = await asyncpg.connect(db)
    try:
        state = await conn.fetchval("SELECT state FROM agents WHERE username = $1", username)
        log = await conn.fetch(
            """SELECT from_state, to_state, cause, actor, reason FROM agent_state_log l
               JOIN agents a ON a.id = l.agent_id WHERE a.username = $1 ORDER BY l.id""",
            username,
        )
    finally:
        await conn.close()
    return state, [tuple(r) for r in log]


async def test_agent_login_pause_logout_go_through_the_api_and_are_logged_with_their_cause(
    agent_api: int, db: str, tmp_path: Path
) -> None:
    port = str(agent_api)
    login = await _agent_cli(db, "login", "lawyer01", HOTLINE_HTTP_PORT=port, HOTLINE_AGENT_PASSWORD="password-123")
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == "agent lawyer01: available"
    password_file = tmp_path / "password"
    password_file.write_text("password-123\n", encoding="utf-8")
    pause = await _agent_cli(
        db, "pause", "lawyer01", "--reason", "午休", "--password-file", str(password_file), HOTLINE_HTTP_PORT=port
    )
    assert pause.returncode == 0, pause.stderr
    assert pause.stdout.strip() == "agent lawyer01: paused (午休)"
    logout = await _agent_cli(
        db, "logout", "lawyer01", "--password-file", "-", input_text="password-123\n", HOTLINE_HTTP_PORT=port
    )
    assert logout.returncode == 0, logout.stderr
    assert await _state_and_log(db, "lawyer01") == (
        "logged_out",
        [
            ("logged_out", "available", "agent", "lawyer01", None),
            ("available", "paused", "agent", "lawyer01", "午休"),
            ("paused", "logged_out", "agent", "lawyer01", None),
        ],
    )


async def test_agent_login_with_a_wrong_password_is_refused_and_changes_nothing(agent_api: int, db: str) -> None:
    out = await _agent_cli(
        db, "login", "lawyer01", HOTLINE_HTTP_PORT=str(agent_api), HOTLINE_AGENT_PASSWORD="password-124"
    )
    assert out.returncode == 1
    assert out.stderr.strip() == f"hotline: error: lawyer01: wrong username or password (http://127.0.0.1:{agent_api})"
    assert await _state_and_log(db, "lawyer01") == ("logged_out", [])


async def test_a_change_the_state_rules_forbid_prints_the_services_reason(agent_api: int, db: str) -> None:
    conn = await asyncpg.connect(db)
    try:
        await conn.execute("UPDATE agents SET state = 'on_call' WHERE username = 'lawyer01'")
    finally:
        await conn.close()
    out = await _agent_cli(
        db, "logout", "lawyer01", HOTLINE_HTTP_PORT=str(agent_api), HOTLINE_AGENT_PASSWORD="password-123"
    )
    assert out.returncode == 1
    assert "hotline: error: the service refused: agent lawyer01 cannot go from 'on_call' to 'logged_out'" in out.stderr
    assert "Traceback" not in out.stderr
    assert await _state_and_log(db, "lawyer01") == ("on_call", [])


async def test_a_supervisor_forces_a_pause_with_their_own_password_and_an_agent_may_not(
    agent_api: int, db: str
) -> None:
    port = str(agent_api)
    out = await _agent_cli(
        db,
        "pause",
        "lawyer01",
        "--as",
        "boss",
        "--reason",
        "质检谈话",
        HOTLINE_HTTP_PORT=port,
        HOTLINE_AGENT_PASSWORD="boss-password",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "agent lawyer01: paused (质检谈话)"
    assert await _state_and_log(db, "lawyer01") == (
        "paused",
        [("logged_out", "paused", "supervisor", "boss", "质检谈话")],
    )
    out = await _agent_cli(
        db,
        "pause",
        "boss",
        "--as",
        "lawyer01",
        "--reason",
        "x",
        HOTLINE_HTTP_PORT=port,
        HOTLINE_AGENT_PASSWORD="password-123",
    )
    assert out.returncode == 1
    assert "may not change another agent's state" in out.stderr
    assert await _state_and_log(db, "boss") == ("logged_out", [])


def test_agent_state_change_without_a_running_service_names_the_url_and_hotline_up() -> None:
    port = free_port()
    out = hotline(
        "postgresql://unused/none",
        "agent",
        "login",
        "lawyer01",
        HOTLINE_HTTP_PORT=str(port),
        HOTLINE_AGENT_PASSWORD="password-123",
    )
    assert out.returncode == 2
    assert f"http://127.0.0.1:{port}" in out.stderr and "`hotline up` must be running" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_agent_password_is_never_an_argument_and_a_missing_one_names_the_ways_to_give_it() -> None:
    on_command_line = hotline("postgresql://unused/none", "agent", "login", "lawyer01", "--password", "s3cret-pw")
    assert on_command_line.returncode == 2
    assert "--password-file" in on_command_line.stderr and "s3cret-pw" not in on_command_line.stderr
    missing = hotline("postgresql://unused/none", "agent", "login", "lawyer01", input_text="")
    assert missing.returncode == 2
    assert "--password-file" in missing.stderr and "HOTLINE_AGENT_PASSWORD" in missing.stderr


async def test_readiness_waits_for_start_up_and_every_live_check_liveness_does_not(db: str) -> None:
    """/healthz is 503 `starting` until start-up is over, then 503 while a live check (the front's SIP) fails and
    200 once it passes; /livez is 200 throughout."""
    from hotline.supervisor import http as health_http

    pool = await asyncpg.create_pool(db, min_size=1, max_size=2)
    app = make_app(Settings(console=ConsoleSettings(require_registration=False)), pool, SYSTEM)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    answers = {"ok": False}

    async def front_sip() -> dict[str, object]:
        return {"ok": answers["ok"]}

    async def get(path: str) -> tuple[int, dict[str, object]]:
        async with aiohttp.ClientSession() as http, http.get(base + path) as resp:
            return resp.status, await resp.json()

    try:
        status, body = await get("/healthz")
        assert (status, body["status"], body["startup"]) == (503, "starting", {"ok": False, "state": "starting"})
        assert (await get("/livez"))[0] == 200
        app[health_http.HEALTH_CHECKS]["front_sip"] = front_sip
        app[health_http.STARTED].set()
        status, body = await get("/healthz")
        assert (status, body["status"], body["front_sip"]) == (503, "degraded", {"ok": False})
        answers["ok"] = True
        status, body = await get("/healthz")
        assert (status, body["status"]) == (200, "ok"), body
        status, alive = await get("/livez")
        assert status == 200 and alive["status"] == "alive" and alive["pid"] == os.getpid()
    finally:
        await runner.cleanup()
        await pool.close()
