"""`CallLeg`: one SIP call leg as seen from asyncio, with the media primitives an IVR and an ACD need.

Every method runs on the engine's asyncio loop; none blocks it. Every awaiting primitive has a timeout, can
be cancelled (the players or calls it created are released), and raises `CallEnded` when the leg hangs up
under it. DTMF (RFC 4733 telephone-event and SIP INFO) is buffered from the moment the leg exists, so digits
typed during a prompt reach the next `collect_digits`; digits other than 0-9 * # A-D and digits arriving after
the leg ended are ignored.
"""

# Each primitive takes its own timeout (first digit, ring time, prompt length differ), hence no ASYNC109.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from hotline.clock import SYSTEM, Clock
from hotline.logs import mask_digits
from hotline.sip.engine import FrameConsumer, Key, PjEngine, SipError, wav_seconds
from hotline.sip.events import CallState, Disconnected, Dtmf, Event, MediaState, TransferStatus
from hotline.sip.recording import RATE, finish_header, merge_stereo, wav_closed

T = TypeVar("T")
log = logging.getLogger(__name__)
CLOSE_WAIT_S = 10.0  # how long a recording's writer may take to close its file after the call
DIGITS = frozenset("0123456789*#ABCD")
_DIGIT_BUFFER = 32


class CallEnded(Exception):
    """The leg was disconnected (by the far end, the network or a hangup) while a primitive waited on it."""

    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(f"call ended: {status_code} {reason}")
        self.status_code = status_code
        self.reason = reason


class DialError(Exception):
    """An outbound leg did not connect. ``kind`` is what the caller's flow can act on."""

    KINDS: ClassVar[dict[int, str]] = {
        404: "not_found",
        410: "not_found",
        480: "unavailable",
        408: "timeout",
        486: "busy",
        600: "busy",
        603: "declined",
        487: "cancelled",
        503: "unavailable",
    }

    def __init__(self, kind: str, status_code: int, reason: str) -> None:
        super().__init__(f"dial failed ({kind}): {status_code} {reason}")
        self.kind = kind
        self.status_code = status_code
        self.reason = reason

    @classmethod
    def from_status(cls, status_code: int, reason: str) -> DialError:
        return cls(cls.KINDS.get(status_code, "failed"), status_code, reason)


@dataclass(frozen=True)
class CallContext:
    """What a handler may need from its cell."""

    cell: str
    prompts: Path
    recordings: Path
    clock: Clock = SYSTEM

    def prompt(self, name: str) -> Path:
        return self.prompts / name

    def recording_path(self, leg: CallLeg) -> Path:
        # Named by the UTC instant: one day per folder, whatever the machine's zone.
        now = self.clock.now()
        stamp = now.strftime("%Y%m%d-%H%M%SZ")
        return self.recordings / now.strftime("%Y-%m-%d") / f"{self.cell}-{stamp}-{leg.leg_id}.wav"


@dataclass
class _Recording:
    path: Path
    caller_rec: int
    caller_part: Path
    started: float
    agent_rec: int | None = None
    agent_part: Path | None = None
    agent_started: float = 0.0


class Tap:
    """A running audio tap; ``await close()`` to stop it."""

    def __init__(self, engine: PjEngine[CallLeg], tap_id: int) -> None:
        self._engine = engine
        self.tap_id = tap_id
        self.dropped = 0

    async def close(self) -> None:
        await self._engine.destroy(("tap", self.tap_id))


