"""The pjsua2 endpoint of a cell, owned by one dedicated thread (the "pj thread").

Threads:

- the **pj thread** creates the Endpoint, blocks in ``libHandleEvents(poll_ms)`` and, between calls, runs the
  closures that the asyncio side submitted. It is the only thread that touches pjsua2 objects. Every method
  whose name starts with ``_pj`` and every pjsua2 callback runs there.
- the **conference clock thread** (pjmedia's null sound device) calls players' EOF callbacks and audio taps'
  ``onFrameReceived``: those only copy bytes and schedule work on the asyncio loop.
- the **asyncio loop** calls the public ``async`` methods. They return when the pj thread has done the work.

The engine keeps every Call, player, recorder and tap port in a registry. A Call is dropped after its
DISCONNECTED callback has returned (in ``_pj_reap``), never inside it.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import os
import queue
import socket
import sys
import threading
import time
import wave
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import pjsua2 as pj

from hotline.sip.events import (
    Disconnected,
    Event,
    IncomingCall,
    PlayerDone,
)
from hotline.sip.pjobjects import (
    FrameConsumer,
    Key,
    LegGone,
    LogWriter,
    PjAccount,
    PjCall,
    PjPlayer,
    SipError,
    TapPort,
    add_headers,
    compiled_call_cap,
    describe,
    wrap_error,
)

__all__ = [
    "EngineConfig",
    "FrameConsumer",
    "Key",
    "Leg",
    "LegFactory",
    "LegGone",
    "PjEngine",
    "SipError",
    "wav_seconds",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


class Leg(Protocol):
    """What the engine needs of a call leg: its ids and a door for the leg's events (on the loop)."""

    leg_id: int
    sip_call_id: str

    def _on_event(self, event: Event) -> None: ...


L = TypeVar("L", bound=Leg)

#: Builds the leg object for a new call: ``(engine, leg_id, inbound, remote_uri, sip_call_id)``. Injected by the
#: cell (``hotline.sip.call.CallLeg``), so the engine does not import the call layer above it.
LegFactory = Callable[["PjEngine[L]", int, bool, str, str], L]

CLOCK_RATE = 8000
FRAME_SAMPLES = CLOCK_RATE * 20 // 1000
KEEP_CODECS = ("PCMU/8000/1", "PCMA/8000/1")


@dataclass(frozen=True)
class EngineConfig:
    name: str = "cell"
    host: str = "127.0.0.1"
    port: int = 5070
    rtp_port: int = 20000
    rtp_port_range: int = 100
    poll_ms: int = 1000  # longest block in libHandleEvents; submitted commands wake it at once anyway
    media_thread: bool = False  # True: RTP on pjmedia's own polling thread (costs ~0.5 % of a core idle)
    legs_per_call: int = 2  # an inbound call keeps room for its agent leg
    retry_after: int = 5  # seconds, in the Retry-After of a 503
    pj_log_level: int = 2
    user_agent: str = "hotline-12348-cell"


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())


