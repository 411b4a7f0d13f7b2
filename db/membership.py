"""Queue membership (`queue_members`): who takes a queue's calls, with their penalty and tier.

Every change is written to the audit log in the transaction that makes it, and wakes the ACD dispatcher
(NOTIFY 'acd') so a new member who is available is offered callers at once, not at the next poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from db import audit
from db.acd import CHANGES
from db.agents import AgentNotFound
from hotline.errors import HotlineError

PENALTIES = range(0, 101)  # queue_members.penalty CHECK (0001)
TIERS = range(1, 10)  # queue_members.tier CHECK (0001)


class QueueNotFound(HotlineError):
    pass


@dataclass(frozen=True)
class Member:
    queue: str
    username: str
    display_name: str
    penalty: int
    tier: int
    state: str  # the agent's state (agents.state)

    @classmethod
    def from_row(cls, row: Any) -> Member:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class QueueSummary:
    name: str
    display_name: str
    strategy: str
    members: int


_MEMBERS = """
SELECT q.name AS queue, a.username, a.display_name, m.penalty, m.tier, a.state
FROM queue_members m JOIN queues q ON q.id = m.queue_id JOIN agents a ON a.id = m.agent_id
"""


def _check_range(argument: str, value: int, allowed: range, meaning: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise HotlineError(
            f"{argument} {value!r} is out of range: expected a whole number from {allowed.start} to "
            f"{allowed.stop - 1} ({meaning})"
        )


async def require_queue(conn: Any, queue: str) -> int:
    """The id of the queue named `queue`; QueueNotFound naming every queue when there is none."""
    queue_id: int | None = await conn.fetchval("SELECT id FROM queues WHERE name = $1", queue)
    if queue_id is None:
        known = [r["name"] for r in await conn.fetch("SELECT name FROM queues ORDER BY name")]
        raise QueueNotFound(f"no queue named {queue!r}; the queues are: {', '.join(known) if known else '(none)'}")
    return queue_id


async def _agent_id(conn: Any, username: str) -> int:
    agent_id: int | None = await conn.fetchval("SELECT id FROM agents WHERE username = $1", username)
    if agent_id is None:
        raise AgentNotFound(f"no agent named {username!r}")
    return agent_id


async def members(conn: Any, queue: str) -> list[Member]:
    """The queue's members, tier first, then penalty, then username (the order they are offered callers in)."""
    queue_id = await require_queue(conn, queue)
    rows = await conn.fetch(f"{_MEMBERS} WHERE m.queue_id = $1 ORDER BY m.tier, m.penalty, a.username", queue_id)
    return [Member.from_row(r) for r in rows]


async def queues_of(conn: Any, username: str) -> list[Member]:
    """The agent's memberships, by queue name."""
    agent_id = await _agent_id(conn, username)
    rows = await conn.fetch(f"{_MEMBERS} WHERE m.agent_id = $1 ORDER BY q.name", agent_id)
    return [Member.from_row(r) for r in rows]


async def add(conn: Any, queue: str, username: str, *, penalty: int = 0, tier: int = 1, actor: str) -> Member:
    """Make the agent a member of the queue, or change their penalty and tier there; audited, one transaction."""
    _check_range("penalty", penalty, PENALTIES, "0 takes calls at once, higher waits for the queue's penalty steps")
    _check_range("tier", tier, TIERS, "tier 2 is offered a caller only when no tier-1 member is free")
    async with conn.transaction():
        queue_id = await require_queue(conn, queue)
        agent_id = await _agent_id(conn, username)
        before = await conn.fetchrow(
            "SELECT penalty, tier FROM queue_members WHERE queue_id = $1 AND agent_id = $2 FOR UPDATE",
            queue_id,
            agent_id,
        )
        await conn.execute(
            """INSERT INTO queue_members (queue_id, agent_id, penalty, tier) VALUES ($1, $2, $3, $4)
               ON CONFLICT (queue_id, agent_id) DO UPDATE SET penalty = EXCLUDED.penalty, tier = EXCLUDED.tier""",
            queue_id,
            agent_id,
            penalty,
            tier,
        )
        await conn.execute(f"SELECT pg_notify('{CHANGES}', 'queue_members')")
        await audit.record(
            conn,
            actor,
            "update",
            "queue_member",
            f"{queue}/{username}",
            change="add" if before is None else "change",
            penalty=penalty,
            tier=tier,
            previous=None if before is None else {"penalty": before["penalty"], "tier": before["tier"]},
        )
        row = await conn.fetchrow(f"{_MEMBERS} WHERE m.queue_id = $1 AND m.agent_id = $2", queue_id, agent_id)
    return Member.from_row(row)


async def remove(conn: Any, queue: str, username: str, *, actor: str) -> bool:
    """Take the agent out of the queue; False (and nothing audited) when they were not a member."""
    async with conn.transaction():
        queue_id = await require_queue(conn, queue)
        agent_id = await _agent_id(conn, username)
        row = await conn.fetchrow(
            "DELETE FROM queue_members WHERE queue_id = $1 AND agent_id = $2 RETURNING penalty, tier",
            queue_id,
            agent_id,
        )
        if row is None:
            return False
        await conn.execute(f"SELECT pg_notify('{CHANGES}', 'queue_members')")
        await audit.record(
            conn,
            actor,
            "update",
            "queue_member",
            f"{queue}/{username}",
            change="remove",
            previous={"penalty": row["penalty"], "tier": row["tier"]},
        )
    return True


async def list_queues(conn: Any) -> list[QueueSummary]:
    """Every queue with its strategy and how many members it has, by name."""
    rows = await conn.fetch(
        """SELECT q.name, q.display_name, q.strategy, count(m.agent_id)::int AS members
           FROM queues q LEFT JOIN queue_members m ON m.queue_id = q.id
           GROUP BY q.id ORDER BY q.name"""
    )
    return [QueueSummary(r["name"], r["display_name"], r["strategy"], r["members"]) for r in rows]
