"""`hotline simulate`: play a script (hotline/sim/script.py) through the running service, as its users would.

Agents: each is a sipp UAS (scenario ``agent_hangs_up``: answers, talks for the drawn time, hangs up), registered
with digest auth through the front, and a console session (HTTP Basic) that logs in, goes available, watches its
desk, closes the work order after the drawn wrap-up, and pauses now and then. A new UAS is started on the same
port after each call (one call each: the talk time is drawn per call).

Callers: one sipp per call (scenario ``sim_caller``) through the front, From the caller's number, with the run's
signed Call-ID (hotline/caller/simulated.py: the cell marks the record as simulated). The caller is steered by the
simulator with in-dialog requests sent straight to its sipp (keys to press, hang up): it presses its menu path,
waits, gives up after its patience unless an agent answered (the agent's desk shows the masked number, unique in a
run), asks for a callback, and after the agent hangs up answers the survey. The service's BYE ends it at any point.

Nothing here writes a call record: the service does, as for any caller. The only database writes are the
simulated agents' accounts and `--purge`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import secrets
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from db import console as console_db
from db import queues as queues_db
from db import simulation
from hotline.caller.privacy import NumberKeys
from hotline.caller.simulated import call_id as signed_call_id
from hotline.clock import Clock
from hotline.config import Settings
from hotline.errors import HotlineError
from hotline.sim.script import Caller, Profile, Shift, callers, shifts, skills_asked
from hotline.sipp import command

log = logging.getLogger("hotline.sim")

GREETING_S = 30.0  # the welcome and the safety notice before the menu (ivr_flows/yunnan_12348.yaml)
PATIENT_S = 420.0  # a patient caller stays beyond the queues' max_wait (300 s): the flow decides
KEY_GAP_S = 0.8
SURVEY_GAP_S = 4.0
DESK_POLL_S = 1.0


def free_udp_port(host: str, span: int = 1) -> int:
    """An even UDP port on `host` with `span` free ports from it (sipp's media uses port and port + 2)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
            base = int(probe.getsockname()[1]) & ~1
        if base + span > 65535:
            continue
        held: list[socket.socket] = []
        try:
            for port in range(base, base + span):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(s)
                s.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise HotlineError(f"no free UDP ports on {host}")


class Orders:
    """Sends a caller's sipp its orders: requests in its dialog (the run's Call-ID), straight to its port."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)

    def send(self, port: int, call_id: str, method: str, body: str, cseq: int) -> None:
        me = self.sock.getsockname()[1]
        text = (
            f"{method} sip:caller@{self.host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {self.host}:{me};branch=z9hG4bK{secrets.token_hex(8)}\r\n"
            f"From: <sip:simulator@{self.host}:{me}>;tag={secrets.token_hex(4)}\r\n"
            f"To: <sip:caller@{self.host}:{port}>\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: {cseq} {method}\r\n"
            "Max-Forwards: 70\r\n"
            "Content-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        )
        with contextlib.suppress(BlockingIOError):
            while True:  # the answers are not needed
                self.sock.recv(4096)
        self.sock.sendto(text.encode(), (self.host, port))

    def close(self) -> None:
        self.sock.close()


@dataclass
class Tally:
    placed: int = 0
    connected: int = 0  # an agent took the call (seen on the agent's desk)
    gave_up: int = 0  # hung up while waiting (patience)
    callbacks_asked: int = 0
    surveys: int = 0
    failed: int = 0  # ended within two seconds: refused by the service (busy) or sipp could not start
    work_orders: int = 0
    agent_errors: list[str] = field(default_factory=list)


@dataclass
class Live:
    """A caller in progress, as the agents' side needs it."""

    caller: Caller
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    agent_done: asyncio.Event = field(default_factory=asyncio.Event)


class Simulation:
    def __init__(
        self,
        settings: Settings,
        keys: NumberKeys,
        profile: Profile,
        *,
        seed: int,
        duration_s: float,
        per_minute: float,
        agents: int,
        clock: Clock,
        prefix: str = "sim",
        drain_s: float = 600.0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        if agents < 0:
            raise HotlineError(f"--agents {agents}: expected 0 or more")
        self.settings = settings
        self.keys = keys
        self.profile = profile
        self.seed = seed
        self.duration_s = duration_s
        self.script = callers(profile, seed, duration_s, per_minute)
        self.agent_count = agents
        self.clock = clock
        self.prefix = prefix
        self.drain_s = drain_s
        self.progress = progress
        self.run_id = f"{seed}x{secrets.token_hex(3)}"
        self.host = settings.sip.listen_host
        self.front = f"{self.host}:{settings.sip.listen_port}"
        self.console = f"http://{settings.http.host}:{settings.http.port}"
        self.tally = Tally()
        self.live: dict[str, Live] = {}  # masked number -> caller in progress
        self.stopping = asyncio.Event()
        self.workdir = Path(tempfile.mkdtemp(prefix="hotline-sim-"))
        self.orders = Orders(self.host)
        self._procs: set[asyncio.subprocess.Process] = set()

    @property
    def call_prefix(self) -> str:
        """The start of every SIP Call-ID of this run."""
        return f"sim-{self.run_id}-"

    # ---- set-up: the agents' accounts (the simulator's one write besides --purge)

    async def prepare_agents(self, conn: Any) -> list[tuple[str, str]]:
        """The simulated agents: members of every queue, with every skill the service's flows can ask for."""
        from hotline.flow import FlowRegistry

        names = await queues_db.names(conn)
        self.pause_reasons = await console_db.pause_reasons(conn)
        flows = FlowRegistry(
            prompt_dir=self.settings.prompts.source_dir,
            schedule_dir=self.settings.flows.dir / "schedules",
            known_queues=names,
        )
        flows.load(self.settings.flows.files)
        asked = sorted({skill for flow in flows.snapshot().values() for skill in skills_asked(flow)})
        out = []
        for k in range(1, self.agent_count + 1):
            username = f"{self.prefix}{k:02d}"
            password = secrets.token_urlsafe(12)
            await simulation.create_agent(
                conn, username, f"模拟坐席{k:02d}", password, names, skills=asked, actor="simulator"
            )
            out.append((username, password))
        return out

    # ---- processes

    async def _spawn(self, cmd: list[str]) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._procs.add(proc)
        return proc

    async def _end(self, proc: asyncio.subprocess.Process, within: float = 0) -> int | None:
        """Wait up to `within` seconds for a process, then kill it; its exit code (None when killed)."""
        try:
            code: int | None = await asyncio.wait_for(proc.wait(), within) if within > 0 else proc.returncode
        except TimeoutError:
            code = None
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            code = None
        self._procs.discard(proc)
        return code

    async def _wait_any(self, proc: asyncio.subprocess.Process, event: asyncio.Event | None, limit: float) -> str:
        """Until the process ends ("exit"), `event` is set ("event"), the limit passes ("limit") or the run is
        stopped ("stop")."""
        waits = {
            asyncio.ensure_future(proc.wait()): "exit",
            asyncio.ensure_future(self.stopping.wait()): "stop",
            asyncio.ensure_future(self.clock.sleep(limit)): "limit",
        }
        if event is not None:
            waits[asyncio.ensure_future(event.wait())] = "event"
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        order = ("exit", "event", "stop", "limit")
        return min((waits[t] for t in done), key=order.index)

    # ---- a caller

    async def caller(self, c: Caller) -> None:
        port = free_udp_port(self.host)
        sip_id = signed_call_id(self.keys, self.run_id, c.n, self.host)
        cmd = command(
            "sim_caller",
            self.front,
            service=self.settings.sip.service_number,
            local_ip=self.host,
            local_port=port,
            media_port=free_udp_port(self.host, 4),
            calls=1,
            keys={"number": c.number},
            timeout_s=self.drain_s + PATIENT_S + 600,
            extra=["-cid_str", sip_id],
        )
        live = self.live[c.masked] = Live(c)
        proc = await self._spawn(cmd)
        self.tally.placed += 1
        cseq = itertools.count(2)

        def press(key: str) -> None:
            n = next(cseq)
            self.orders.send(port, sip_id, "OPTIONS", f"Signal={key} CSeq={n}", n)

        def hang_up() -> None:
            n = next(cseq)
            self.orders.send(port, sip_id, "MESSAGE", f"CSeq={n}", n)

        try:
            if await self._wait_any(proc, None, 2.0) != "limit":
                self.tally.failed += 1  # refused at once (busy, no cell) or sipp could not start
                return
            for key in c.digits:  # typed ahead: the flow keeps them
                press(key)
                await self.clock.sleep(KEY_GAP_S)
            if c.callback:
                if await self._wait_any(proc, live.answered, GREETING_S + 15) == "limit":
                    press("1")  # in the queue: "press 1 to be called back"
                    self.tally.callbacks_asked += 1
                    await self._wait_any(proc, live.answered, 60)
            patience = PATIENT_S if c.patience is None else GREETING_S + c.patience
            why = "event" if live.answered.is_set() else await self._wait_any(proc, live.answered, patience)
            if why == "limit":
                self.tally.gave_up += 1
                hang_up()
            elif why == "event":
                if await self._wait_any(proc, live.agent_done, self.drain_s + 600) == "event":
                    if c.survey:
                        self.tally.surveys += 1
                        await self.clock.sleep(2.0)
                        for key in c.survey:
                            press(key)
                            await self.clock.sleep(SURVEY_GAP_S)
                        if await self._wait_any(proc, None, 30) != "limit":
                            return
                    hang_up()
            elif why == "stop":
                hang_up()
            await self._end(proc, 10)
        finally:
            if proc.returncode is None:
                hang_up()
            code = await self._end(proc, 5)
            if code not in (0, None) and not live.answered.is_set() and not self.stopping.is_set():
                log.debug("caller %d: sipp exited %s", c.n, code)
            self.live.pop(c.masked, None)

    # ---- an agent

    async def agent(self, k: int, username: str, password: str) -> None:
        port = free_udp_port(self.host)
        habits = shifts(self.profile, self.seed, k)
        auth = {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}
        async with aiohttp.ClientSession(self.console, headers=auth, timeout=aiohttp.ClientTimeout(total=15)) as http:

            async def call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
                async with http.request(method, path, json=body) as resp:
                    data = await resp.json(content_type=None)
                    if resp.status >= 400:
                        raise HotlineError(f"{username}: {method} {path}: {resp.status} {data}")
                    return data  # type: ignore[no-any-return]

            async def phone(shift: Shift) -> asyncio.subprocess.Process:
                return await self._spawn(
                    command(
                        "agent_hangs_up",
                        local_ip=self.host,
                        local_port=port,
                        media_port=free_udp_port(self.host, 4),
                        calls=1,
                        pause_ms=int(shift.talk * 1000),
                    )
                )

            shift = next(habits)
            uas = await phone(shift)
            register = await self._spawn(
                command(
                    "register",
                    self.front,
                    local_ip=self.host,
                    local_port=0,
                    calls=1,
                    keys={"user": username, "contact": f"{self.host}:{port}", "expect": "200"},
                    auth=(username, password),
                    timeout_s=15,
                    timeout_error=True,
                )
            )
            if await self._end(register, 30) != 0:
                await self._end(uas)
                raise HotlineError(f"{username}: the phone could not register at {self.front}")
            try:
                await call("POST", "/api/agents/me/state", {"state": "available"})
                while not self.stopping.is_set():
                    taken: Live | None = None
                    while uas.returncode is None and not self.stopping.is_set():
                        desk = await call("GET", "/agent/desk")
                        pop = desk.get("call")
                        if taken is None and pop and desk["agent"]["state"] == "on_call":
                            taken = self.live.get(pop["caller_masked"])
                            if taken is not None:
                                taken.answered.set()
                                self.tally.connected += 1
                        await self._wait_any(uas, None, DESK_POLL_S)
                    if self.stopping.is_set():
                        break
                    await self._end(uas)
                    if taken is not None:
                        taken.agent_done.set()
                    done, shift = shift, next(habits)
                    uas = await phone(shift)  # ready for the next call before the agent is available again
                    desk = await call("GET", "/agent/desk")
                    if desk["agent"]["state"] == "wrap_up" and desk.get("ticket"):
                        await self.clock.sleep(done.wrap_up)
                        await call(
                            "POST", f"/agent/tickets/{desk['ticket']['number']}/complete", work_order(desk, done)
                        )
                        self.tally.work_orders += 1
                        if done.pause is not None and self.pause_reasons and not self.stopping.is_set():
                            await call("POST", "/agent/state", {"state": "paused", "reason": self.pause_reasons[0]})
                            await self._wait_any(uas, None, done.pause)
                            await call("POST", "/agent/state", {"state": "available"})
            finally:
                await self._end(uas)
                for state in ("available", "logged_out"):  # out of wrap-up or a pause first
                    with contextlib.suppress(HotlineError, aiohttp.ClientError, TimeoutError):
                        await call("POST", "/agent/state", {"state": state})

    # ---- the run

    def _line(self) -> str:
        t = self.tally
        return (
            f"已拨 {t.placed}/{len(self.script)}  接通 {t.connected}  放弃 {t.gave_up}  回拨请求 {t.callbacks_asked}"
            f"  进行中 {len(self.live)}  工单 {t.work_orders}"
        )

    async def run(self, accounts: list[tuple[str, str]]) -> Tally:
        started = self.clock.monotonic()
        agents = [asyncio.ensure_future(self.agent(k, u, p)) for k, (u, p) in enumerate(accounts, 1)]
        calls: list[asyncio.Future[None]] = []
        ticker = asyncio.ensure_future(self._tick())
        try:
            await self.clock.sleep(3.0 if accounts else 0)  # the agents register and go available
            for c in self.script:
                delay = c.at - (self.clock.monotonic() - started)
                if await self._stopped_within(max(delay, 0)):
                    break
                calls.append(asyncio.ensure_future(self.caller(c)))
            if calls:
                _, pending = await asyncio.wait(calls, timeout=self.drain_s)
                if pending:
                    self.stopping.set()
                    await asyncio.wait(pending, timeout=30)
        finally:
            self.stopping.set()
            await asyncio.gather(*calls, return_exceptions=True)
            for result in await asyncio.gather(*agents, return_exceptions=True):
                if isinstance(result, BaseException):
                    self.tally.agent_errors.append(str(result))
            ticker.cancel()
            for proc in list(self._procs):
                await self._end(proc)
            self.orders.close()
        return self.tally

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)
        return self.stopping.is_set()

    async def _tick(self) -> None:
        while True:
            if self.progress is not None:
                self.progress(self._line())
            await self.clock.sleep(2.0)


def print_progress(line: str) -> None:
    sys.stderr.write("\r" + line + "   ")
    sys.stderr.flush()


def work_order(desk: dict[str, Any], shift: Shift) -> dict[str, Any]:
    """The form as the agent closes it: the suggested legal area and service when the desk has them."""
    ticket = desk.get("ticket") or {}
    area = ticket.get("legal_area") or shift.legal_area
    service = ticket.get("service") or "法律咨询"
    form: dict[str, Any] = {
        "legal_area": area,
        "service": service,
        "facts": f"（模拟来电）来电人咨询{area}方面的问题。",
        "answer": "（模拟坐席）已告知相关法律规定和办理途径。",
        "disposition": "已转介" if shift.referred else "已解答",
    }
    if shift.referred:
        form["referral"] = "法律援助" if service == "法律援助" else "人民调解"
    return form