class PjEngine(Generic[L]):
    """One pjsua2 endpoint on one UDP port. Create, ``await start()``, ``await stop()``; all on one asyncio loop.

    ``leg_factory`` makes the leg object of each call. Inbound INVITEs are offered to ``on_incoming`` (called on
    the loop with a ringing leg) while
    ``accepting`` is true and the compiled cap leaves room for the call's agent leg; otherwise they get
    ``503 Service Unavailable`` with ``Retry-After``. When every leg is in use pjsua itself answers 486.
    """

    def __init__(
        self, config: EngineConfig, leg_factory: LegFactory[L], on_incoming: Callable[[L], None] | None = None
    ) -> None:
        self.config = config
        self.leg_factory = leg_factory
        self.on_incoming = on_incoming
        self.accepting = True
        self.max_legs = 0
        self.legs_in_use = 0  # written on the pj thread, read anywhere
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._commands: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._stopping = False
        self._wake_pending = False
        self._waker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._waker.setblocking(False)
        self._legs: dict[int, L] = {}  # asyncio side
        self._player_waiters: dict[int, asyncio.Future[None]] = {}
        self._background: set[asyncio.Future[None]] = set()
        # pj-thread registries
        self._ep: Any = None
        self._acc: Any = None
        self._log_writer: Any = None
        self._calls: dict[int, PjCall] = {}
        self._players: dict[int, PjPlayer] = {}
        self._recorders: dict[int, Any] = {}
        self._taps: dict[int, TapPort] = {}
        self._free_taps: list[TapPort] = []  # closed taps' ports, reused (never freed while the engine runs)
        self._wires: set[tuple[Key, Key]] = set()
        self._graveyard: list[int] = []

    # ---------------------------------------------------------------- lifecycle (asyncio side)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        ready: Future[int] = Future()
        self._thread = threading.Thread(target=self._pj_main, args=(ready,), name=f"pj-{self.config.name}")
        self._thread.start()
        self.max_legs = await asyncio.wrap_future(ready)

    async def stop(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 (the pj thread's own deadline)
        """Hang up every leg, wait for them to end (up to ``timeout``), release everything, join the pj thread."""
        if self._thread is None:
            return
        self._stopping = True
        self._stop_timeout = timeout
        self._wake()
        await asyncio.to_thread(self._thread.join)
        self._thread = None
        self._waker.close()
        for leg in list(self._legs.values()):
            leg._on_event(Disconnected(leg.leg_id, 503, "engine stopped"))
        self._legs.clear()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the pj thread and return its result (or raise its exception) on the loop."""
        if not self.running or self._stopping:
            raise SipError("the SIP engine is not running")
        fut: Future[T] = Future()
        self._commands.put((fn, fut))
        self._wake()
        return await asyncio.wrap_future(fut)

    def _wake(self) -> None:
        """Interrupt the pj thread's libHandleEvents: a CRLF datagram (a SIP keep-alive that pjsip ignores)
        to our own SIP port makes its select() return, so commands never wait for ``poll_ms``."""
        if self._wake_pending:
            return
        self._wake_pending = True
        try:
            self._waker.sendto(b"\r\n\r\n", (self.config.host, self.config.port))
        except OSError:
            self._wake_pending = False

    # ---------------------------------------------------------------- legs (asyncio side)

    async def make_call(self, uri: str, headers: dict[str, str] | None = None, from_uri: str | None = None) -> L:
        """Place an outbound call; ``from_uri`` replaces the account's URI in From (the number presented)."""
        leg_id = next(self._ids)
        leg = self.leg_factory(self, leg_id, False, uri, "")
        self._legs[leg_id] = leg
        try:
            leg.sip_call_id = await self.run(lambda: self._pj_make_call(leg_id, uri, headers or {}, from_uri))
        except BaseException:
            self._legs.pop(leg_id, None)
            leg._on_event(Disconnected(leg_id, 500, "call not placed"))
            raise
        return leg

    async def answer(
        self, leg_id: int, code: int = 200, reason: str = "", headers: dict[str, str] | None = None
    ) -> None:
        await self.run(lambda: self._pj_answer(leg_id, code, reason, headers or {}))

    async def hangup(self, leg_id: int, code: int = 0, reason: str = "") -> None:
        await self.run(lambda: self._pj_hangup(leg_id, code, reason))

    async def hold(self, leg_id: int) -> None:
        await self.run(lambda: self._call(leg_id).setHold(pj.CallOpParam(True)))

    async def unhold(self, leg_id: int) -> None:
        def do() -> None:
            prm = pj.CallOpParam(True)
            prm.opt.flag = pj.PJSUA_CALL_UNHOLD
            self._call(leg_id).reinvite(prm)

        await self.run(do)

    async def transfer(self, leg_id: int, uri: str) -> None:
        await self.run(lambda: self._call(leg_id).xfer(uri, pj.CallOpParam(True)))

    async def send_dtmf(self, leg_id: int, digits: str) -> None:
        await self.run(lambda: self._call(leg_id).dialDtmf(digits))

    # ---------------------------------------------------------------- media (asyncio side)

    async def play(self, paths: Sequence[Path], loop: bool = False) -> tuple[int, asyncio.Future[None]]:
        """Create a player (not yet connected); returns its id and a future set at end of file."""
        player_id = next(self._ids)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._player_waiters[player_id] = done
        try:
            await self.run(lambda: self._pj_player(player_id, [str(p) for p in paths], loop))
        except BaseException:
            self._player_waiters.pop(player_id, None)
            raise
        return player_id, done

    async def record(self, path: Path) -> tuple[int, float]:
        """Create a mono WAV recorder (not yet connected); returns its id and the monotonic time it started."""
        rec_id = next(self._ids)
        started = await self.run(lambda: self._pj_recorder(rec_id, str(path)))
        return rec_id, started

    async def tap(self, leg_id: int, consumer: FrameConsumer) -> int:
        """Feed every 20 ms frame the leg receives to ``consumer`` on the loop. Remove with ``destroy``."""
        assert self._loop is not None
        tap_id = next(self._ids)
        loop = self._loop
        await self.run(lambda: self._pj_tap(tap_id, leg_id, loop, consumer))
        return tap_id

    async def connect(self, src: Key, dst: Key) -> None:
        await self.run(lambda: self._pj_connect(src, dst))

    async def disconnect(self, src: Key, dst: Key) -> None:
        await self.run(lambda: self._pj_disconnect(src, dst))

    async def destroy(self, key: Key) -> None:
        """Disconnect and release a player, recorder or tap (a recorder's WAV is complete afterwards)."""
        if key[0] == "player":
            waiter = self._player_waiters.pop(key[1], None)
            if waiter is not None and not waiter.done():
                waiter.cancel()
        await self.run(lambda: self._pj_destroy(key))

    # ---------------------------------------------------------------- events (asyncio side)

    def _emit(self, event: Event) -> None:
        """Any thread: hand an event to the loop."""
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._dispatch, event)
        except RuntimeError:
            pass  # loop closed

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, PlayerDone):
            waiter = self._player_waiters.pop(event.player_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return
        if isinstance(event, IncomingCall):
            leg = self.leg_factory(self, event.leg_id, True, event.remote_uri, event.sip_call_id)
            self._legs[event.leg_id] = leg
            if self.on_incoming is None:
                log.warning("no handler for incoming calls: rejecting leg %d", event.leg_id)
                task = asyncio.ensure_future(self.hangup(event.leg_id, 503, "No handler"))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            else:
                self.on_incoming(leg)
            return
        leg = self._legs.get(event.leg_id)
        if leg is None:
            return
        leg._on_event(event)
        if isinstance(event, Disconnected):
            self._legs.pop(event.leg_id, None)

    # ---------------------------------------------------------------- the pj thread

    def _pj_main(self, ready: Future[int]) -> None:
        try:
            self._pj_init()
            ready.set_result(compiled_call_cap())
        except BaseException as exc:
            log.error("SIP engine failed to start: %s", describe(exc))
            ready.set_exception(
                SipError(f"SIP engine failed to start on {self.config.host}:{self.config.port}: {describe(exc)}")
            )
            self._pj_destroy_all()
            return
        try:
            handle, poll_ms, commands, graveyard = (
                self._ep.libHandleEvents,
                self.config.poll_ms,
                self._commands,
                self._graveyard,
            )
            while not self._stopping:
                handle(poll_ms)  # returns after each event: a SIP message, an RTP packet, a timer
                if not commands.empty():
                    self._pj_drain_commands()
                if graveyard:
                    self._pj_reap()
        finally:
            self._pj_shutdown()

    def _pj_init(self) -> None:
        cfg = self.config
        ep = pj.Endpoint()
        self._ep = ep
        # pjlib logs its start-up (INFO lines) to stdout before any log config applies, and stdout is for status
        # lines: they go to stderr when pj_log_level asks for INFO (3) or more, else nowhere (a failure raises).
        sys.stdout.flush()
        saved = os.dup(1)
        quiet = os.open(os.devnull, os.O_WRONLY) if cfg.pj_log_level < 3 else None
        os.dup2(quiet if quiet is not None else 2, 1)
        try:
            ep.libCreate()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            if quiet is not None:
                os.close(quiet)
        ec = pj.EpConfig()
        ec.uaConfig.threadCnt = 0
        ec.uaConfig.mainThreadOnly = True
        ec.uaConfig.maxCalls = 64  # capped by the build's PJSUA_MAX_CALLS anyway
        ec.uaConfig.userAgent = cfg.user_agent
        ec.medConfig.clockRate = CLOCK_RATE
        ec.medConfig.sndClockRate = CLOCK_RATE
        ec.medConfig.channelCount = 1
        ec.medConfig.noVad = True
        ec.medConfig.ecTailLen = 0
        # Without a media thread, RTP sockets share the SIP ioqueue that this thread blocks on: an idle cell
        # then has no thread waking up on a timer at all (pjmedia's worker polls 100 times a second).
        ec.medConfig.hasIoqueue = cfg.media_thread
        ec.medConfig.threadCnt = 1 if cfg.media_thread else 0
        self._log_writer = LogWriter()
        ec.logConfig.writer = self._log_writer
        ec.logConfig.level = cfg.pj_log_level
        ec.logConfig.consoleLevel = cfg.pj_log_level
        ec.logConfig.decor = 0
        ep.libInit(ec)
        ep.audDevManager().setNullDev()
        tc = pj.TransportConfig()
        tc.port = cfg.port
        tc.boundAddress = cfg.host
        tc.publicAddress = cfg.host
        ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
        # With only G.711 enabled (telephone-event is always offered), pjsua answers an INVITE with no common
        # codec 488 itself, before onIncomingCall (tests/sip checks it).
        for codec in ep.codecEnum2():
            if codec.codecId not in KEEP_CODECS:
                ep.codecSetPriority(codec.codecId, 0)
        ep.codecSetPriority("PCMU/8000/1", 255)
        ep.codecSetPriority("PCMA/8000/1", 254)
        ep.libStart()
        ac = pj.AccountConfig()
        ac.idUri = f"sip:{cfg.name}@{cfg.host}:{cfg.port}"
        ac.mediaConfig.transportConfig.port = cfg.rtp_port
        ac.mediaConfig.transportConfig.portRange = cfg.rtp_port_range
        ac.mediaConfig.transportConfig.boundAddress = cfg.host
        ac.callConfig.timerUse = pj.PJSUA_SIP_TIMER_OPTIONAL
        self._acc = PjAccount(self)
        self._acc.create(ac, True)

    def _pj_drain_commands(self) -> None:
        self._wake_pending = False
        while True:
            try:
                fn, fut = self._commands.get_nowait()
            except queue.Empty:
                return
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(wrap_error(exc))

    def _pj_reap(self) -> None:
        while self._graveyard:
            leg_id = self._graveyard.pop()
            self._wires = {w for w in self._wires if ("leg", leg_id) not in w}
            call = self._calls.pop(leg_id, None)
            self.legs_in_use = sum(1 for c in self._calls.values() if not c.disconnected)
            del call

    def _pj_shutdown(self) -> None:
        deadline = time.monotonic() + getattr(self, "_stop_timeout", 5.0)
        try:
            if self._calls:
                self._ep.hangupAllCalls()
            while time.monotonic() < deadline and any(not c.disconnected for c in self._calls.values()):
                self._ep.libHandleEvents(20)
                self._pj_drain_commands()
            self._ep.libHandleEvents(20)
            self._pj_drain_commands()
            self._pj_reap()
        except BaseException as exc:
            log.error("error while hanging up at shutdown: %s", describe(exc))
        # commands submitted after stop was requested
        while True:
            try:
                _, fut = self._commands.get_nowait()
            except queue.Empty:
                break
            if fut.set_running_or_notify_cancel():
                fut.set_exception(SipError("the SIP engine stopped"))
        self._pj_destroy_all()

    def _pj_destroy_all(self) -> None:
        self._wires.clear()
        for registry in (self._players, self._recorders, self._taps):
            registry.clear()
        self._free_taps.clear()
        self._calls.clear()
        if self._acc is not None:
            try:
                self._acc.shutdown()
            except BaseException as exc:
                log.warning("account shutdown: %s", describe(exc))
            self._acc = None
        gc.collect()
        if self._ep is not None:
            try:
                self._ep.libDestroy()
            except BaseException as exc:
                log.warning("libDestroy: %s", describe(exc))
            self._ep = None
        self.legs_in_use = 0

    # ---------------------------------------------------------------- pj-thread operations

    def _call(self, leg_id: int) -> PjCall:
        call = self._calls.get(leg_id)
        if call is None or call.disconnected:
            raise LegGone(f"leg {leg_id} has ended")
        return call

    def _pj_incoming(self, acc: Any, prm: Any) -> None:
        leg_id = next(self._ids)
        call = PjCall(self, leg_id, acc, prm.callId)
        self._calls[leg_id] = call
        self.legs_in_use = sum(1 for c in self._calls.values() if not c.disconnected)
        inbound = sum(1 for c in self._calls.values() if c.inbound and not c.rejected and not c.disconnected)
        if not self.accepting or inbound * self.config.legs_per_call > self.max_legs:
            call.rejected = True
            reason = "Draining" if not self.accepting else "Cell Full"
            self._pj_reject(call, 503, reason, {"Retry-After": str(self.config.retry_after)})
            return
        ci = call.getInfo()
        self._emit(IncomingCall(leg_id, str(ci.remoteUri), str(ci.localUri), str(ci.callIdString)))
        op = pj.CallOpParam()
        op.statusCode = 180
        call.answer(op)

    def _pj_reject(self, call: PjCall, code: int, reason: str, headers: dict[str, str]) -> None:
        op = pj.CallOpParam()
        op.statusCode = code
        op.reason = reason
        add_headers(op, headers)
        try:
            # answer(), not hangup(): within onIncomingCall pjsua may defer the response, and only a deferred
            # answer keeps its extra headers (Retry-After)
            call.answer(op)
        except BaseException as exc:
            log.warning("could not reject an INVITE with %d: %s", code, describe(exc))

    def _pj_make_call(self, leg_id: int, uri: str, headers: dict[str, str], from_uri: str | None) -> str:
        if self.legs_in_use >= self.max_legs:
            raise SipError(f"no free call leg in this cell ({self.max_legs} in use)")
        call = PjCall(self, leg_id, self._acc)
        op = pj.CallOpParam(True)
        add_headers(op, headers)
        if from_uri:
            op.txOption.localUri = from_uri
        call.makeCall(uri, op)
        self._calls[leg_id] = call
        self.legs_in_use = sum(1 for c in self._calls.values() if not c.disconnected)
        return str(call.getInfo().callIdString)

    def _pj_answer(self, leg_id: int, code: int, reason: str, headers: dict[str, str]) -> None:
        op = pj.CallOpParam(True)
        op.statusCode = code
        if reason:
            op.reason = reason
        add_headers(op, headers)
        self._call(leg_id).answer(op)

    def _pj_hangup(self, leg_id: int, code: int, reason: str) -> None:
        call = self._calls.get(leg_id)
        if call is None or call.disconnected:
            return
        op = pj.CallOpParam()
        op.statusCode = code
        if reason:
            op.reason = reason
        call.hangup(op)

    def _pj_player(self, player_id: int, paths: list[str], loop: bool) -> None:
        player = PjPlayer(self, player_id)
        options = 0 if loop else pj.PJMEDIA_FILE_NO_LOOP
        try:
            if len(paths) == 1:
                player.createPlayer(paths[0], options)
            else:
                vec = pj.StringVector()
                for p in paths:
                    vec.append(p)
                player.createPlaylist(vec, f"playlist{player_id}", options)
        except pj.Error as exc:
            raise SipError(f"cannot play {', '.join(paths)}: {describe(exc)}") from None
        self._players[player_id] = player

    def _pj_recorder(self, rec_id: int, path: str) -> float:
        rec = pj.AudioMediaRecorder()
        rec.createRecorder(path)
        self._recorders[rec_id] = rec
        return time.monotonic()

    def _pj_tap(self, tap_id: int, leg_id: int, loop: asyncio.AbstractEventLoop, consumer: FrameConsumer) -> None:
        self._call(leg_id)
        if self._free_taps:
            port = self._free_taps.pop()
        else:
            port = TapPort()
            fmt = pj.MediaFormatAudio()
            fmt.init(pj.PJMEDIA_FORMAT_PCM, CLOCK_RATE, 1, 20000, 16)
            port.createPort(f"tap{tap_id}", fmt)
        port.bind(loop, leg_id, consumer)
        self._taps[tap_id] = port
        self._pj_connect(("leg", leg_id), ("tap", tap_id))

    def _pj_media(self, key: Key) -> Any:
        kind, ident = key
        if kind == "leg":
            call = self._calls.get(ident)
            return None if call is None or call.disconnected else call.audio
        registry: dict[int, Any] = {"player": self._players, "rec": self._recorders, "tap": self._taps}[kind]
        return registry.get(ident)

    def _pj_connect(self, src: Key, dst: Key) -> None:
        self._wires.add((src, dst))
        a, b = self._pj_media(src), self._pj_media(dst)
        if a is None and src[0] != "leg":
            raise SipError(f"no such media {src}")
        if b is None and dst[0] != "leg":
            raise SipError(f"no such media {dst}")
        if a is not None and b is not None:
            a.startTransmit(b)

    def _pj_disconnect(self, src: Key, dst: Key) -> None:
        self._wires.discard((src, dst))
        a, b = self._pj_media(src), self._pj_media(dst)
        if a is not None and b is not None:
            try:
                a.stopTransmit(b)
            except pj.Error:
                pass

    def _pj_rewire(self, key: Key) -> None:
        """A leg got (possibly new) media: re-apply the connections it takes part in."""
        for src, dst in list(self._wires):
            if key in (src, dst):
                a, b = self._pj_media(src), self._pj_media(dst)
                if a is not None and b is not None:
                    try:
                        a.startTransmit(b)
                    except pj.Error as exc:
                        log.warning("reconnecting %s -> %s: %s", src, dst, describe(exc))

    def _pj_destroy(self, key: Key) -> None:
        for src, dst in list(self._wires):
            if key in (src, dst):
                self._pj_disconnect(src, dst)
        registry: dict[int, Any] = {"player": self._players, "rec": self._recorders, "tap": self._taps}[key[0]]
        obj = registry.pop(key[1], None)
        if isinstance(obj, TapPort):  # disconnected above; kept for the next tap (see TapPort)
            obj.unbind()
            self._free_taps.append(obj)
        del obj  # the C++ destructor closes a recorder's file and removes the port from the bridge
        if key[0] == "rec":
            # The bridge removes the port (and the writer closes the file) on its next clock tick. When
            # the legs are already gone pjsua may have closed the null sound device, so nothing ticks and
            # the WAV stays unfinished: reopen it; pjsua closes it again once the bridge is idle.
            devices = self._ep.audDevManager()
            if not devices.sndIsActive():
                devices.setNullDev()
