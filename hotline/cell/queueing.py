"""Waiting in a queue, as the cell sees it: join, hold music, position announcements, exit keys, leave.

Until the ACD dispatcher exists (it will offer the call to an agent and report `connected`), a caller
leaves the queue when no member agent is logged in (`no_agents`), on an exit key, or at the queue's
maximum wait (`timeout`). Every step is written to call_events in the spirit of Asterisk's queue_log.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from db import calls
from hotline.cell.records import Session
from hotline.flow import Enqueue, QueueOutcome, say_number
from hotline.sip.call import CallLeg

RECHECK_S = 5.0  # how often a waiting caller re-checks that someone is still logged in
DEFAULT_MAX_WAIT_S = 600.0


class QueueWait:
    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def queue_id(self, session: Session, name: str) -> int | None:
        async with self.pool.acquire() as conn:
            value: int | None = await conn.fetchval("SELECT id FROM queues WHERE name = $1", name)
        return value

    async def _staffed(self, queue_id: int) -> int:
        async with self.pool.acquire() as conn:
            count: int = await conn.fetchval(
                """SELECT count(*) FROM queue_members m JOIN agents a ON a.id = m.agent_id
                   WHERE m.queue_id = $1 AND a.active AND a.state <> 'logged_out'""",
                queue_id,
            )
        return count

    async def _position(self, session: Session, queue_id: int) -> int:
        async with self.pool.acquire() as conn:
            ahead: int = await conn.fetchval(
                """SELECT count(*) FROM calls c WHERE c.queue_id = $1 AND c.ended_at IS NULL AND c.agent_id IS NULL
                   AND c.started_at < (SELECT started_at FROM calls WHERE id = $2)""",
                queue_id,
                session.call_id,
            )
        return ahead + 1

    async def _expected_wait(self, queue_id: int) -> float | None:
        """Mean wait of the callers this queue connected in the last hour; None when there is no such call."""
        async with self.pool.acquire() as conn:
            value: float | None = await conn.fetchval(
                """SELECT avg((data->>'waited')::float) FROM call_events
                   WHERE queue_id = $1 AND event = 'CONNECT' AND at > now() - interval '1 hour'""",
                queue_id,
            )
        return value

    async def _event(self, session: Session, name: str, queue_id: int | None, **data: Any) -> None:
        async with self.pool.acquire() as conn:
            await calls.add_event(conn, session.call_id, name, queue_id=queue_id, data=data)

    async def wait(self, leg: CallLeg, session: Session, action: Enqueue, priority: int) -> QueueOutcome:
        queue_id = await self.queue_id(session, action.queue)
        if queue_id is None:
            await self._event(session, "EXITEMPTY", None, queue=action.queue, reason="queue not configured")
            return QueueOutcome("no_agents")
        async with self.pool.acquire() as conn:
            await conn.execute("UPDATE calls SET queue_id = $2 WHERE id = $1", session.call_id, queue_id)
        leg.flush_digits()  # keys typed before the caller joined are not exit keys
        entered = time.monotonic()
        await self._event(session, "ENTERQUEUE", queue_id, priority=priority, skills=list(action.skills))
        try:
            outcome = await self._hold(leg, session, action, queue_id, entered)
        except BaseException:
            waited = round(time.monotonic() - entered, 1)
            with contextlib.suppress(Exception):
                await asyncio.shield(self._event(session, "ABANDON", queue_id, waited=waited))
            raise
        waited = round(time.monotonic() - entered, 1)
        name = {"no_agents": "EXITEMPTY", "timeout": "EXITWITHTIMEOUT", "exit_key": "EXITWITHKEY"}[outcome.kind]
        await self._event(session, name, queue_id, waited=waited, key=outcome.digit)
        return outcome

    async def _hold(
        self, leg: CallLeg, session: Session, action: Enqueue, queue_id: int, entered: float
    ) -> QueueOutcome:
        if await self._staffed(queue_id) == 0:
            return QueueOutcome("no_agents")
        max_wait = action.max_wait or DEFAULT_MAX_WAIT_S
        announce = action.announce
        next_announce = entered + (announce.every if announce else max_wait)
        next_check = entered + RECHECK_S
        hold = leg.prompt(f"{action.hold}.wav") if action.hold else None
        music = False
        while True:
            now = time.monotonic()
            if now - entered >= max_wait:
                await leg.stop_music()
                return QueueOutcome("timeout")
            if hold is not None and not music:
                await leg.start_music(hold)
                music = True
            until = min(next_announce, next_check, entered + max_wait)
            digits = await leg.collect_digits(1, max(until - now, 0.05), 0.05, "") if action.exit_keys else ""
            if not action.exit_keys:
                await asyncio.sleep(max(until - now, 0.05))
            if digits and digits in action.exit_keys:
                await leg.stop_music()
                return QueueOutcome("exit_key", digits)
            now = time.monotonic()
            if now >= next_check:
                next_check = now + RECHECK_S
                if await self._staffed(queue_id) == 0:
                    await leg.stop_music()
                    return QueueOutcome("no_agents")
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
