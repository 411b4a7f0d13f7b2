"""A queue's waiting policies, as pure decisions over counts: who may join, who must leave, how long one waits.

The columns are those of `queues` (max_length, join_when_empty, leave_when_empty, max_wait_seconds); the
cell (hotline.cell.queueing) reads the counts in one query (db.queues) and applies these functions. The
anchor is Asterisk app_queue (maxlen, joinempty, leavewhenempty, timeout), with a simpler notion of "empty".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

DEFAULT_MAX_WAIT_S = 600.0  # when neither the flow's enqueue node nor the queue sets a maximum wait


class JoinWhenEmpty(StrEnum):
    """When a caller may join a queue, by the state of its member agents ("logged in": not `logged_out`)."""

    YES = "yes"  # always, even when no member is logged in (the caller waits for someone to log in)
    NO = "no"  # only when a member is logged in and not paused (available, reserved, on a call, wrapping up)
    PAUSED_OK = "paused_ok"  # when a member is logged in, even if every one is paused (the default)


@dataclass(frozen=True)
class WaitPolicy:
    join_when_empty: JoinWhenEmpty = JoinWhenEmpty.PAUSED_OK
    leave_when_empty: bool = True
    max_length: int | None = None  # callers in line (waiting or offered, callbacks included); None: no limit
    max_wait_s: float | None = None  # the queue's own limit, used when the flow gives none


@dataclass(frozen=True)
class Staffing:
    """A queue's active member agents: logged in (paused included), and of those, not paused."""

    logged_in: int
    unpaused: int


Refusal = Literal["no_agents", "full"]


def refusal(policy: WaitPolicy, staffing: Staffing, in_line: int) -> Refusal | None:
    """Why a caller may not join a queue with `in_line` callers already in it, or None when they may join.

    No staff is checked before length: a caller turned away from a queue nobody works is told so, not that
    it is full. A caller joins only if the line, with them, is at most `max_length` long."""
    if policy.join_when_empty is JoinWhenEmpty.NO and staffing.unpaused == 0:
        return "no_agents"
    if policy.join_when_empty is JoinWhenEmpty.PAUSED_OK and staffing.logged_in == 0:
        return "no_agents"
    if policy.max_length is not None and in_line >= policy.max_length:
        return "full"
    return None


def leaves(policy: WaitPolicy, staffing: Staffing, staffed_before: bool) -> bool:
    """Whether a waiting caller leaves the queue (`no_agents`) now: with `leave_when_empty`, once no member is
    logged in any more. `staffed_before` says a member was logged in when the caller joined or at a later
    check; a caller who joined a queue nobody was logged in to (`join_when_empty = 'yes'`) keeps waiting until
    someone has logged in and everyone has logged out again."""
    return policy.leave_when_empty and staffed_before and staffing.logged_in == 0


def max_wait(flow_max_wait: float | None, policy: WaitPolicy) -> float:
    """Seconds a caller waits at most: the flow's enqueue node `max_wait`, else the queue's
    `max_wait_seconds`, else DEFAULT_MAX_WAIT_S."""
    if flow_max_wait is not None:
        return flow_max_wait
    if policy.max_wait_s is not None:
        return policy.max_wait_s
    return DEFAULT_MAX_WAIT_S
