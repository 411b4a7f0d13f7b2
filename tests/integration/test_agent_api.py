"""The agents' REST API on a running `hotline up --no-engine`, against the real PostgreSQL."""

from __future__ import annotations

import base64
import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import asyncpg
import pytest

from tests.conftest import free_port
from tests.integration.cli import finish, hotline, popen


def _call(port: int, method: str, path: str, user: str | None, password: str, body: object = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if user is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        text = err.read().decode()
        try:
            return err.code, json.loads(text)
        except ValueError:
            return err.code, {"text": text}


@pytest.fixture
def api(db: str) -> Iterator[int]:
    for user, role in (("lawyer01", "lawyer"), ("boss", "supervisor")):
        out = hotline(db, "agent", "add", user, "--name", "某人", "--role", role, input_text="password-123\n")
        assert out.returncode == 0, out.stderr
    port = free_port()
    proc = popen(db, "up", "--no-engine", HOTLINE_HTTP_PORT=str(port), HOTLINE_CONSOLE_REQUIRE_REGISTRATION="false")
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, finish(proc, timeout=0)
            time.sleep(0.1)
    yield port
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc)
    assert code == 0, err


def test_agent_logs_in_pauses_with_a_reason_and_logs_out(api: int, db: str) -> None:
    assert _call(api, "GET", "/api/agents/me", "lawyer01", "password-123")[1]["state"] == "logged_out"
    status, body = _call(api, "POST", "/api/agents/me/state", "lawyer01", "password-123", {"state": "available"})
    assert (status, body["state"]) == (200, "available")
    status, body = _call(api, "POST", "/api/agents/me/state", "lawyer01", "password-123", {"state": "paused"})
    assert status == 409 and "reason" in body["error"]
    status, body = _call(
        api, "POST", "/api/agents/me/state", "lawyer01", "password-123", {"state": "paused", "reason": "午休"}
    )
    assert (status, body["state"], body["reason"]) == (200, "paused", "午休")
    assert _call(api, "POST", "/api/agents/me/state", "lawyer01", "password-123", {"state": "on_call"})[0] == 400


def test_wrong_password_and_missing_credentials_are_refused(api: int) -> None:
    assert _call(api, "GET", "/api/agents/me", "lawyer01", "nope") == (401, {"error": "wrong username or password"})
    status, body = _call(api, "GET", "/api/agents/me", None, "")
    assert status == 401 and "console password" in body["error"]
    assert _call(api, "POST", "/api/agents/me/state", "lawyer01", "password-123", b"{not json")[0] == 400


async def test_supervisor_forces_a_state_with_a_reason_and_it_is_audited(api: int, db: str) -> None:
    status, body = _call(api, "POST", "/api/agents/boss/state", "lawyer01", "password-123", {"state": "paused"})
    assert status == 403
    status, body = _call(api, "POST", "/api/agents/lawyer01/state", "boss", "password-123", {"state": "available"})
    assert status == 409 and "needs a reason" in body["error"]
    status, body = _call(
        api, "POST", "/api/agents/lawyer01/state", "boss", "password-123", {"state": "paused", "reason": "质检谈话"}
    )
    assert (status, body["state"]) == (200, "paused")
    assert (
        _call(api, "POST", "/api/agents/ghost/state", "boss", "password-123", {"state": "paused", "reason": "x"})[0]
        == 404
    )
    conn = await asyncpg.connect(db)
    try:
        log = await conn.fetchrow("SELECT cause, actor, reason FROM agent_state_log ORDER BY id DESC LIMIT 1")
        audit = await conn.fetchrow("SELECT actor, action, object_id FROM audit_log ORDER BY id DESC LIMIT 1")
    finally:
        await conn.close()
    assert tuple(log) == ("supervisor", "boss", "质检谈话")
    assert tuple(audit) == ("boss", "update", "lawyer01")
