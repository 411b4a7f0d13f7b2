"""Events into the interpreter: what the adapter reports after carrying out the last action of a step."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Scalar = str | int | bool


@dataclass(frozen=True)
class CallStarted:
    """The call was answered. `attributes` come from the adapter: ``caller_kind`` (mobile / landline /
    withheld / other), ``prefecture`` (admin code), ``registry`` (the vulnerable-registry kind on a hit, e.g.
    建档立卡), never the caller's number itself."""

    at: dt.datetime
    attributes: Mapping[str, Scalar] = field(default_factory=dict)


@dataclass(frozen=True)
class PlaybackDone:
    """The last Play ended; `digit` is the key that interrupted it, if any."""

    digit: str | None = None


@dataclass(frozen=True)
class DigitsCollected:
    digits: str


@dataclass(frozen=True)
class InputTimeout:
    """Collect ended with no key at all."""


QueueOutcomeKind = Literal["connected", "timeout", "no_agents", "full", "exit_key", "agent_done"]


@dataclass(frozen=True)
class QueueOutcome:
    """What happened in the queue; `digit` is set for ``exit_key``. ``agent_done``: the agent hung up or
    passed the caller back (to the survey)."""

    kind: QueueOutcomeKind
    digit: str | None = None


@dataclass(frozen=True)
class CallbackOutcome:
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class VoicemailDone:
    seconds: float


@dataclass(frozen=True)
class TransferFailed:
    reason: str = ""


@dataclass(frozen=True)
class CallerHungUp:
    """The caller's leg ended (also after a successful blind transfer)."""


Event = (
    CallStarted
    | PlaybackDone
    | DigitsCollected
    | InputTimeout
    | QueueOutcome
    | CallbackOutcome
    | VoicemailDone
    | TransferFailed
    | CallerHungUp
)
