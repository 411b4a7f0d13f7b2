"""Joining a queue and checking who staffs it: the counts the waiting policies (hotline.acd.waiting) decide on."""

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