class CallLeg:
    """One call leg. Created by the engine (inbound) or `dial_agent` / `PjEngine.make_call` (outbound)."""

    def __init__(
        self, engine: PjEngine[CallLeg], leg_id: int, inbound: bool, remote_uri: str, sip_call_id: str
    ) -> None:
        self.engine = engine
        self.leg_id = leg_id
        self.inbound = inbound
        self.remote_uri = remote_uri
        self.sip_call_id = sip_call_id
        self.state = "INCOMING" if inbound else "CALLING"
        self.created = time.monotonic()
        self.answered: float | None = None
        self.end: Disconnected | None = None
        self.peer: CallLeg | None = None
        self.held = False
        self.digits_received: list[str] = []  # every accepted digit, for logs and tests
        self.listeners: list[Callable[[Event], None]] = []
        self.on_note: Callable[[str, dict[str, Any]], None] | None = None
        self.context: CallContext | None = None  # set by the cell before the handler runs
        self.children: list[CallLeg] = []  # outbound legs placed by dial_agent
        self._digits: deque[str] = deque(maxlen=_DIGIT_BUFFER)
        self._digit_arrived = asyncio.Event()
        self._media_active = asyncio.Event()
        self._media_changed = asyncio.Event()
        self._confirmed = asyncio.Event()
        self._ended = asyncio.Event()
        self._transfer: asyncio.Queue[TransferStatus] = asyncio.Queue()
        self._music: int | None = None
        self._recording: _Recording | None = None

    def __repr__(self) -> str:
        return f"<CallLeg {self.leg_id} {'in' if self.inbound else 'out'} {self.caller_masked} {self.state}>"

    # ---------------------------------------------------------------- identity

    @property
    def caller(self) -> str:
        """The user part of the remote URI (a phone number for trunk calls). Never log it: use caller_masked."""
        uri = self.remote_uri
        if "<" in uri:
            uri = uri.split("<", 1)[1].split(">", 1)[0]
        uri = uri.split(":", 1)[-1]
        return uri.split("@", 1)[0] if "@" in uri else ""

    @property
    def caller_masked(self) -> str:
        return mask_digits(self.caller) if any(c.isdigit() for c in self.caller) else "anonymous"

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def note(self, event: str, **fields: Any) -> None:
        """Report an application-level fact (the cell prints it as a JSON status line)."""
        if self.on_note is not None:
            self.on_note(event, fields)

    # ---------------------------------------------------------------- events from the engine

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Dtmf):
            if event.digit in DIGITS and not self.ended:
                self._digits.append(event.digit)
                self.digits_received.append(event.digit)
                self._digit_arrived.set()
        elif isinstance(event, CallState):
            self.state = event.state
            if event.state == "CONFIRMED":
                self._confirmed.set()
        elif isinstance(event, MediaState):
            self.held = event.held
            if event.active:
                self._media_active.set()
            else:
                self._media_active.clear()
            self._media_changed.set()
        elif isinstance(event, TransferStatus):
            self._transfer.put_nowait(event)
        elif isinstance(event, Disconnected):
            if self.end is None:
                self.end = event
                self.state = "DISCONNECTED"
                self._ended.set()
                self._media_active.clear()
        for listener in list(self.listeners):
            listener(event)

    # ---------------------------------------------------------------- helpers

    def _check_live(self) -> None:
        if self.end is not None:
            raise CallEnded(self.end.status_code, self.end.reason)

    async def _until(self, aw: Awaitable[T], timeout: float | None) -> T:
        """Await ``aw`` unless the leg ends first (CallEnded) or ``timeout`` passes (TimeoutError)."""
        self._check_live()
        task = asyncio.ensure_future(aw)
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            done, _ = await asyncio.wait({task, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if task in done:
            return task.result()
        if ended in done:
            self._check_live()
        raise TimeoutError(f"{self!r}: no result within {timeout} s")

    async def _release(self, key: Key) -> None:
        """Destroy a player/recorder/tap even when the caller is being cancelled."""
        with contextlib.suppress(SipError):
            await asyncio.shield(self.engine.destroy(key))

    async def _next_digit(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while not self._digits:
            self._digit_arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                await self._until(self._digit_arrived.wait(), left)
            except TimeoutError:
                return None
        return self._digits.popleft()

    async def _digit_in(self, digits: str) -> str:
        while True:
            for d in self._digits:
                if d in digits:
                    return d
            self._digit_arrived.clear()
            await self._digit_arrived.wait()

    def prompt(self, name: str) -> Path:
        """Path of a prompt in the cell's prompt directory."""
        if self.context is None:
            raise SipError(f"{self!r} has no cell context")
        return self.context.prompt(name)

    def flush_digits(self) -> str:
        """Drop and return the buffered digits."""
        out = "".join(self._digits)
        self._digits.clear()
        return out

    def consume_digit(self, digit: str) -> None:
        """Take the oldest buffered ``digit`` (the one `play` reported as its interrupt); keep the type-ahead."""
        with contextlib.suppress(ValueError):
            self._digits.remove(digit)

    # ---------------------------------------------------------------- call control

    async def ring(self) -> None:
        """Send 180 Ringing (already sent by the engine on arrival of an INVITE)."""
        await self.engine.answer(self.leg_id, 180)

    async def answer(self, timeout: float = 5.0) -> None:
        """200 OK, then wait until the leg has audio."""
        self._check_live()
        await self.engine.answer(self.leg_id, 200)
        await self._until(self._media_active.wait(), timeout)
        self.answered = time.monotonic()

    async def reject(self, code: int = 486, reason: str = "", headers: dict[str, str] | None = None) -> None:
        if self.end is None:
            await self.engine.answer(self.leg_id, code, reason, headers)

    async def hangup(self, code: int = 0, timeout: float = 5.0) -> None:
        """Hang up (BYE, CANCEL or a final response) and wait for the leg to end. Never raises CallEnded."""
        if self.end is None:
            with contextlib.suppress(SipError):
                await self.engine.hangup(self.leg_id, code)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ended.wait(), timeout)

    async def wait_ended(self, timeout: float | None = None) -> Disconnected:
        await asyncio.wait_for(self._ended.wait(), timeout)
        assert self.end is not None
        return self.end

    async def hold(self, timeout: float = 5.0) -> None:
        await self._until(self._confirmed.wait(), timeout)  # no re-INVITE before the ACK
        self._media_changed.clear()
        await self.engine.hold(self.leg_id)
        await self._until(self._media_changed.wait(), timeout)

    async def resume(self, timeout: float = 5.0) -> None:
        await self._until(self._confirmed.wait(), timeout)
        self._media_changed.clear()
        await self.engine.unhold(self.leg_id)
        await self._until(self._media_changed.wait(), timeout)

    async def blind_transfer(self, uri: str, timeout: float = 10.0) -> int:
        """REFER the far end to ``uri``; wait for the transfer to be accepted and, if the far end reports it,
        for its outcome. Returns the last status (202 accepted, 200 connected); hangs this leg up on success.
        Raises DialError when the far end refuses the REFER or reports a failed transfer."""
        await self._until(self._confirmed.wait(), timeout)
        await self.engine.transfer(self.leg_id, uri)
        last = 0
        deadline = time.monotonic() + timeout
        try:
            while True:
                status = await self._until(self._transfer.get(), max(deadline - time.monotonic(), 0.01))
                last = status.status_code
                if last >= 300:
                    raise DialError.from_status(last, status.reason)
                if status.final or (last >= 200 and last != 202):
                    break
        except TimeoutError:
            if last != 202:
                raise DialError("timeout", 408, "no answer to REFER") from None
        except CallEnded:
            return last
        await self.hangup()
        return last

    async def dial_agent(self, uri: str, timeout: float = 30.0, headers: dict[str, str] | None = None) -> CallLeg:
        """Place an outbound leg in this cell and wait for it to answer. Raises DialError (``kind``:
        not_found, unavailable, busy, declined, timeout, no_capacity, failed) and CallEnded if this leg
        hangs up meanwhile (the outbound leg is then cancelled)."""
        self._check_live()
        agent = await self._until(dial(self.engine, uri, timeout, headers), None)
        self.children.append(agent)
        return agent

    async def _connected(self) -> None:
        """Until an outbound leg is answered and its media flows (CallEnded if it fails)."""
        await self._until(self._confirmed.wait(), None)
        await self._until(self._media_active.wait(), 5.0)

    # ---------------------------------------------------------------- media

    async def play(self, paths: Sequence[Path], interrupt_digits: str = "", timeout: float | None = None) -> str | None:
        """Play the WAV files in order. Returns the first digit of ``interrupt_digits`` that the caller typed
        (before or during the prompt), which stays buffered for `collect_digits`; None when played to the end.
        ``timeout`` defaults to the prompts' length plus 2 s."""
        self._check_live()
        files = [Path(p) for p in paths]
        if interrupt_digits:
            for d in self._digits:
                if d in interrupt_digits:
                    return d
        if timeout is None:
            timeout = sum(wav_seconds(f) for f in files) + 2.0
        player_id, done = await self.engine.play(files)
        key: Key = ("player", player_id)
        try:
            await self.engine.connect(key, ("leg", self.leg_id))
            if not interrupt_digits:
                await self._until(done, timeout)
                return None
            digit = asyncio.ensure_future(self._digit_in(interrupt_digits))
            try:
                finished, _ = await self._until(
                    asyncio.wait({done, digit}, return_when=asyncio.FIRST_COMPLETED), timeout
                )
            finally:
                digit.cancel()
            return digit.result() if digit in finished and not digit.cancelled() else None
        finally:
            await self._release(key)

    async def collect_digits(
        self,
        max_digits: int,
        first_timeout: float = 5.0,
        inter_timeout: float = 3.0,
        terminator: str = "#",
    ) -> str:
        """Take up to ``max_digits`` digits (buffered ones first). Stops at the terminator (not returned), after
        ``first_timeout`` s without a first digit or ``inter_timeout`` s between digits. "" means no input."""
        self._check_live()
        collected = ""
        while len(collected) < max_digits:
            digit = await self._next_digit(first_timeout if not collected else inter_timeout)
            if digit is None:
                break
            if terminator and digit in terminator:
                break
            collected += digit
        return collected

    async def start_music(self, path: Path) -> None:
        """Loop ``path`` to this leg (ringback or music on hold) until `stop_music`, `bridge` or hangup."""
        self._check_live()
        await self.stop_music()
        player_id, _ = await self.engine.play([Path(path)], loop=True)
        self._music = player_id
        await self.engine.connect(("player", player_id), ("leg", self.leg_id))

    async def stop_music(self) -> None:
        if self._music is not None:
            player_id, self._music = self._music, None
            await self._release(("player", player_id))

    @contextlib.asynccontextmanager
    async def music(self, path: Path) -> AsyncIterator[None]:
        await self.start_music(path)
        try:
            yield
        finally:
            await self.stop_music()

    async def bridge(self, other: CallLeg) -> None:
        """Connect the two legs' audio both ways (stops music on both). If this leg is being recorded, the
        other leg's audio goes to the right channel of the recording from now on."""
        self._check_live()
        other._check_live()
        await self.stop_music()
        await other.stop_music()
        await self.engine.connect(("leg", self.leg_id), ("leg", other.leg_id))
        await self.engine.connect(("leg", other.leg_id), ("leg", self.leg_id))
        self.peer, other.peer = other, self
        rec = self._recording
        if rec is not None and rec.agent_rec is None:
            rec.agent_part = rec.path.with_name(rec.path.stem + ".agent.part.wav")
            rec.agent_rec, rec.agent_started = await self.engine.record(rec.agent_part)
            await self.engine.connect(("leg", other.leg_id), ("rec", rec.agent_rec))

    async def unbridge(self) -> None:
        other = self.peer
        if other is None:
            return
        with contextlib.suppress(SipError):
            await self.engine.disconnect(("leg", self.leg_id), ("leg", other.leg_id))
            await self.engine.disconnect(("leg", other.leg_id), ("leg", self.leg_id))
        self.peer = other.peer = None

    async def start_recording(self, path: Path) -> None:
        """Record the call into one stereo WAV at ``path``: this leg (the caller) on the left channel from now,
        the bridged agent on the right. The file appears when `stop_recording` runs (the cell calls it when the
        handler returns)."""
        self._check_live()
        if self._recording is not None:
            raise SipError(f"{self!r} is already being recorded to {self._recording.path}")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.stem + ".caller.part.wav")
        rec_id, started = await self.engine.record(part)
        self._recording = _Recording(path, rec_id, part, started)
        await self.engine.connect(("leg", self.leg_id), ("rec", rec_id))

    async def stop_recording(self) -> Path | None:
        """Close the recorders and write the stereo WAV; returns its path (None if nothing was recorded)."""
        rec, self._recording = self._recording, None
        if rec is None:
            return None
        await self._release(("rec", rec.caller_rec))
        if rec.agent_rec is not None:
            await self._release(("rec", rec.agent_rec))
        deadline = time.monotonic() + CLOSE_WAIT_S
        for part in (rec.caller_part, rec.agent_part):
            while part is not None and not wav_closed(part):
                if time.monotonic() > deadline:
                    # The writer has not closed the file (the clock thread starved on a loaded machine): the
                    # samples are on disk, only the header is missing; finish it rather than lose the call.
                    log.warning("recording %s: writer still open after %g s, header finished here", part, CLOSE_WAIT_S)
                    await asyncio.to_thread(finish_header, part)
                    break
                await asyncio.sleep(0.02)
        offset = round((rec.agent_started - rec.started) * RATE) if rec.agent_rec is not None else 0
        await asyncio.to_thread(merge_stereo, rec.caller_part, rec.agent_part, offset, rec.path)
        for part in (rec.caller_part, rec.agent_part):
            if part is not None:
                part.unlink(missing_ok=True)
        return rec.path

    async def tap(self, consumer: FrameConsumer | asyncio.Queue[bytes]) -> Tap:
        """Send each 20 ms frame this leg receives (8 kHz 16-bit mono PCM) to ``consumer``: a callable
        ``(leg_id, pcm)`` run on the loop, or a queue (frames are dropped and counted when it is full)."""
        self._check_live()
        tap: Tap | None = None
        if isinstance(consumer, asyncio.Queue):
            queue = consumer

            def to_queue(_leg: int, pcm: bytes) -> None:
                try:
                    queue.put_nowait(pcm)
                except asyncio.QueueFull:
                    if tap is not None:
                        tap.dropped += 1

            fn: FrameConsumer = to_queue
        else:
            fn = consumer
        tap = Tap(self.engine, await self.engine.tap(self.leg_id, fn))
        return tap


async def dial(
    engine: PjEngine[CallLeg],
    uri: str,
    timeout: float = 30.0,
    headers: dict[str, str] | None = None,
    from_uri: str | None = None,
) -> CallLeg:
    """Place an outbound leg that no inbound call owns (a callback) and wait for it to answer. ``from_uri``
    is the From header (the number the called party sees).

    Raises DialError (``kind`` as for `CallLeg.dial_agent`); the leg is hung up on timeout or cancellation.
    """
    if engine.legs_in_use >= engine.max_legs:
        raise DialError("no_capacity", 503, f"all {engine.max_legs} call legs of this cell are in use")
    placing = asyncio.ensure_future(engine.make_call(uri, headers, from_uri))
    try:
        leg = await asyncio.shield(placing)  # the pj thread places the call even if we are cancelled meanwhile
    except SipError as exc:
        raise DialError("failed", 0, str(exc)) from None
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await asyncio.shield((await placing).hangup())
        raise
    try:
        await asyncio.wait_for(leg._connected(), timeout)
    except CallEnded:
        end = leg.end
        raise (DialError.from_status(end.status_code, end.reason) if end else DialError("failed", 0, "ended")) from None
    except TimeoutError:
        await asyncio.shield(leg.hangup())
        raise DialError("timeout", 408, f"no answer within {timeout:g} s") from None
    except asyncio.CancelledError:
        await asyncio.shield(leg.hangup())
        raise
    return leg
