"""Waiting in a queue, as the cell sees it: join, hold music, announcements, exit keys, offers, leave.

The caller is a row in `queue_entries`; the ACD dispatcher (hotline.acd.dispatcher) offers it to an agent
and NOTIFYs 'acd_offer'. The cell then rings the agent's phone through the front, bridges on answer
(`connected`), or puts the caller back in line (ring no answer, busy, phone not registered: that agent is
paused with the reason). The queue's waiting policies (hotline.acd.waiting) decide whether a caller may join
(`no_agents` by `join_when_empty`, `full` by `max_length`) and when a waiting caller leaves because the last
member logged out (`leave_when_empty`, checked every RECHECK_S); a caller also leaves on an exit key or at the
maximum wait (`timeout`: the flow's, else the queue's). Every step is written to call_events in the spirit of
Asterisk's queue_log (a refused caller: ENTERQUEUE, then EXITEMPTY or FULL), so queue metrics can be
recomputed from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from uuid import UUID

from db import acd, agents, calls, queues, transfers
from hotline.acd.waiting import WaitPolicy, leaves, max_wait
from hotline.cell.records import Session
from hotline.clock import SYSTEM, Clock
from hotline.events import CallEvent
from hotline.flow import Enqueue, QueueOutcome, say_number
from hotline.sip.call import CallLeg, DialError

log = logging.getLogger(__name__)
RECHECK_S = 5.0  # how often a waiting caller re-checks that someone is still logged in
MAX_UNANSWERED = 3  # offers an agent may leave unanswered in a row before being paused
# how a caller who was not connected left the line, by QueueOutcome.kind
_LEFT_BECAUSE = {
    "no_agents": CallEvent.EXITEMPTY,
    "timeout": CallEvent.EXITWITHTIMEOUT,
    "exit_key": CallEvent.EXITWITHKEY,
}


class QueueWait:
    """One per cell. `start()` opens the LISTEN connection for offers; `wait()` runs one caller's stay."""

    def __init__(self, pool: Any, cell: str, front: str, clock: Clock = SYSTEM) -> None:
        self.pool, self.cell, self.front, self.clock = pool, cell, front, clock
        self._offers: dict[int, asyncio.Event] = {}
        self._transfers: dict[UUID, asyncio.Event] = {}
        self._listener: Any = None

    async def start(self) -> None:
        self._listener = await self.pool.acquire()
        await self._listener.add_listener(acd.OFFERS, self._offer_notified)
        await self._listener.add_listener(transfers.CHANNEL, self._transfer_notified)

    async def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.remove_listener(acd.OFFERS, self._offer_notified)
                await self._listener.remove_listener(transfers.CHANNEL, self._transfer_notified)
            await self.pool.release(self._listener)
            self._listener = None

    def _transfer_notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            event = self._transfers.get(UUID(payload))
            if event is not None:
                event.set()

    async def transfer_wanted(self, call_id: UUID) -> asyncio.Event:
        """Set when the agent connected with the call asks for a transfer (now, or before this was asked)."""
        event = self._transfers.setdefault(call_id, asyncio.Event())
        async with self.pool.acquire() as conn:
            if await transfers.pending(conn, call_id):
                event.set()
        return event

    def forget(self, call_id: UUID) -> None:
        self._transfers.pop(call_id, None)

    async def transfer(self, leg: CallLeg, session: Session, to: transfers.Transfer, priority: int) -> QueueOutcome:
        """Carry out a blind transfer: the agent's leg is hung up (BLINDTRANSFER; the agent goes to wrap-up to
        finish the work order) and the caller, told they are being put through, rings the target agent or waits
        in the target queue. A target agent who is not free or does not answer sends the caller back to the
        queue the call came through."""
        agent_leg = session.agent
        await leg.unbridge()
        if agent_leg is not None:
            with contextlib.suppress(Exception):
                await agent_leg.hangup()
        target = {"queue": to.queue_name} if to.username is None else {"agent": to.username}
        await self.agent_done(session, by_caller=False, transferred={**target, "by": to.from_username})
        log.info("call %s: %s transferred the caller to %s", session.call_id, to.from_username, target)
        await leg.play([leg.prompt("connecting.wav")])
        queue = to.queue_name or to.call_queue
        if to.agent_id is not None:
            async with self.pool.acquire() as conn, conn.transaction():
                free = await agents.move(
                    conn,
                    to.agent_id,
                    "available",
                    "reserved",
                    cause="system",
                    actor="cell",
                    reason="transfer",
                    call_id=session.call_id,
                )
                entry_id = await queues.hand_to(conn, session.call_id, to.agent_id) if free else None
                if entry_id is None:
                    await transfers.failed(conn, to.id, "agent not available")
            if entry_id is not None and session.queue_id is not None:
                outcome = await self._offer(leg, session, entry_id, session.queue_id, self.clock.monotonic())
                if outcome is not None:
                    return outcome
                async with self.pool.acquire() as conn:
                    await transfers.failed(conn, to.id, "agent did not answer")
        if queue is None:
            return QueueOutcome("no_agents")
        again = Enqueue(queue, (), priority, None, None, "", hold="connecting")
        return await self.wait(leg, session, again, priority)

    def _offer_notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        event = self._offers.get(int(payload))
        if event is not None:
            event.set()

    async def queue_id(self, session: Session, name: str) -> int | None:
        async with self.pool.acquire() as conn:
            return await queues.id_of(conn, name)

    async def _position(self, session: Session, queue_id: int) -> int:
        async with self.pool.acquire() as conn:
            return await queues.ahead_of(conn, queue_id, session.call_id) + 1

    async def _keys_or_offer(self, leg: CallLeg, exit_keys: str, offered: asyncio.Event, limit: float) -> str:
        """Wait up to `limit` s for an exit key or an offer; the key typed, or "" (offer, time up)."""
        tasks: set[asyncio.Task[Any]] = {asyncio.ensure_future(offered.wait())}
        keys = asyncio.ensure_future(leg.collect_digits(1, limit, 0.05, "")) if exit_keys else None
        if keys is not None:
            tasks.add(keys)
        try:
            await asyncio.wait(tasks, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if keys is not None and keys.done() and not keys.cancelled() and keys.exception() is None:
            return str(keys.result())
        if keys is not None and keys.done() and not keys.cancelled() and keys.exception() is not None:
            raise keys.exception()  # type: ignore[misc]
        return ""

    async def _expected_wait(self, queue_id: int) -> float | None:
        """Exponentially smoothed wait of the callers this queue connected in the last hour (the most recent
        weigh most, as Asterisk's holdtime does); None when there is no such call."""
        async with self.pool.acquire() as conn:
            waits = await queues.recent_waits(conn, queue_id)
        return smoothed_wait(waits)

    async def _event(self, session: Session, name: CallEvent, queue_id: int | None, **data: Any) -> None:
        async with self.pool.acquire() as conn:
            await calls.add_event(conn, session.call_id, name, queue_id=queue_id, data=data)

    async def wait(self, leg: CallLeg, session: Session, action: Enqueue, priority: int) -> QueueOutcome:
        queue_id = await self.queue_id(session, action.queue)
        if queue_id is None:
            await self._event(session, CallEvent.EXITEMPTY, None, queue=action.queue, reason="queue not configured")
            return QueueOutcome("no_agents")
        async with self.pool.acquire() as conn:
            await calls.set_queue(conn, session.call_id, queue_id)
        leg.flush_digits()  # keys typed before the caller joined are not exit keys
        entered = self.clock.monotonic()
        session.queue_id = queue_id
        await self._event(session, CallEvent.ENTERQUEUE, queue_id, priority=priority, skills=list(action.skills))
        async with self.pool.acquire() as conn:
            joined = await queues.join(conn, queue_id, session.call_id, self.cell, priority, list(action.skills))
        if joined.refused is not None or joined.entry_id is None:
            await self._refused(session, queue_id, joined)
            return QueueOutcome(joined.refused or "no_agents")
        entry_id = joined.entry_id
        offered = self._offers[entry_id] = asyncio.Event()
        try:
            outcome = await self._hold(
                leg, session, action, queue_id, entered, entry_id, offered, joined.policy, joined.staffing.logged_in > 0
            )
        except BaseException:
            waited = round(self.clock.monotonic() - entered, 1)
            with contextlib.suppress(Exception):
                await asyncio.shield(self._leave(session, entry_id, queue_id, CallEvent.ABANDON, waited=waited))
            raise
        finally:
            self._offers.pop(entry_id, None)
        if outcome.kind != "connected":
            waited = round(self.clock.monotonic() - entered, 1)
            name = _LEFT_BECAUSE[outcome.kind]
            await self._leave(session, entry_id, queue_id, name, waited=waited, key=outcome.digit)
        return outcome

    async def _refused(self, session: Session, queue_id: int, joined: queues.Join) -> None:
        policy, staff = joined.policy, joined.staffing
        if joined.refused == "full":
            await self._event(
                session, CallEvent.FULL, queue_id, waited=0.0, in_line=joined.in_line, max_length=policy.max_length
            )
        else:
            await self._event(
                session,
                CallEvent.EXITEMPTY,
                queue_id,
                waited=0.0,
                join_when_empty=policy.join_when_empty.value,
                logged_in=staff.logged_in,
                unpaused=staff.unpaused,
            )

    async def _leave(self, session: Session, entry_id: int, queue_id: int, event: CallEvent, **data: Any) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            reserved = await queues.leave(conn, entry_id)
            if reserved is not None:
                await _set_agent(conn, reserved, "reserved", "available", "caller left", session)
            await calls.add_event(conn, session.call_id, event, queue_id=queue_id, data=data)

    async def _offer(
        self, leg: CallLeg, session: Session, entry_id: int, queue_id: int, entered: float
    ) -> QueueOutcome | None:
        """Ring the offered agent; bridge on answer. None: the caller is back in line."""
        async with self.pool.acquire() as conn:
            offer = await queues.offer_of(conn, entry_id)
        if offer is None:
            return None
        agent_id = offer.agent_id
        started = self.clock.monotonic()
        try:
            agent_leg = await leg.dial_agent(f"sip:{offer.username}@{self.front}", timeout=offer.ring_timeout_s)
        except DialError as exc:
            await self._ring_failed(session, entry_id, queue_id, agent_id, exc, self.clock.monotonic() - started)
            return None
        await leg.stop_music()
        await leg.bridge(agent_leg)
        if session.live is not None:
            await session.live.add_agent(agent_leg)
        session.agent, session.agent_id, session.on_hangup = agent_leg, agent_id, "answered"
        waited = round(self.clock.monotonic() - entered, 1)
        async with self.pool.acquire() as conn, conn.transaction():
            await queues.connected(conn, entry_id)
            await calls.set_agent(conn, session.call_id, agent_id)
            await _set_agent(conn, agent_id, "reserved", "on_call", None, session)
            await calls.add_event(
                conn,
                session.call_id,
                CallEvent.CONNECT,
                queue_id=queue_id,
                agent_id=agent_id,
                data={"waited": waited, "ring": round(self.clock.monotonic() - started, 1)},
            )
        return QueueOutcome("connected")

    async def _ring_failed(
        self, session: Session, entry_id: int, queue_id: int, agent_id: int, exc: DialError, rang: float
    ) -> None:
        unreachable = exc.kind in ("not_found", "unavailable")
        async with self.pool.acquire() as conn, conn.transaction():
            await queues.offer_declined(conn, entry_id)
            missed = await agents.unanswered_in_a_row(conn, agent_id)
            if unreachable:  # the phone is not registered: do not offer this agent calls until fixed
                reason = f"phone unreachable ({exc.status_code or exc.kind})"
                await _set_agent(conn, agent_id, "reserved", "paused", reason, session)
            elif missed + 1 >= MAX_UNANSWERED:
                reason = f"{missed + 1} offers unanswered in a row"
                await _set_agent(conn, agent_id, "reserved", "paused", reason, session)
            else:
                await _set_agent(conn, agent_id, "reserved", "available", f"no answer ({exc.kind})", session)
            await calls.add_event(
                conn,
                session.call_id,
                CallEvent.RINGNOANSWER,
                queue_id=queue_id,
                agent_id=agent_id,
                data={"ring": round(rang, 1), "reason": exc.kind, "status": exc.status_code},
            )

    async def agent_done(self, session: Session, by_caller: bool, transferred: dict[str, Any] | None = None) -> None:
        """The conversation ended: log who hung up (or where the agent transferred the caller) and put the
        agent in wrap-up."""
        if session.agent_id is None:
            return
        agent_id, session.agent_id, session.agent = session.agent_id, None, None
        event = (
            CallEvent.BLINDTRANSFER
            if transferred
            else CallEvent.COMPLETECALLER
            if by_caller
            else CallEvent.COMPLETEAGENT
        )
        # through the durable writer: a conversation that outlives a database outage still ends in the record
        await session.write(
            "agent_done", agent_id=agent_id, event=event.value, queue_id=session.queue_id, data=transferred
        )

    async def _hold(
        self,
        leg: CallLeg,
        session: Session,
        action: Enqueue,
        queue_id: int,
        entered: float,
        entry_id: int,
        offered: asyncio.Event,
        policy: WaitPolicy,
        staffed: bool,
    ) -> QueueOutcome:
        """The caller's stay after joining; `staffed`: a member was logged in when they joined."""
        limit = max_wait(action.max_wait, policy)
        announce = action.announce
        next_announce = entered + (announce.every if announce else limit)
        next_check = entered + RECHECK_S
        hold = leg.prompt(f"{action.hold}.wav") if action.hold else None
        music = False
        while True:
            now = self.clock.monotonic()
            if now - entered >= limit:
                await leg.stop_music()
                return QueueOutcome("timeout")
            if hold is not None and not music:
                await leg.start_music(hold)
                music = True
            until = min(next_announce, next_check, entered + limit)
            digits = await self._keys_or_offer(leg, action.exit_keys, offered, max(until - now, 0.05))
            if digits and digits in action.exit_keys:
                await leg.stop_music()
                return QueueOutcome("exit_key", digits)
            now = self.clock.monotonic()
            if offered.is_set() or now >= next_check:
                offered.clear()
                outcome = await self._offer(leg, session, entry_id, queue_id, entered)
                if outcome is not None:
                    return outcome
            if now >= next_check:
                next_check = now + RECHECK_S
                async with self.pool.acquire() as conn:
                    staff = await queues.staffing(conn, queue_id)
                if leaves(policy, staff, staffed):
                    await leg.stop_music()
                    return QueueOutcome("no_agents")
                staffed = staffed or staff.logged_in > 0
            if announce is not None and now >= next_announce:
                next_announce = now + announce.every
                await leg.stop_music()
                music = False
                prompts: list[str] = []
                if announce.position_prompts:
                    head, tail = announce.position_prompts
                    prompts += [head, *say_number(await self._position(session, queue_id)), tail]
                expected = await self._expected_wait(queue_id)
                if announce.wait_prompts and expected is not None:
                    head, tail = announce.wait_prompts
                    prompts += [head, *say_number(max(1, round(expected / 60))), tail]
                if announce.offer:
                    prompts.append(announce.offer)
                digit = await leg.play([leg.prompt(f"{p}.wav") for p in prompts], interrupt_digits=action.exit_keys)
                if digit is not None:
                    leg.consume_digit(digit)
                    return QueueOutcome("exit_key", digit)


def smoothed_wait(waits: list[float], alpha: float = 0.25) -> float | None:
    """Exponential smoothing of answered waits, oldest first: each new wait moves the estimate by `alpha`."""
    estimate: float | None = None
    for wait in waits:
        estimate = wait if estimate is None else alpha * wait + (1 - alpha) * estimate
    return estimate


async def _set_agent(conn: Any, agent_id: int, expected: str, state: str, reason: str | None, session: Session) -> None:
    """A change the call causes, only from the state expected (a supervisor may have moved the agent)."""
    await agents.move(
        conn, agent_id, expected, state, cause="system", actor="cell", reason=reason, call_id=session.call_id
    )
