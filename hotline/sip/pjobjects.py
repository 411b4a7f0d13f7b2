"""The pjsua2 objects of a cell's endpoint: subclasses whose callbacks run on the pj thread (or, for players
and taps, on the conference clock thread), the tables that name pjsua2's constants, and error translation.

They report to their `Owner` (the engine) and touch nothing else; `hotline.sip.engine` owns and drives them.
"""

from __future__ import annotations

import asyncio
import ctypes
import glob
import logging
import os
from collections.abc import Callable
from typing import Any, Protocol

import pjsua2 as pj

from hotline.logs import redact
from hotline.sip.events import CallState, Disconnected, Dtmf, Event, MediaState, PlayerDone, TransferStatus

log = logging.getLogger("hotline.sip.engine")

FrameConsumer = Callable[[int, bytes], None]  # (leg_id, 16-bit PCM at 8 kHz); runs on the asyncio loop
Key = tuple[str, int]  # ("leg" | "player" | "rec" | "tap", id): a port of the conference bridge

_STATES = {
    pj.PJSIP_INV_STATE_NULL: "NULL",
    pj.PJSIP_INV_STATE_CALLING: "CALLING",
    pj.PJSIP_INV_STATE_INCOMING: "INCOMING",
    pj.PJSIP_INV_STATE_EARLY: "EARLY",
    pj.PJSIP_INV_STATE_CONNECTING: "CONNECTING",
    pj.PJSIP_INV_STATE_CONFIRMED: "CONFIRMED",
    pj.PJSIP_INV_STATE_DISCONNECTED: "DISCONNECTED",
}
_DTMF_METHODS = {pj.PJSUA_DTMF_METHOD_RFC2833: "rfc2833", pj.PJSUA_DTMF_METHOD_SIP_INFO: "info"}
_PJ_LOG_LEVELS = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}


class Owner(Protocol):
    """What the pjsua2 callbacks need of the engine that owns them (all called on the pj thread)."""

    _graveyard: list[int]

    def _emit(self, event: Event) -> None: ...

    def _pj_incoming(self, acc: Any, prm: Any) -> None: ...

    def _pj_rewire(self, key: Key) -> None: ...


class SipError(Exception):
    """A pjsua2 operation failed; the message says which and why."""


class LegGone(SipError):
    """The leg has disconnected (or never existed) on the pj thread."""


def compiled_call_cap() -> int:
    """PJSUA_MAX_CALLS of the loaded pjsua2 build (needs ``libInit`` to have run in this process)."""
    so = glob.glob(os.path.join(os.path.dirname(pj.__file__), "_pjsua2*.so"))
    if not so:
        raise SipError(f"cannot find the pjsua2 shared library next to {pj.__file__}")
    return int(ctypes.CDLL(so[0]).pjsua_call_get_max_count())


class LogWriter(pj.LogWriter):  # type: ignore[misc]
    """Routes pjlib's log to Python logging, masking anything that looks like a phone number. Any thread."""

    def write(self, entry: Any) -> None:
        level = _PJ_LOG_LEVELS.get(int(entry.level), logging.DEBUG)
        log.log(level, "pj: %s", redact(str(entry.msg).rstrip()))


class PjAccount(pj.Account):  # type: ignore[misc]
    def __init__(self, engine: Owner) -> None:
        super().__init__()
        self._engine = engine

    def onIncomingCall(self, prm: Any) -> None:
        self._engine._pj_incoming(self, prm)


class PjCall(pj.Call):  # type: ignore[misc]
    def __init__(self, engine: Owner, leg_id: int, acc: Any, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(acc, call_id)
        self.engine = engine
        self.leg_id = leg_id
        self.inbound = call_id != pj.PJSUA_INVALID_ID
        self.rejected = False
        self.disconnected = False
        self.audio: Any = None  # pj.AudioMedia while the leg has an active conference slot

    def onCallState(self, prm: Any) -> None:
        ci = self.getInfo()
        state = _STATES.get(ci.state, str(ci.state))
        code, reason = int(ci.lastStatusCode), str(ci.lastReason)
        self.engine._emit(CallState(self.leg_id, state, code, reason))
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True
            self.audio = None
            self.engine._graveyard.append(self.leg_id)
            self.engine._emit(Disconnected(self.leg_id, code, reason))

    def onCallMediaState(self, prm: Any) -> None:
        ci = self.getInfo()
        audio, held = None, False
        for mi in ci.media:
            if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            if mi.status in (pj.PJSUA_CALL_MEDIA_LOCAL_HOLD, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                held = True
            if mi.status != pj.PJSUA_CALL_MEDIA_NONE and mi.status != pj.PJSUA_CALL_MEDIA_ERROR:
                audio = self.getAudioMedia(mi.index)
                break
        self.audio = audio
        if audio is not None:
            self.engine._pj_rewire(("leg", self.leg_id))
        self.engine._emit(MediaState(self.leg_id, audio is not None, held))

    def onDtmfDigit(self, prm: Any) -> None:
        self.engine._emit(Dtmf(self.leg_id, str(prm.digit), _DTMF_METHODS.get(prm.method, "inband")))

    def onCallTransferStatus(self, prm: Any) -> None:
        self.engine._emit(TransferStatus(self.leg_id, int(prm.statusCode), str(prm.reason), bool(prm.finalNotify)))


class PjPlayer(pj.AudioMediaPlayer):  # type: ignore[misc]
    def __init__(self, engine: Owner, player_id: int) -> None:
        super().__init__()
        self.engine = engine
        self.player_id = player_id

    def onEof2(self) -> None:
        self.engine._emit(PlayerDone(self.player_id))


class TapPort(pj.AudioMediaPort):  # type: ignore[misc]
    """Receives a leg's audio on the conference clock thread: copy the bytes, schedule, return.

    A tap port is never destroyed while the engine runs: freeing a port the clock thread may be about to call
    (it waits for the GIL inside the port's put_frame while the pj thread runs the destructor) crashes the
    process. A closed tap is disconnected and unbound, and the next tap reuses it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._leg_id = 0
        self._consumer: FrameConsumer | None = None

    def bind(self, loop: asyncio.AbstractEventLoop, leg_id: int, consumer: FrameConsumer) -> None:
        self._leg_id, self._consumer, self._loop = leg_id, consumer, loop

    def unbind(self) -> None:
        self._consumer = self._loop = None

    def onFrameReceived(self, frame: Any) -> None:
        loop, consumer = self._loop, self._consumer
        if loop is None or consumer is None or frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO:
            return
        data = bytes(frame.buf)
        try:
            loop.call_soon_threadsafe(consumer, self._leg_id, data)
        except RuntimeError:  # loop closed during shutdown
            pass


def add_headers(op: Any, headers: dict[str, str]) -> None:
    for name, value in headers.items():
        h = pj.SipHeader()
        h.hName = name
        h.hValue = value
        op.txOption.headers.append(h)


def describe(exc: BaseException) -> str:
    if isinstance(exc, pj.Error):
        return f"{exc.title}: {exc.reason} (status {exc.status})"
    return f"{type(exc).__name__}: {exc}"


def wrap_error(exc: BaseException) -> BaseException:
    if isinstance(exc, pj.Error):
        return SipError(describe(exc))
    return exc
