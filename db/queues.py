"""Queues and the callers in line (`queue_entries`): joining, who staffs a queue (the counts the waiting policies
of hotline.acd.waiting decide on), the offer a caller gets, leaving."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from hotline.acd.waiting import JoinWhenEmpty, Refusal, Staffing, WaitPolicy, refusal

_STAFFING = """
SELECT count(*) FILTER (WHERE a.state <> 'logged_out') AS logged_in,
       count(*) FILTER (WHERE a.state NOT IN ('logged_out', 'paused')) AS unpaused
FROM queue_members m JOIN agents a ON a.id = m.agent_id
WHERE m.queue_id = $1 AND a.active
"""
# The queue's policy and everything it decides on, in one query. It runs after the queue row is locked (FOR NO
# KEY UPDATE: joiners of one queue take turns, inserts elsewhere are not held up) and in a statement of its own,
# so its snapshot sees the entry of a joiner who held the lock before: two callers cannot both take the last
# place. The caller's own entry (a second stay) is not counted.
_LOCK = "SELECT id FROM queues WHERE id = $1 FOR NO KEY UPDATE"
_JOIN_COUNTS = f"""
SELECT q.join_when_empty, q.leave_when_empty, q.max_length, q.max_wait_seconds, s.logged_in, s.unpaused,
       (SELECT count(*) FROM queue_entries e
        WHERE e.queue_id = q.id AND e.state IN ('waiting', 'offered') AND e.call_id <> $2) AS in_line
FROM queues q CROSS JOIN ({_STAFFING}) s
WHERE q.id = $1
"""


@dataclass(frozen=True)
class Join:
    """What joining found: `entry_id` when the caller is in line, else `refused` says why."""

    policy: WaitPolicy
    staffing: Staffing
    in_line: int  # callers in line before this one joined
    entry_id: int | None = None
    refused: Refusal | None = None


async def staffing(conn: Any, queue_id: int) -> Staffing:
    row = await conn.fetchrow(_STAFFING, queue_id)
    return Staffing(row["logged_in"], row["unpaused"])


async def join(conn: Any, queue_id: int, call_id: UUID, cell: str, priority: int, skills: list[str]) -> Join:
    """Put a call in line unless the queue's policy refuses it (nobody staffing it, full); one transaction.

    A call that was in line before (in this or another queue) starts a new stay: its row is reused."""
    async with conn.transaction():
        if await conn.fetchval(_LOCK, queue_id) is None:
            raise LookupError(f"queue id {queue_id} does not exist")
        row = await conn.fetchrow(_JOIN_COUNTS, queue_id, call_id)
        policy = WaitPolicy(
            join_when_empty=JoinWhenEmpty(row["join_when_empty"]),
            leave_when_empty=row["leave_when_empty"],
            max_length=row["max_length"],
            max_wait_s=None if row["max_wait_seconds"] is None else float(row["max_wait_seconds"]),
        )
        found = Staffing(row["logged_in"], row["unpaused"])
        refused = refusal(policy, found, row["in_line"])
        if refused is not None:
            return Join(policy, found, row["in_line"], refused=refused)
        entry_id: int = await conn.fetchval(
            """INSERT INTO queue_entries (call_id, queue_id, cell, priority, skills) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (call_id) DO UPDATE SET queue_id = EXCLUDED.queue_id, state = 'waiting',
                   priority = EXCLUDED.priority, skills = EXCLUDED.skills, agent_id = NULL, offered_at = NULL,
                   entered_at = now()
               RETURNING id""",
            call_id,
            queue_id,
            cell,
            priority,
            skills,
        )
        return Join(policy, found, row["in_line"], entry_id=entry_id)


async def names(conn: Any) -> list[str]:
    return [r["name"] for r in await conn.fetch("SELECT name FROM queues")]


async def id_of(conn: Any, name: str) -> int | None:
    queue_id: int | None = await conn.fetchval("SELECT id FROM queues WHERE name = $1", name)
    return queue_id


async def ahead_of(conn: Any, queue_id: int, call_id: UUID) -> int:
    """Everyone in line before this call, including callers waiting for a callback (they keep their place); a
    higher priority counts as ahead (aging is left out: a count for an announcement)."""
    ahead: int = await conn.fetchval(
        """SELECT count(*) FROM queue_entries e JOIN queue_entries me ON me.call_id = $2
           WHERE e.queue_id = $1 AND e.id <> me.id AND e.state IN ('waiting', 'offered')
             AND (e.priority > me.priority OR (e.priority = me.priority AND e.entered_at < me.entered_at))""",
        queue_id,
        call_id,
    )
    return ahead


async def recent_waits(conn: Any, queue_id: int) -> list[float]:
    """How long (s) the last 50 callers this queue connected in the last hour had waited, oldest first."""
    rows = await conn.fetch(
        """SELECT (data->>'waited')::float AS waited FROM call_events
           WHERE queue_id = $1 AND event = 'CONNECT' AND at > now() - interval '1 hour'
           ORDER BY at DESC LIMIT 50""",
        queue_id,
    )
    return [r["waited"] for r in reversed(rows) if r["waited"] is not None]


@dataclass(frozen=True)
class Offer:
    """The agent the dispatcher reserved for a caller, and how long to ring their phone."""

    agent_id: int
    username: str
    ring_timeout_s: float


async def offer_of(conn: Any, entry_id: int) -> Offer | None:
    """The entry's open offer; None when it is not offered (any more)."""
    row = await conn.fetchrow(
        """SELECT e.agent_id, a.username, q.ring_timeout_seconds FROM queue_entries e
           JOIN agents a ON a.id = e.agent_id JOIN queues q ON q.id = e.queue_id
           WHERE e.id = $1 AND e.state = 'offered'""",
        entry_id,
    )
    return None if row is None else Offer(row["agent_id"], row["username"], float(row["ring_timeout_seconds"]))


async def connected(conn: Any, entry_id: int) -> None:
    """The caller is bridged to the offered agent."""
    await conn.execute("UPDATE queue_entries SET state = 'connected' WHERE id = $1", entry_id)


async def hand_to(conn: Any, call_id: UUID, agent_id: int) -> int | None:
    """Offer the call's entry to one agent (a transfer to them): it rings them next; None without an entry."""
    entry_id: int | None = await conn.fetchval(
        """UPDATE queue_entries SET agent_id = $2, state = 'offered', offered_at = now() WHERE call_id = $1
           RETURNING id""",
        call_id,
        agent_id,
    )
    return entry_id


async def offer_alive(conn: Any, entry_id: int) -> None:
    """The offer is being acted on now (the dispatcher's reconciliation returns offers idle for a minute)."""
    await conn.execute("UPDATE queue_entries SET offered_at = now() WHERE id = $1", entry_id)


async def offer_declined(conn: Any, entry_id: int) -> None:
    """The offered agent did not take the call: the caller waits in line again, for any agent."""
    await conn.execute(
        "UPDATE queue_entries SET state = 'waiting', agent_id = NULL, offered_at = NULL "
        "WHERE id = $1 AND state = 'offered'",
        entry_id,
    )


async def leave(conn: Any, entry_id: int) -> int | None:
    """The caller leaves the line unless already connected; returns the agent that was reserved for them."""
    row = await conn.fetchrow(
        "UPDATE queue_entries SET state = 'left' WHERE id = $1 AND state <> 'connected' "
        "RETURNING (SELECT agent_id FROM queue_entries WHERE id = $1 AND state = 'offered') AS agent_id",
        entry_id,
    )
    agent_id: int | None = None if row is None else row["agent_id"]
    return agent_id
