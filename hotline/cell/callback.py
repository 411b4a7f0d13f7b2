"""Callbacks that keep the caller's place: the cell calls the agent, then the caller, and bridges them.

A caller who asks for a callback (flow node `callback`) hangs up but stays in `queue_entries` with their
original `entered_at` and a `callback_id`. The dispatcher offers that entry like any other; whichever cell
claims the offer first (row lock on the `callbacks` row, status waiting -> dialing) rings the reserved
agent's phone, tells the agent it is a callback, calls the caller through the front's outbound gateway
(`X-Hotline-Route: outbound`), greets them and bridges. The conversation is a call of its own
(`calls.direction = 'callback'`, linked by `parent_call_id`), recorded like an inbound one.

Every attempt is a `callback_attempts` row and a CALLBACKATTEMPT event on the original call. An agent who
does not answer is handled as a ring-no-answer (the entry goes back to waiting for the next agent, the
caller's attempts are not used up). A caller who does not answer uses one attempt: the entry waits
`retry_seconds` (`not_before`) and is offered again, until `max_attempts`, then the callback is `failed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import Any

from db import acd, agents, callbacks, calls
from hotline.caller.phone import dial_string, parse_caller
from hotline.caller.privacy import NumberKeys
from hotline.cell.queueing import QueueWait
from hotline.cell.records import Session, close_call
from hotline.cell.transcription import LiveTranscription
from hotline.clock import SYSTEM, Clock
from hotline.events import CallEvent
from hotline.sip.call import CallContext, CallEnded, CallLeg, DialError, dial
from hotline.sip.engine import PjEngine, SipError

log = logging.getLogger(__name__)

CALLER_RING_S = 40.0  # how long the caller's phone rings before the attempt counts as unanswered
POLL_S = 2.0  # offers are also looked for this often (NOTIFY may be lost while reconnecting)
LEGS_PER_CALLBACK = 2

# DialError kinds -> callback_attempts.result
_RESULTS = {"busy": "busy", "declined": "rejected", "timeout": "no_answer", "cancelled": "no_answer"}


@dataclasses.dataclass(frozen=True)
class Claim(callbacks.ClaimedCallback):
    claimed: float  # when, on this process's monotonic clock


class CallbackDialer:
    """One per cell: claims callback offers and runs them. `start()` / `stop()` around the cell's life."""

    def __init__(
        self,
        pool: Any,
        keys: NumberKeys,
        cell: str,
        engine: PjEngine[CallLeg],
        context: CallContext,
        front: str,
        queue_wait: QueueWait,
        live: LiveTranscription | None = None,
        service_number: str = "12348",
        clock: Clock = SYSTEM,
    ) -> None:
        self.pool, self.keys, self.cell, self.engine = pool, keys, cell, engine
        self.clock = clock
        self.live = live
        self.caller_id = f"sip:{service_number}@{front.split(':')[0]}"  # what the called-back caller sees
        self.context, self.front, self.queue_wait = context, front, queue_wait
        self.tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._listener: Any = None
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._listener = await self.pool.acquire()
        await self._listener.add_listener(acd.OFFERS, self._notified)
        self._loop_task = asyncio.create_task(self._run(), name=f"callbacks-{self.cell}")

    async def stop(self, drain_timeout: float = 0.0) -> None:
        """Stop claiming; callbacks in progress get `drain_timeout` seconds, then are ended."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if self.tasks and drain_timeout > 0:
            await asyncio.wait(set(self.tasks), timeout=drain_timeout)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.remove_listener(acd.OFFERS, self._notified)
            await self.pool.release(self._listener)
            self._listener = None

    def _notified(self, *_args: Any) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            self._wake.clear()
            try:
                while (claim := await self.claim()) is not None:
                    task = asyncio.create_task(self.run(claim), name=f"callback-{claim.callback_id}")
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
            except (TimeoutError, OSError) as exc:
                log.warning("callbacks: database unreachable, retrying: %s", exc)
            except Exception as exc:
                if not type(exc).__module__.startswith("asyncpg"):
                    raise
                log.warning("callbacks: database error, retrying: %s", exc)

    async def claim(self) -> Claim | None:
        """Take one offered callback for this cell (None when there is none, or no room for two legs)."""
        if not self.engine.accepting or self.engine.legs_in_use + LEGS_PER_CALLBACK > self.engine.max_legs:
            return None
        async with self.pool.acquire() as conn:
            found = await callbacks.claim(conn, self.cell)
        if found is None:
            return None
        return Claim(
            **{f.name: getattr(found, f.name) for f in dataclasses.fields(found)}, claimed=self.clock.monotonic()
        )

    async def run(self, claim: Claim) -> None:
        """One attempt: agent first, then the caller; every exit writes the attempt's result."""
        async with self.pool.acquire() as conn:
            attempt_id = await callbacks.start_attempt(conn, claim.callback_id, claim.agent_id, self.cell)
        agent_leg: CallLeg | None = None
        failure = "a leg hung up before the bridge"
        try:
            started = self.clock.monotonic()
            try:
                agent_leg = await dial(self.engine, f"sip:{claim.username}@{self.front}", timeout=claim.ring_timeout)
            except DialError as exc:
                await self._agent_failed(claim, attempt_id, exc, self.clock.monotonic() - started)
                return
            agent_leg.context = self.context
            await self._call_caller(claim, attempt_id, agent_leg)
        except CallEnded:
            pass  # the agent hung up during the notice: closed below, the callback waits for the next agent
        except BaseException as exc:
            failure = type(exc).__name__
            if not isinstance(exc, asyncio.CancelledError):
                log.exception("callback %d: attempt failed", claim.callback_id)
            raise
        finally:
            if agent_leg is not None:
                with contextlib.suppress(SipError):
                    await asyncio.shield(agent_leg.hangup())
            await asyncio.shield(self._release(claim, attempt_id, failure))

    async def _call_caller(self, claim: Claim, attempt_id: int, agent_leg: CallLeg) -> None:
        await agent_leg.play([self.context.prompt("callback_agent_notice.wav")])
        async with self.pool.acquire() as conn:
            await callbacks.calling_caller(conn, claim.callback_id, claim.entry_id)
        attempt = claim.attempts + 1
        number = self.keys.decrypt(claim.number_enc)
        try:
            caller_leg = await agent_leg._until(
                dial(
                    self.engine,
                    f"sip:{dial_string(number)}@{self.front}",
                    timeout=CALLER_RING_S,
                    headers={"X-Hotline-Route": "outbound"},
                    from_uri=self.caller_id,
                ),
                None,
            )
        except DialError as exc:
            await self._caller_failed(claim, attempt_id, attempt, _RESULTS.get(exc.kind, "failed"), exc.status_code)
            return
        except CallEnded:  # the agent hung up while the caller's phone rang
            await self._caller_failed(claim, attempt_id, attempt, "cancelled", None, reason="agent hung up")
            return
        caller_leg.context = self.context
        try:
            await self._converse(claim, attempt_id, attempt, number, agent_leg, caller_leg)
        finally:
            with contextlib.suppress(SipError):
                await asyncio.shield(caller_leg.hangup())

    async def _converse(
        self, claim: Claim, attempt_id: int, attempt: int, number: str, agent_leg: CallLeg, caller_leg: CallLeg
    ) -> None:
        caller = parse_caller(number)
        async with self.pool.acquire() as conn, conn.transaction():
            call_id = await calls.start(
                conn, sip_call_id=caller_leg.sip_call_id, caller=caller, keys=self.keys, cell=self.cell
            )
            await calls.link_callback(conn, call_id, claim.call_id, claim.queue_id, claim.agent_id)
            await calls.answered(conn, call_id)
        outcome, reason = "failed", None
        live = self.live.call(call_id, caller_leg) if self.live is not None else None
        try:
            await caller_leg.start_recording(self.context.recording_path(caller_leg))
            if live is not None:
                await live.start_caller()
            await caller_leg.play([self.context.prompt("callback_greeting.wav")])
            await caller_leg.bridge(agent_leg)
            if live is not None:
                await live.add_agent(agent_leg)
            waited = round(claim.waited + self.clock.monotonic() - claim.claimed, 1)
            async with self.pool.acquire() as conn, conn.transaction():
                await callbacks.connected(conn, claim.callback_id, claim.entry_id, attempt_id, call_id)
                await agents.move(
                    conn, claim.agent_id, "reserved", "on_call", cause="system", actor="cell", call_id=call_id
                )
                await calls.add_event(
                    conn,
                    call_id,
                    CallEvent.CONNECT,
                    queue_id=claim.queue_id,
                    agent_id=claim.agent_id,
                    data={"waited": waited},
                )
                await calls.add_event(
                    conn,
                    claim.call_id,
                    CallEvent.CALLBACKATTEMPT,
                    queue_id=claim.queue_id,
                    agent_id=claim.agent_id,
                    data={"attempt": attempt, "result": "connected", "call": str(call_id)},
                )
            outcome = "answered"
            by_caller = await _first_to_hang_up(caller_leg, agent_leg)
            async with self.pool.acquire() as conn, conn.transaction():
                await agents.move(
                    conn, claim.agent_id, "on_call", "wrap_up", cause="system", actor="cell", call_id=call_id
                )
                await calls.add_event(
                    conn,
                    call_id,
                    CallEvent.COMPLETECALLER if by_caller else CallEvent.COMPLETEAGENT,
                    queue_id=claim.queue_id,
                    agent_id=claim.agent_id,
                )
        except CallEnded:
            if outcome != "answered":
                outcome, reason = "abandoned", "hung up before the bridge"
        finally:
            await asyncio.shield(close_call(Session(call_id, pool=self.pool), caller_leg, live, outcome, reason))

    async def _agent_failed(self, claim: Claim, attempt_id: int, exc: DialError, rang: float) -> None:
        """A ring-no-answer like any other; the caller keeps their attempts and their place."""
        session = Session(claim.call_id, pool=self.pool)
        await self.queue_wait._ring_failed(session, claim.entry_id, claim.queue_id, claim.agent_id, exc, rang)
        async with self.pool.acquire() as conn, conn.transaction():
            await callbacks.agent_not_reached(conn, claim.callback_id, attempt_id, exc.status_code or None)

    async def _caller_failed(
        self,
        claim: Claim,
        attempt_id: int,
        attempt: int,
        result: str,
        status_code: int | None,
        reason: str | None = None,
    ) -> None:
        """The caller was not reached: the agent is free again; retry later or give up."""
        final = attempt >= claim.max_attempts
        async with self.pool.acquire() as conn, conn.transaction():
            await callbacks.caller_not_reached(
                conn, claim.callback_id, attempt_id, claim.entry_id, result, status_code or None, final=final
            )
            await _free_agent(conn, claim, reason or f"callback: caller not reached ({result})")
            await calls.add_event(
                conn,
                claim.call_id,
                CallEvent.CALLBACKATTEMPT,
                queue_id=claim.queue_id,
                agent_id=claim.agent_id,
                data={"attempt": attempt, "result": result, "status": status_code, "final": final},
            )
        log.info(
            "callback %d attempt %d to %s: %s%s",
            claim.callback_id,
            attempt,
            claim.number_masked,
            result,
            " (no attempts left)" if final else "",
        )

    async def _release(self, claim: Claim, attempt_id: int, failure: str) -> None:
        """If the attempt is still open (a leg hung up early, the cell stopped, a bug): close it as failed and
        give the callback back to the queue. Nothing when the attempt already has its result."""
        with contextlib.suppress(Exception):
            async with self.pool.acquire() as conn, conn.transaction():
                if await callbacks.interrupted(conn, claim.callback_id, attempt_id, claim.entry_id):
                    await _free_agent(conn, claim, f"callback interrupted ({failure})")


async def _free_agent(conn: Any, claim: Claim, reason: str) -> None:
    """The agent reserved for the callback is available again (unless someone else moved them meanwhile)."""
    await agents.move(
        conn,
        claim.agent_id,
        "reserved",
        "available",
        cause="system",
        actor="cell",
        reason=reason,
        call_id=claim.call_id,
    )


async def _first_to_hang_up(caller: CallLeg, agent: CallLeg) -> bool:
    """Wait until one side hangs up; True when it was the caller."""
    ends = {asyncio.ensure_future(caller.wait_ended()): True, asyncio.ensure_future(agent.wait_ended()): False}
    try:
        done, _ = await asyncio.wait(set(ends), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in ends:
            task.cancel()
        await asyncio.gather(*ends, return_exceptions=True)
    return ends[next(iter(done))]
