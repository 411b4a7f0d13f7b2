"""The whole service as an operator runs it (`hotline up`, the e2e tests' ``stack`` fixture), the sipp parties
that call it, and the reads and set-ups the e2e tests share."""

from __future__ import annotations

import array
import asyncio
import json
import subprocess
import time
import urllib.error
import urllib.request
import wave
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from db import agents
from hotline.sipp import command
from tests.support.cli import hotline
from tests.support.ports import free_block
from tests.support.sipp import register_keys

#: A Monday at 10:00 China time, a working day: the default flow's office-hours node takes the open path.
WORKDAY_MORNING = "2026-12-07T10:00:00+08:00"
#: The same Monday at 03:00: closed, the on-duty lawyer queue.
WORKDAY_NIGHT = "2026-12-07T03:00:00+08:00"
#: National Day (国庆节) at 10:00: a statutory holiday in chinese_calendar, the holiday notice then the duty queue.
NATIONAL_DAY = "2026-10-01T10:00:00+08:00"


HOST = "127.0.0.1"
CALLER = "13908712345"  # the callers' number (caller_hold, caller_menu, caller_callback have it written in)


@dataclass
class Stack:
    db: str
    sip_port: int
    http_port: int
    proc: subprocess.Popen[bytes]
    tmp: Path
    env: dict[str, str]
    gateway_port: int  # where the front sends calls the service places (callbacks); tests listen there

    @property
    def flows(self) -> Path:
        return self.tmp / "flows"

    @property
    def log(self) -> str:
        return (self.tmp / "up.log").read_text(errors="replace")

    def health(self) -> dict[str, object]:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.http_port}/healthz", timeout=3) as resp:
                data: dict[str, object] = json.load(resp)
        except urllib.error.HTTPError as err:
            data = json.load(err)
        return data

    def sipp(
        self,
        scenario: str,
        calls: int,
        *extra: str,
        number: str = "12348",
        timeout: float = 90,
        keys: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run sipp as callers through the front; returns when all calls are done."""
        local = free_block(1, 41000, 45000)
        cmd = command(
            scenario,
            f"{HOST}:{self.sip_port}",
            service=number,
            local_port=local,
            media_port=free_block(2 * calls + 4, 45000, 50000),
            calls=calls,
            limit=calls,
            rate=20,
            keys=keys,
            timeout_s=int(timeout - 5),
            timeout_error=True,
            error_file=self.tmp / f"sipp-{local}.err",
            extra=extra,
        )
        return subprocess.run(cmd, cwd=self.tmp, capture_output=True, text=True, timeout=timeout)

    def sipp_register(self, user: str, password: str, phone_port: int) -> subprocess.CompletedProcess[str]:
        """Register an agent's phone (its Contact: 127.0.0.1:phone_port) with digest auth through the front."""
        cmd = command(
            "register",
            f"{HOST}:{self.sip_port}",
            local_port=0,
            calls=1,
            keys=register_keys(user, f"{HOST}:{phone_port}"),
            auth=(user, password),
            timeout_s=15,
            timeout_error=True,
        )
        return subprocess.run(cmd, cwd=self.tmp, capture_output=True, text=True, timeout=30)

    def callers_in_background(self, calls: int, hold_ms: int) -> subprocess.Popen[bytes]:
        """Callers who talk and stay `hold_ms` while the test does something else; kill() when done."""
        cmd = command(
            "caller_hold",
            f"{HOST}:{self.sip_port}",
            service="12348",
            local_port=0,
            media_port=free_block(2 * calls + 4, 45000, 50000),
            calls=calls,
            limit=calls,
            rate=20,
            pause_ms=hold_ms,
            timeout_s=hold_ms // 1000 + 30,
        )
        return subprocess.Popen(cmd, cwd=self.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def uas(self, scenario: str, port: int, calls: int, extra: Sequence[str] = ()) -> subprocess.Popen[bytes]:
        """A sipp UAS on ``port`` for ``calls`` calls (an agent's phone, the caller's phone behind the gateway)."""
        cmd = command(
            scenario,
            local_port=port,
            media_port=free_block(4, 45000, 50000),
            calls=calls,
            timeout_s=150,
            extra=["-trace_err", *extra],
        )
        return subprocess.Popen(cmd, cwd=self.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def phone(
        self, scenario: str, username: str, password: str, calls: int = 1, extra: Sequence[str] = ()
    ) -> subprocess.Popen[bytes]:
        """A sipp agent phone for ``calls`` calls, registered as ``username`` through the front."""
        port = free_block(1, 41000, 45000)
        phone = self.uas(scenario, port, calls, extra)
        registered = self.sipp_register(username, password, port)
        assert registered.returncode == 0, registered.stdout[-1500:]
        return phone

    def done(self, proc: subprocess.Popen[bytes], what: str, timeout: float = 20) -> None:
        """Wait for a sipp party to see its calls through (killing it if it does not)."""
        try:
            assert proc.wait(timeout=timeout) == 0, f"{what} did not see its calls through: " + "".join(
                p.read_text(errors="replace")[-1500:] for p in self.tmp.glob("*errors.log")
            )
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def channel_rms(path: Path) -> tuple[float, float]:
    """RMS of the loudest second of each channel of a recording (left: caller, right: agent)."""
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 8000)
        samples = array.array("h", w.readframes(w.getnframes()))
    left, right = samples[0::2], samples[1::2]

    def loudest(xs: array.array[int]) -> float:
        windows = (xs[i : i + 8000] for i in range(0, max(len(xs) - 7999, 1), 4000))
        return max((sum(x * x for x in win) / max(len(win), 1)) ** 0.5 for win in windows)

    return loudest(left), loudest(right)


async def select(db: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def select_until(db: str, sql: str, *args: object, limit: float = 90, what: str = "") -> list[asyncpg.Record]:
    """The rows of ``sql`` once there are any, polling up to ``limit`` seconds (then failing with ``what``)."""
    deadline = time.monotonic() + limit
    while not (found := await select(db, sql, *args)):
        assert time.monotonic() < deadline, what or f"timed out waiting for: {sql}"
        await asyncio.sleep(0.5)
    return found


async def wait_answered(db: str, count: int, limit: float = 20) -> None:
    deadline = time.monotonic() + limit
    while len(await select(db, "SELECT id FROM calls WHERE answered_at IS NOT NULL")) < count:
        assert time.monotonic() < deadline, f"{count} call(s) were not answered"
        await asyncio.sleep(0.2)


async def wait_ended(db: str, count: int, limit: float = 15) -> None:
    """sipp is done when its last message is out; the cell closes the record right after."""
    deadline = time.monotonic() + limit
    while len(await select(db, "SELECT id FROM calls WHERE ended_at IS NOT NULL")) < count:
        assert time.monotonic() < deadline, "call records were not closed"
        await asyncio.sleep(0.1)


async def agent_states(stack: Stack, username: str) -> list[str]:
    found = await select(
        stack.db,
        "SELECT to_state FROM agent_state_log l JOIN agents a ON a.id = l.agent_id WHERE a.username = $1 ORDER BY l.id",
        username,
    )
    return [r["to_state"] for r in found]


async def logged_in_agent(stack: Stack, username: str, password: str) -> None:
    """An agent in the legal-aid and on-duty queues, logged in (its phone is registered separately)."""
    added = hotline(
        stack.db,
        "agent",
        "add",
        username,
        "--name",
        "律师",
        "--role",
        "lawyer",
        input_text=password + "\n",
        **stack.env,
    )
    assert added.returncode == 0, added.stderr
    conn = await asyncpg.connect(stack.db)
    try:
        await conn.execute(
            "INSERT INTO queue_members (queue_id, agent_id) SELECT q.id, a.id FROM queues q, agents a "
            "WHERE q.name IN ('legal_aid', 'duty_lawyer') AND a.username = $1",
            username,
        )
    finally:
        await conn.close()
    login = hotline(stack.db, "agent", "login", username, **stack.env, HOTLINE_AGENT_PASSWORD=password)  # REST API
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == f"agent {username}: available"


async def paused_agent(stack: Stack, username: str, password: str) -> None:
    """An agent of the legal-aid and on-duty queues, logged in but paused: callers wait, nobody is offered."""
    conn = await asyncpg.connect(stack.db)
    try:
        agent = await agents.create(conn, username, "律师", "lawyer", password)
        await conn.execute(
            "INSERT INTO queue_members (queue_id, agent_id) SELECT id, $1 FROM queues "
            "WHERE name IN ('legal_aid', 'duty_lawyer')",
            agent.id,
        )
        assert await agents.move(conn, agent.id, "logged_out", "paused", cause="agent", actor=username, reason="会议")
    finally:
        await conn.close()


async def registered_poor_caller(stack: Stack) -> None:
    """The caller's number in the registry as 低保 (raised priority); short wrap-up and ring timeouts."""
    conn = await asyncpg.connect(stack.db)
    try:
        await conn.execute("UPDATE queues SET wrapup_seconds = 1, ring_timeout_seconds = 4")
    finally:
        await conn.close()
    poor = stack.tmp / "poor.csv"
    poor.write_text(f"电话\n{CALLER}\n", encoding="utf-8")
    assert hotline(stack.db, "registry", "import", str(poor), "--kind", "低保", **stack.env).returncode == 0


async def move_agent(stack: Stack, username: str, expected: str, state: str) -> None:
    """Move an agent from `expected` to `state` as a supervisor would (the move must happen)."""
    conn = await asyncpg.connect(stack.db)
    try:
        agent_id = await conn.fetchval("SELECT id FROM agents WHERE username = $1", username)
        assert await agents.move(conn, agent_id, expected, state, cause="supervisor", actor="test", reason="test")
    finally:
        await conn.close()
