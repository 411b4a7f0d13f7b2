"""The adapter between the pure flow interpreter (hotline.flow) and a live call (hotline.sip CallLeg).

It answers, starts the dual-channel recording, feeds `step` with what the media primitives report, carries
out the actions it returns, and writes the flow's path, digits, survey answers, tickets and tags to
PostgreSQL. Queue waiting is delegated to `hotline.cell.queueing`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from db import callbacks, calls, households, transfers
from db import tags as tags_db
from db.pool import UNREACHABLE
from hotline.caller.phone import InvalidNumber, parse_caller
from hotline.caller.privacy import NumberKeys
from hotline.cell.metrics import count_exits
from hotline.cell.queueing import QueueWait
from hotline.cell.records import Session
from hotline.clock import SYSTEM, Clock
from hotline.events import CallEvent
from hotline.flow import (
    Action,
    CallbackOutcome,
    CallerHungUp,
    CallState,
    Collect,
    DigitsCollected,
    Enqueue,
    Event,
    FlowRegistry,
    Hangup,
    InputTimeout,
    OfferCallback,
    OpenTicket,
    Play,
    PlaybackDone,
    QueueOutcome,
    RecordVoicemail,
    SaveSurvey,
    SetAttributes,
    Transfer,
    TransferFailed,
    VoicemailDone,
    record,
    start,
    step,
)
from hotline.sip.call import CallEnded, CallLeg

log = logging.getLogger(__name__)

FLAG_KINDS = {"legal_area": "legal_area", "service": "service"}


class FlowApp:
    """One instance per cell; `__call__` runs one call. Holds the flow registry shared by the cell's calls."""

    def __init__(
        self,
        flows: FlowRegistry,
        flow_id: str,
        keys: NumberKeys,
        ticket_prefix: str,
        timezone: str,
        prompt_names: tuple[str, ...],
        queue_wait: QueueWait,
        transfer_host: str,
        clock: Clock = SYSTEM,
        outage: OutagePlan | None = None,
    ) -> None:
        self.clock = clock
        self.outage = outage or OutagePlan()
        self.flows, self.flow_id, self.keys = flows, flow_id, keys
        self.ticket_prefix, self.timezone = ticket_prefix, timezone
        self.prompts = tuple(f"{name}.wav" for name in prompt_names)
        self.queue_wait = queue_wait
        self.transfer_host = transfer_host

    async def __call__(self, leg: CallLeg, session: Session) -> str:
        flow = self.flows.get(self.flow_id)  # this call keeps this revision, whatever a reload does
        await leg.answer()
        await session.mark_answered()
        assert leg.context is not None
        recording = leg.context.recording_path(leg)
        await leg.start_recording(recording)
        await session.write("recording_path", path=str(recording))
        state, actions = start(flow, self.clock.now(), await self._attributes(session))
        seen = count_exits(state, 0)
        outcome: str | None = None
        try:
            # The step that ends the flow still has actions to carry out (a survey's last answer, the goodbye
            # prompt, the Hangup itself): perform every step's actions, and stop once an ended flow's are done.
            while True:
                event = await self._perform(actions, leg, session, state)
                if event is None and state.phase == "connected":
                    event = await self._conversation(leg, session, state.priority)
                if event is None or state.ended:
                    break
                state, actions = step(state, event)
                before, seen = seen, count_exits(state, seen)
                if seen != before:  # the path so far is kept as the call goes (a dead cell's call keeps it)
                    await self._save(session, state)
        except CallEnded:
            if session.agent is not None:
                with contextlib.suppress(Exception):
                    await session.agent.hangup()
                await self.queue_wait.agent_done(session, by_caller=True)
            if not state.ended:  # hanging up during the goodbye: the flow has already ended and been counted
                state, actions = step(state, CallerHungUp())
                seen = count_exits(state, seen, hung_up=True)
                await self._bookkeeping(actions, session, state)
        except ServedInOutage as served:
            outcome = served.outcome
        finally:
            self.queue_wait.forget(session.call_id)
            await asyncio.shield(self._save(session, state))
        return outcome or record(state).outcome or "ivr_only"

    async def _outage(self, leg: CallLeg, session: Session, action: Enqueue, exc: BaseException) -> str:
        """The database cannot be reached when the caller should wait for an agent: a short apology, then the
        fallback duty number if one is configured, else a message (the caller channel of the call's recording)
        that becomes a callback work order once the journal reaches the database. Never silence, never a 503."""
        log.error("call %s: database unreachable at queue %s (%s): outage service", session.call_id, action.queue, exc)
        session.on_hangup = "voicemail"
        if self.outage.fallback_number:
            await session.event(CallEvent.IVR, outage=True, queue=action.queue, to=self.outage.fallback_number)
            with contextlib.suppress(FileNotFoundError):
                await leg.play([leg.prompt("outage_transfer.wav")])
            if not isinstance(
                await self._transfer(leg, session, Transfer(self.outage.fallback_number)), TransferFailed
            ):
                return "transferred"
        await session.event(CallEvent.VOICEMAIL, max_seconds=self.outage.voicemail_seconds, outage=True)
        with contextlib.suppress(FileNotFoundError):
            await leg.play([leg.prompt("outage_voicemail.wav"), leg.prompt("beep.wav")])
        started = self.clock.monotonic()
        with contextlib.suppress(asyncio.TimeoutError):
            seconds = self.outage.voicemail_seconds
            await asyncio.wait_for(leg.collect_digits(1, seconds, seconds, "#"), seconds + 1)
        caller = session.caller
        columns = calls.CallerColumns.of(caller, self.keys)
        await session.write(
            "ticket",
            kind="callback",
            prefix=self.ticket_prefix,
            tz=self.timezone,
            caller_masked=caller.masked,
            prefecture_code=columns.prefecture_code,
            facts=f"[callback] 系统故障期间来电留言（{self.clock.monotonic() - started:.0f} 秒，"
            "见本通电话录音的来电声道），请回电",
            priority="urgent",
            callback=None
            if columns.hmac is None
            else {
                "queue": action.queue,
                "number_hmac": columns.hmac,
                "number_enc": columns.enc,
                "number_masked": caller.masked,
                "reason": "系统故障期间留言",
            },
        )
        with contextlib.suppress(FileNotFoundError, CallEnded):
            await leg.play([leg.prompt("outage_recorded.wav")])
        await leg.hangup()
        return "voicemail"

    async def _conversation(self, leg: CallLeg, session: Session, priority: int) -> Event:
        """Caller and agent are bridged: wait for either to hang up, or for the agent to transfer the caller
        (who is then bridged to the next agent, and this waits again). The caller hanging up raises CallEnded."""
        while True:
            agent = session.agent
            if agent is None:
                return QueueOutcome("agent_done")
            wanted = await self.queue_wait.transfer_wanted(session.call_id)
            caller_gone = asyncio.ensure_future(leg.wait_ended())
            agent_gone = asyncio.ensure_future(agent.wait_ended())
            transfer = asyncio.ensure_future(wanted.wait())
            try:
                await asyncio.wait({caller_gone, agent_gone, transfer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (caller_gone, agent_gone, transfer):
                    task.cancel()
                await asyncio.gather(caller_gone, agent_gone, transfer, return_exceptions=True)
            if leg.ended:
                raise CallEnded(leg.end.status_code if leg.end else 0, "caller hung up during the conversation")
            if wanted.is_set() and not agent.ended:
                wanted.clear()
                async with session.pool.acquire() as conn:
                    claimed = await transfers.claim(conn, session.call_id)
                if claimed is None:
                    continue
                outcome = await self.queue_wait.transfer(leg, session, claimed, priority)
                if outcome.kind == "connected":
                    continue
                return QueueOutcome("agent_done")  # nobody took the transferred caller: the flow goes on
            await leg.unbridge()
            await self.queue_wait.agent_done(session, by_caller=False)
            return QueueOutcome("agent_done")

    async def _attributes(self, session: Session) -> dict[str, Any]:
        caller = session.caller
        kinds: list[str] = []
        if caller.e164 is not None:
            try:
                async with asyncio.timeout(2), session.pool.acquire() as conn:
                    kinds = await households.lookup(conn, self.keys.digest(caller.e164))
            except UNREACHABLE as exc:  # the call goes on without the registry (its flags come from the flow)
                log.error("call %s: registry not read, database unreachable (%s)", session.call_id, exc)
        return {
            "caller_kind": caller.kind,
            "prefecture": caller.prefecture.code if caller.prefecture else "",
            "registry": kinds[0] if kinds else "",
        }

    async def _perform(
        self, actions: tuple[Action, ...], leg: CallLeg, session: Session, state: CallState
    ) -> Event | None:
        """Carry out one step's actions; the last one's result is the next event (None after Hangup)."""
        event: Event | None = None
        for index, action in enumerate(actions):
            last = index == len(actions) - 1
            if isinstance(action, Play):
                digit = await leg.play(
                    [leg.prompt(f"{p}.wav") for p in action.prompts],
                    interrupt_digits=action.interrupt_digits if last else "",
                )
                if digit is not None:
                    leg.consume_digit(digit)
                event = PlaybackDone(digit)
            elif isinstance(action, Collect):
                digits = await leg.collect_digits(
                    action.max_digits, action.first_timeout, action.inter_timeout, action.terminator or ""
                )
                event = DigitsCollected(digits) if digits else InputTimeout()
            elif isinstance(action, Enqueue):
                session.on_hangup = "abandoned"
                await self._save(session, state)  # the path so far, for the agent's screen pop
                try:
                    event = await self.queue_wait.wait(leg, session, action, state.priority)
                except UNREACHABLE as exc:  # the queue lives in PostgreSQL: serve the caller without it
                    raise ServedInOutage(await self._outage(leg, session, action, exc)) from None
            elif isinstance(action, OfferCallback):
                try:
                    event = await self._callback(session, action)
                except UNREACHABLE as exc:
                    log.error("call %s: callback not registered, database unreachable (%s)", session.call_id, exc)
                    event = CallbackOutcome(False, "database unreachable")
            elif isinstance(action, RecordVoicemail):
                event = await self._voicemail(leg, session, action)
            elif isinstance(action, Transfer):
                event = await self._transfer(leg, session, action)
            elif isinstance(action, Hangup):
                await self._save(session, state)
                await leg.hangup()
                return None
            else:
                await self._bookkeeping((action,), session, state)
        return event

    async def _bookkeeping(self, actions: tuple[Action, ...], session: Session, state: CallState) -> None:
        for action in actions:
            if isinstance(action, SaveSurvey):
                answer = int(action.answer) if action.answer else None
                await session.write("survey", question=action.question, answer=answer, label=action.label)
            elif isinstance(action, OpenTicket):
                await self._ticket(session, state, action)
            elif isinstance(action, SetAttributes):
                try:
                    await self._tags(session, action)
                except UNREACHABLE as exc:  # the flow's tags only; post-call analysis tags the call again
                    log.error("call %s: flow tags not stored, database unreachable (%s)", session.call_id, exc)

    async def _ticket(self, session: Session, state: CallState, action: OpenTicket) -> None:
        """A work order the IVR opens, through the durable writer (journaled during an outage)."""
        attrs = state.attributes
        await session.write(
            "ticket",
            kind=action.kind,
            prefix=self.ticket_prefix,
            tz=self.timezone,
            caller_masked=session.caller.masked,
            prefecture_code=session.caller.prefecture.code if session.caller.prefecture else None,
            legal_area=str(attrs.get("legal_area") or "") or None,
            service=str(attrs.get("service") or "") or None,
            flags=list(state.flags),
            facts=f"[{action.kind}] {action.reason}",
            priority="urgent" if action.kind in ("follow_up", "risk") else "normal",
        )

    async def _tags(self, session: Session, action: SetAttributes) -> None:
        rows: list[tuple[str, str]] = []
        for key, value in action.values.items():
            if key in FLAG_KINDS and isinstance(value, str) and value:
                rows.append((FLAG_KINDS[key], value))
            elif key == "flags" and isinstance(value, tuple):
                rows.extend(("flag", v) for v in value)
        if not rows:
            return
        async with session.pool.acquire() as conn:
            await tags_db.add_from_flow(conn, session.call_id, rows)

    async def _callback(self, session: Session, action: OfferCallback) -> Event:
        try:
            number = parse_caller(action.number) if action.number else session.caller
        except InvalidNumber as exc:
            return CallbackOutcome(False, str(exc))
        if number.e164 is None:
            return CallbackOutcome(False, "no number to call back")
        queue_id = await self.queue_wait.queue_id(session, action.queue)
        if queue_id is None:
            return CallbackOutcome(False, f"queue {action.queue!r} is not configured")
        async with session.pool.acquire() as conn:
            await callbacks.request(
                conn,
                session.call_id,
                queue_id,
                number_hmac=self.keys.digest(number.e164),
                number_enc=self.keys.encrypt(number.e164),
                number_masked=number.masked,
                keep_place=action.keep_place,
            )
        return CallbackOutcome(True)

    async def _voicemail(self, leg: CallLeg, session: Session, action: RecordVoicemail) -> Event:
        """The message is the caller channel of the call recording from here; '#' or silence ends it."""
        started = self.clock.monotonic()
        await session.event(CallEvent.VOICEMAIL, max_seconds=action.max_seconds)
        if action.beep:
            with contextlib.suppress(FileNotFoundError):
                await leg.play([leg.prompt("beep.wav")])
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                leg.collect_digits(1, action.max_seconds, action.max_seconds, "#"), action.max_seconds + 1
            )
        return VoicemailDone(round(self.clock.monotonic() - started, 1))

    async def _transfer(self, leg: CallLeg, session: Session, action: Transfer) -> Event:
        await session.event(CallEvent.BLINDTRANSFER, to=action.number)
        try:
            await leg.blind_transfer(f"sip:{action.number}@{self.transfer_host}")
        except Exception as exc:
            return TransferFailed(f"{type(exc).__name__}: {exc}")
        return CallerHungUp()

    async def _save(self, session: Session, state: CallState) -> None:
        rec = record(state)
        await session.write(
            "path", flow_id=rec.flow_id, revision=rec.flow_revision, node_path=list(rec.node_path), digits=rec.digits
        )


@dataclass(frozen=True)
class OutagePlan:
    """What a caller gets when the database is down at the queue (sip.outage_* settings)."""

    fallback_number: str = ""  # transferred there (through the front) if set
    voicemail_seconds: int = 120


class ServedInOutage(Exception):
    """The call was served without the database; its outcome."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


def prompt_names(source_dir: Path) -> tuple[str, ...]:
    """Every prompt of the locale (text or recording): all must be built before a cell starts."""
    return tuple(sorted({p.stem for p in source_dir.iterdir() if p.suffix in (".txt", ".wav")}))
