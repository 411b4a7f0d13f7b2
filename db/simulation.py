"""What `hotline simulate` creates and removes: its agents (``agents.simulated``) and, with `purge`, its calls
(``calls.simulated``) with everything that belongs to them. Work orders keep their row when a real call goes
(``tickets.call_id`` is SET NULL), so a simulated call's work orders are deleted first, by hand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from db import agents, membership
from db import skills as skills_db

SKILL_LEVEL = 5  # a simulated agent is a generalist of middling level in every skill it is given


@dataclass(frozen=True)
class Purged:
    calls: int
    tickets: int
    agents: int
    kept_agents: list[str]  # simulated agents a real record still names: deactivated, not deleted


async def create_agent(
    conn: Any,
    username: str,
    display_name: str,
    password: str,
    queues: list[str],
    *,
    skills: Sequence[str] = (),
    actor: str,
) -> agents.Agent:
    """A simulated agent (role lawyer), member of `queues`, with `skills` (``kind:name``, defined when missing); an
    existing simulated agent of that name is reset. An existing real agent of that name is refused: the simulator
    never takes over a person's account."""
    async with conn.transaction():
        real = await conn.fetchval("SELECT NOT simulated FROM agents WHERE username = $1", username)
        if real:
            raise agents.AgentExists(f"agent {username!r} exists and is not simulated: choose another --prefix")
        agent = await agents.create(conn, username, display_name, "lawyer", password)
        await conn.execute("UPDATE agents SET simulated = true, active = true WHERE id = $1", agent.id)
        for queue in queues:
            if not any(m.queue == queue for m in await membership.queues_of(conn, username)):
                await membership.add(conn, queue, username, actor=actor)
        for key in skills:
            kind, _, name = key.partition(":")
            await skills_db.add(conn, kind, name)
        found = await skills_db.ids(conn, list(skills))
        await skills_db.replace(conn, agent.id, {skill_id: SKILL_LEVEL for skill_id in found.values()})
        return await agents.get(conn, username)


async def simulated_agents(conn: Any) -> list[str]:
    return [r["username"] for r in await conn.fetch("SELECT username FROM agents WHERE simulated ORDER BY username")]


async def counts(conn: Any, since_call: str) -> dict[str, int]:
    """What a run made of its calls so far (their SIP Call-IDs start with `since_call`, the run's prefix)."""
    row = await conn.fetchrow(
        """SELECT count(*) AS calls,
                  count(*) FILTER (WHERE c.outcome = 'answered') AS answered,
                  count(*) FILTER (WHERE c.outcome = 'abandoned') AS abandoned,
                  (SELECT count(*) FROM queue_entries e JOIN calls k ON k.id = e.call_id
                    WHERE k.simulated AND k.sip_call_id LIKE $1 || '%' AND e.state IN ('waiting', 'offered'))
                    AS in_queue,
                  (SELECT count(*) FROM surveys s JOIN calls k ON k.id = s.call_id
                    WHERE k.simulated AND k.sip_call_id LIKE $1 || '%') AS survey_answers,
                  (SELECT count(*) FROM tickets t JOIN calls k ON k.id = t.call_id
                    WHERE k.simulated AND k.sip_call_id LIKE $1 || '%') AS tickets,
                  (SELECT count(*) FROM callbacks b JOIN calls k ON k.id = b.call_id
                    WHERE k.simulated AND k.sip_call_id LIKE $1 || '%') AS callbacks
           FROM calls c WHERE c.simulated AND c.sip_call_id LIKE $1 || '%' AND c.direction = 'inbound'""",
        since_call,
    )
    return dict(row)


async def purge(conn: Any) -> Purged:
    """Delete every simulated call (with its events, queue entries, surveys, recordings rows, transcripts, tags,
    callbacks and work orders) and every simulated agent, in one transaction. A simulated agent that a real
    record still names (a real caller reached it) is deactivated instead, and named in the result."""
    async with conn.transaction():
        tickets = await conn.fetchval(
            """WITH gone AS (DELETE FROM tickets t USING calls c WHERE c.id = t.call_id AND c.simulated
                             RETURNING 1) SELECT count(*) FROM gone"""
        )
        calls = await conn.fetchval(
            "WITH gone AS (DELETE FROM calls WHERE simulated RETURNING 1) SELECT count(*) FROM gone"
        )
        kept = [
            r["username"]
            for r in await conn.fetch(
                """UPDATE agents a SET active = false WHERE a.simulated AND (
                       EXISTS (SELECT 1 FROM calls c WHERE c.agent_id = a.id)
                       OR EXISTS (SELECT 1 FROM queue_entries e WHERE e.agent_id = a.id)
                       OR EXISTS (SELECT 1 FROM tickets t WHERE t.assignee_id = a.id)
                       OR EXISTS (SELECT 1 FROM callback_attempts b WHERE b.agent_id = a.id)
                       OR EXISTS (SELECT 1 FROM transfers t WHERE a.id IN (t.from_agent_id, t.to_agent_id)))
                   RETURNING a.username"""
            )
        ]
        removed = await conn.fetchval(
            "WITH gone AS (DELETE FROM agents WHERE simulated AND active RETURNING 1) SELECT count(*) FROM gone"
        )
    return Purged(calls, tickets, removed, sorted(kept))
