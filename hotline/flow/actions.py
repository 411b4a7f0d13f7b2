"""Actions out of the interpreter, carried out by the adapter in order.

Invariant: within one step's actions, only the LAST one is awaited: the interpreter's next event reports its
result (PlaybackDone for Play, DigitsCollected / InputTimeout for Collect, QueueOutcome for Enqueue,
CallbackOutcome for OfferCallback, VoicemailDone for RecordVoicemail, TransferFailed or CallerHungUp for
Transfer). Earlier actions are either Play (played to the end, never interrupted) or bookkeeping
(SetAttributes, SaveSurvey, OpenTicket) that completes at once. Hangup is always last and ends the call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

AttrValue = str | int | bool | tuple[str, ...]


@dataclass(frozen=True)
class Play:
    prompts: tuple[str, ...]
    interrupt_digits: str = ""


@dataclass(frozen=True)
class Collect:
    max_digits: int
    first_timeout: float
    inter_timeout: float
    terminator: str | None = None


@dataclass(frozen=True)
class Announcement:
    """Every `every` seconds: position_prompts[0] N position_prompts[1], wait_prompts[0] M wait_prompts[1]
    (numbers said with hotline.flow.numbers.say_number; M in minutes), then `offer`."""

    every: float
    position_prompts: tuple[str, str] | None
    wait_prompts: tuple[str, str] | None
    offer: str | None


@dataclass(frozen=True)
class Enqueue:
    queue: str
    skills: tuple[str, ...]
    priority: int
    max_wait: float | None
    announce: Announcement | None
    exit_keys: str
    hold: str | None = None


@dataclass(frozen=True)
class OfferCallback:
    """Register a call back keeping the caller's place in `queue`; `number` None means the caller's own."""

    queue: str
    number: str | None = field(default=None, repr=False)
    keep_place: bool = True


@dataclass(frozen=True)
class RecordVoicemail:
    max_seconds: int
    beep: bool = True


@dataclass(frozen=True)
class Transfer:
    number: str


@dataclass(frozen=True)
class SaveSurvey:
    """One survey answer; `answer` (the key) and `label` are None when the question was asked but not answered."""

    question: str
    answer: str | None
    label: str | None


@dataclass(frozen=True)
class OpenTicket:
    kind: str
    reason: str


@dataclass(frozen=True)
class SetAttributes:
    """Attributes changed on the call (``flags`` as a tuple, ``priority`` as an int, ``schedule``...)."""

    values: Mapping[str, AttrValue]


@dataclass(frozen=True)
class Hangup:
    reason: str


Action = (
    Play
    | Collect
    | Enqueue
    | OfferCallback
    | RecordVoicemail
    | Transfer
    | SaveSurvey
    | OpenTicket
    | SetAttributes
    | Hangup
)
AWAITED = (Play, Collect, Enqueue, OfferCallback, RecordVoicemail, Transfer)
