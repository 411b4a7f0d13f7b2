"""The plain rows the KPIs are computed from (read by db/kpi.py, or built by hand in tests and simulations).

Every row has `started_at` (the start of its call: it decides the period), `queue`, `prefecture` and `agent`
(the groups). docs/kpi.md says which events and tables each field comes from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from hotline.events import CallEvent

UNKNOWN = "unknown"  # prefecture: withheld number, or a Yunnan number of no known prefecture
OUTSIDE_YUNNAN = "outside_yunnan"


class VisitEnd(StrEnum):
    """How a queue visit ended (the first queue exit event after its ENTERQUEUE)."""

    ANSWERED = "answered"  # CONNECT
    ABANDONED = "abandoned"  # ABANDON: the caller hung up while waiting
    TIMEOUT = "timeout"  # EXITWITHTIMEOUT
    EXIT_KEY = "exit_key"  # EXITWITHKEY (in the shipped flow: to ask for a callback)
    EMPTY = "empty"  # EXITEMPTY: nobody staffs the queue
    FULL = "full"  # FULL: refused at max_length
    OPEN = "open"  # no exit yet and the call goes on: still waiting
    LOST = "lost"  # no exit and the call has ended (a cell died)


VISIT_END_OF_EVENT: dict[str, VisitEnd] = {
    CallEvent.CONNECT: VisitEnd.ANSWERED,
    CallEvent.ABANDON: VisitEnd.ABANDONED,
    CallEvent.EXITWITHTIMEOUT: VisitEnd.TIMEOUT,
    CallEvent.EXITWITHKEY: VisitEnd.EXIT_KEY,
    CallEvent.EXITEMPTY: VisitEnd.EMPTY,
    CallEvent.FULL: VisitEnd.FULL,
}
VISIT_EXIT_EVENTS: tuple[str, ...] = tuple(VISIT_END_OF_EVENT)
# what ends a conversation's talk time (else the call's end)
TALK_END_EVENTS: tuple[str, ...] = (
    CallEvent.COMPLETEAGENT,
    CallEvent.COMPLETECALLER,
    CallEvent.TRANSFER,
    CallEvent.BLINDTRANSFER,
)


class CallbackStatus(StrEnum):
    """`callbacks.status`."""

    WAITING = "waiting"
    DIALING = "dialing"
    CONNECTED = "connected"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Row(Protocol):
    """What grouping and period selection read from every row."""

    @property
    def started_at(self) -> dt.datetime: ...
    @property
    def queue(self) -> str | None: ...
    @property
    def prefecture(self) -> str: ...
    @property
    def agent(self) -> str | None: ...


@dataclass(frozen=True, kw_only=True)
class QueueVisit:
    """One ENTERQUEUE of an inbound call and how it ended (接通率, 服务水平, 平均应答速度, 放弃率)."""

    call_id: UUID
    started_at: dt.datetime  # the call's start
    queue: str
    prefecture: str = UNKNOWN
    end: VisitEnd
    wait_s: float | None = None  # ENTERQUEUE to the end event; None for open and lost visits
    agent: str | None = None  # who answered (CONNECT, or the callback's agent)
    callback: CallbackStatus | None = None  # EXITWITHKEY followed by a CALLBACK: that callback's status
    queue_service_level_s: float = 15.0  # the queue's configured service_level_seconds


@dataclass(frozen=True, kw_only=True)
class Conversation:
    """One CONNECT, on an inbound or a callback call (平均通话时长)."""

    call_id: UUID
    started_at: dt.datetime
    direction: str = "inbound"  # or "callback"
    queue: str | None = None
    prefecture: str = UNKNOWN
    agent: str | None = None
    talk_s: float | None = None  # CONNECT to the end of talk; None while the conversation goes on


@dataclass(frozen=True, kw_only=True)
class SurveyCall:
    """An inbound call that could be surveyed or was (满意率, 参评率, 首选率, 知晓率)."""

    call_id: UUID
    started_at: dt.datetime
    queue: str | None = None  # the call's last queue
    prefecture: str = UNKNOWN
    agent: str | None = None  # the agent the call was bridged to
    eligible: bool = True  # bridged to an agent: the flow offers the survey after the conversation
    answers: Mapping[str, str | None] = field(default_factory=dict)  # question -> label; None: asked, no answer


@dataclass(frozen=True, kw_only=True)
class CallCase:
    """An inbound call with what the caller asked for and what was done about it (回应率, 受援率)."""

    call_id: UUID
    started_at: dt.datetime
    queue: str | None = None
    prefecture: str = UNKNOWN
    agent: str | None = None
    caller_key: str | None = None  # pseudonymous caller identity (hex of calls.caller_hmac); None: withheld
    visits: int = 0  # ENTERQUEUE events
    abandon_waits: tuple[float, ...] = ()  # the wait of each visit that ended with ABANDON
    connected: bool = False  # a CONNECT in the call
    voicemail: bool = False  # a VOICEMAIL in the call
    callback: CallbackStatus | None = None  # the call's callback, if it asked for one
    ticket_statuses: frozenset[str] = frozenset()  # every status the call's work orders ever reached
    registry_kinds: frozenset[str] = frozenset()  # vulnerable_registry kinds of the caller's number
    flags: frozenset[str] = frozenset()  # tags of kind flag and work-order flags
    services: frozenset[str] = frozenset()  # tags of kind service and work-order services
    legal_aid_hint: bool = False  # a work order with legal_aid_hint
    referrals: frozenset[str] = frozenset()  # where the call's work orders were referred
