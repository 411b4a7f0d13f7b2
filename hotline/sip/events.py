"""Events out of the pj thread. Each is a small frozen value, built on the pj thread (or the conference
clock thread for players) and handed to the asyncio loop with ``call_soon_threadsafe``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IncomingCall:
    leg_id: int
    remote_uri: str
    local_uri: str
    sip_call_id: str


@dataclass(frozen=True)
class CallState:
    leg_id: int
    state: str  # CALLING, INCOMING, EARLY, CONNECTING, CONFIRMED, DISCONNECTED
    status_code: int
    reason: str


@dataclass(frozen=True)
class MediaState:
    """The leg's audio changed: ``active`` when it has a conference slot, ``held`` when either side holds."""

    leg_id: int
    active: bool
    held: bool


@dataclass(frozen=True)
class Dtmf:
    leg_id: int
    digit: str
    method: str  # "rfc2833", "info" or "inband"


@dataclass(frozen=True)
class Disconnected:
    leg_id: int
    status_code: int
    reason: str


@dataclass(frozen=True)
class PlayerDone:
    player_id: int


@dataclass(frozen=True)
class TransferStatus:
    leg_id: int
    status_code: int
    reason: str
    final: bool


Event = IncomingCall | CallState | MediaState | Dtmf | Disconnected | PlayerDone | TransferStatus
