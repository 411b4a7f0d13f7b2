"""Live updates for every open console tab: one LISTEN connection, one websocket per tab.

PostgreSQL NOTIFYs ``console`` (migration 0009) on every change a page shows: an agent's state, a queue entry,
a call answered or ended, a transcript segment, a tag. The hub turns each into messages:

- the agent concerned gets a fresh ``desk`` snapshot (``agents.desk.services.snapshot``), computed once and sent
  to each of that agent's tabs, so two windows never disagree and no browser polls;
- live transcript segments and tags go to the agent on that call as ``desk`` snapshots too (their ``live``
  part), coalesced per agent;
- supervisors get the ``wallboard`` again, computed at most every :data:`WALLBOARD_EVERY_S` for all of them.

Snapshots for one agent are coalesced: a burst of notifications causes one read. When the LISTEN connection
drops, the hub reconnects with backoff and resends everything (a full resync); a browser that reconnects gets
a full snapshot on connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from aiohttp import web

from db import console
from db.agents import Agent

log = logging.getLogger(__name__)

CHANNEL = "console"
WALLBOARD_EVERY_S = 0.1
DESK_COALESCE_S = 0.02

Snapshot = Callable[[Any, Agent], Awaitable[dict[str, Any]]]
Wallboard = Callable[[Any], Awaitable[dict[str, Any]]]


@dataclass(eq=False)
class Tab:
    ws: web.WebSocketResponse
    agent: Agent
    supervisor: bool
    session_id: str | None


@dataclass
class Hub:
    pool: Any
    desk: Snapshot  # the agent's desk, for one agent
    board: Wallboard  # the wallboard, for supervisors
    tabs: dict[int, set[Tab]] = field(default_factory=dict)  # by agent id
    _dirty_agents: set[int] = field(default_factory=set)
    _desk_task: asyncio.Task[None] | None = None
    _board_task: asyncio.Task[None] | None = None
    _board_dirty: bool = False
    _board_read_at: float = float("-inf")  # loop time of the last wallboard read
    _listen_task: asyncio.Task[None] | None = None
    _lookups: set[asyncio.Task[None]] = field(default_factory=set)
    _closing: bool = False
    sent: int = 0  # messages sent (for the benchmark and health)

    # ---- lifecycle

    async def start(self) -> None:
        self._listen_task = asyncio.create_task(self._listen(), name="console-listen")

    async def close(self) -> None:
        self._closing = True
        for task in (self._listen_task, self._desk_task, self._board_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for tab in [t for tabs in self.tabs.values() for t in tabs]:
            await tab.ws.close(code=1001, message=b"server stopping")

    async def _listen(self) -> None:
        backoff = 0.5
        while not self._closing:
            try:
                async with self.pool.acquire() as conn:
                    await conn.add_listener(CHANNEL, self._notified)
                    try:
                        backoff = 0.5
                        self.resync_all()  # whatever happened while we were not listening
                        await self._until_closed(conn)
                    finally:
                        with contextlib.suppress(Exception):
                            await conn.remove_listener(CHANNEL, self._notified)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: retry, then resync everybody
                log.warning("console LISTEN connection lost (%s): retrying in %.1fs", type(exc).__name__, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    @staticmethod
    async def _until_closed(conn: Any) -> None:
        closed = asyncio.Event()
        conn.add_termination_listener(lambda _conn: closed.set())
        if not conn.is_closed():
            await closed.wait()

    # ---- tabs

    def add(self, tab: Tab) -> None:
        self.tabs.setdefault(tab.agent.id, set()).add(tab)

    def remove(self, tab: Tab) -> None:
        tabs = self.tabs.get(tab.agent.id)
        if tabs is not None:
            tabs.discard(tab)
            if not tabs:
                del self.tabs[tab.agent.id]

    async def close_sessions(self, agent_id: int, session_id: str | None = None) -> None:
        """Close the tabs of one session (logout) or of every session of the agent (logout everywhere)."""
        for tab in list(self.tabs.get(agent_id, ())):
            if session_id is None or tab.session_id == session_id:
                await tab.ws.close(code=4001, message=b"logged out")

    def resync_all(self) -> None:
        self._dirty_agents.update(self.tabs)
        self._schedule_desks()
        self._schedule_board()

    # ---- notifications

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            event = json.loads(payload)
        except ValueError:
            return
        kind = event.get("kind")
        agent_id = event.get("agent_id")
        if kind in ("agent", "entry", "call"):
            self._schedule_board()
        if isinstance(agent_id, int):
            self.agent_changed(agent_id)
        elif kind in ("transcript", "tag", "call") and event.get("call_id"):
            task = asyncio.create_task(self._call_changed(UUID(event["call_id"])))
            self._lookups.add(task)
            task.add_done_callback(self._lookups.discard)

    async def _call_changed(self, call_id: UUID) -> None:
        try:
            async with self.pool.acquire() as conn:
                agent_id = await console.call_agent(conn, call_id)
        except Exception as exc:
            log.warning("console: could not find the agent of a call: %s", type(exc).__name__)
            return
        if agent_id is not None:
            self.agent_changed(agent_id)

    def agent_changed(self, agent_id: int) -> None:
        if agent_id in self.tabs:
            self._dirty_agents.add(agent_id)
            self._schedule_desks()

    def _schedule_desks(self) -> None:
        if self._desk_task is None or self._desk_task.done():
            self._desk_task = asyncio.create_task(self._send_desks())

    def _schedule_board(self) -> None:
        self._board_dirty = True  # a change while a read runs is read again after it, never dropped
        if self._board_task is None or self._board_task.done():
            self._board_task = asyncio.create_task(self._send_board())

    async def _send_desks(self) -> None:
        await asyncio.sleep(DESK_COALESCE_S)
        while self._dirty_agents:
            batch, self._dirty_agents = self._dirty_agents, set()
            await asyncio.gather(*(self._send_desk(agent_id) for agent_id in batch))

    async def _send_desk(self, agent_id: int) -> None:
        tabs = list(self.tabs.get(agent_id, ()))
        if not tabs:
            return
        try:
            async with self.pool.acquire() as conn:
                message = await self.desk(conn, tabs[0].agent)
        except Exception as exc:
            log.warning("console: desk snapshot of agent %d failed: %s", agent_id, type(exc).__name__)
            return
        await asyncio.gather(*(self._send(tab, message) for tab in tabs))

    async def _send_board(self) -> None:
        """Read and send the wallboard while changes keep coming: at once for the first change, then at most
        every WALLBOARD_EVERY_S (a burst of changes is one read)."""
        loop = asyncio.get_running_loop()
        while self._board_dirty:
            wait = self._board_read_at + WALLBOARD_EVERY_S - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._board_dirty = False
            self._board_read_at = loop.time()
            tabs = [t for ts in self.tabs.values() for t in ts if t.supervisor]
            if not tabs:
                continue
            try:
                async with self.pool.acquire() as conn:
                    message = await self.board(conn)
            except Exception as exc:
                log.warning("console: wallboard failed: %s", type(exc).__name__)
                continue
            await asyncio.gather(*(self._send(tab, message) for tab in tabs))

    async def _send(self, tab: Tab, message: dict[str, Any]) -> None:
        if tab.ws.closed:
            return
        try:
            await tab.ws.send_str(json.dumps(message, ensure_ascii=False, default=str))
            self.sent += 1
        except (ConnectionError, RuntimeError):
            self.remove(tab)

    async def send_now(self, tab: Tab, message: dict[str, Any]) -> None:
        await self._send(tab, message)
