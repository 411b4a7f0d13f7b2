"""The console's reads and writes: the agent's snapshot and screen pop, the wallboard, the work-order form,
pause reasons. Numbers are only ever read masked here; the full number is decrypted elsewhere, for the agent
on the call, and that read is audited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from uuid import UUID

# ---- pause reasons


async def pause_reasons(conn: Any) -> list[str]:
    rows = await conn.fetch("SELECT name FROM pause_reasons WHERE active ORDER BY position, name")
    return [r["name"] for r in rows]


async def set_pause_reasons(conn: Any, names: list[str]) -> None:
    """The list in this order; reasons no longer listed are kept inactive (old state-log rows name them)."""
    async with conn.transaction():
        await conn.execute("UPDATE pause_reasons SET active = false")
        await conn.executemany(
            """INSERT INTO pause_reasons (name, position, active) VALUES ($1, $2, true)
               ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, active = true""",
            [(name, i) for i, name in enumerate(names, 1)],
        )


# ---- the agent's current call and screen pop


async def current_call(conn: Any, agent_id: int) -> UUID | None:
    """The call offered to or connected with the agent now (queue entry, else an open callback call)."""
    found: UUID | None = await conn.fetchval(
        """SELECT call_id FROM (
               SELECT e.call_id, 1 AS rank, e.offered_at AS at FROM queue_entries e JOIN calls c ON c.id = e.call_id
               WHERE e.agent_id = $1 AND e.state IN ('offered', 'connected') AND c.ended_at IS NULL
               UNION ALL
               SELECT id, 2, started_at FROM calls WHERE agent_id = $1 AND ended_at IS NULL
           ) x ORDER BY rank, at DESC LIMIT 1""",
        agent_id,
    )
    return found


async def last_call(conn: Any, agent_id: int) -> UUID | None:
    """The call the agent's latest wrap-up is for (the state log names it; after a transfer the call's queue
    entry names the next agent)."""
    found: UUID | None = await conn.fetchval(
        """SELECT call_id FROM agent_state_log WHERE agent_id = $1 AND to_state = 'wrap_up' AND call_id IS NOT NULL
           ORDER BY id DESC LIMIT 1""",
        agent_id,
    )
    return found


_POP = """
SELECT c.id, c.caller_masked, c.caller_kind, c.prefecture_code, p.name AS prefecture, c.county, c.node_path,
       c.digits, c.started_at, c.answered_at, c.ended_at, c.caller_hmac IS NOT NULL AS has_number,
       q.name AS queue, q.display_name AS queue_name, e.state AS entry_state, e.skills, e.priority,
       extract(epoch FROM coalesce(e.offered_at, now()) - e.entered_at)::float8 AS waited_s,
       e.agent_id,
       coalesce((SELECT array_agg(DISTINCT r.kind) FROM vulnerable_registry r WHERE r.number_hmac = c.caller_hmac),
                '{}') AS registry,
       coalesce((SELECT array_agg(t.value ORDER BY t.value) FROM tags t
                 WHERE t.call_id = c.id AND t.kind = 'flag' AND t.source IN ('flow', 'live')), '{}') AS flags
FROM calls c
LEFT JOIN prefectures p ON p.code = c.prefecture_code
LEFT JOIN queue_entries e ON e.call_id = c.id
LEFT JOIN queues q ON q.id = coalesce(e.queue_id, c.queue_id)
WHERE c.id = $1
"""


@dataclass(frozen=True)
class Earlier:
    started_at: dt.datetime
    outcome: str | None
    ticket: str | None
    legal_area: str | None
    status: str | None


async def screen_pop(conn: Any, call_id: UUID) -> dict[str, Any] | None:
    """What the agent sees of a call before answering: masked number, where from, the IVR path, the queue and
    the wait, registry flags, and the caller's earlier calls with their work orders (masked)."""
    row = await conn.fetchrow(_POP, call_id)
    if row is None:
        return None
    earlier: list[Earlier] = []
    if row["has_number"]:
        rows = await conn.fetch(
            """SELECT c.started_at, c.outcome, t.number, t.legal_area, t.status
               FROM calls c LEFT JOIN LATERAL (
                   SELECT number, legal_area, status FROM tickets WHERE call_id = c.id ORDER BY id LIMIT 1) t ON true
               WHERE c.caller_hmac = (SELECT caller_hmac FROM calls WHERE id = $1) AND c.id <> $1
               ORDER BY c.started_at DESC LIMIT 10""",
            call_id,
        )
        earlier = [Earlier(r["started_at"], r["outcome"], r["number"], r["legal_area"], r["status"]) for r in rows]
    pop = dict(row)
    pop["earlier"] = earlier
    return pop


async def transcript(conn: Any, call_id: UUID, after_id: int = 0) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT id, channel, start_ms, text FROM transcripts WHERE call_id = $1 AND source = 'live' AND id > $2
           ORDER BY start_ms, id""",
        call_id,
        after_id,
    )
    return [dict(r) for r in rows]


async def call_tags(conn: Any, call_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT kind, value, score, source FROM tags WHERE call_id = $1 AND kind <> 'quality' ORDER BY id", call_id
    )
    return [dict(r) for r in rows]


async def call_agent(conn: Any, call_id: UUID) -> int | None:
    """The agent the call is offered to or connected with (or was last)."""
    found: int | None = await conn.fetchval(
        "SELECT coalesce((SELECT agent_id FROM queue_entries WHERE call_id = $1), agent_id) FROM calls WHERE id = $1",
        call_id,
    )
    return found


async def caller_secret(conn: Any, call_id: UUID) -> bytes | None:
    """The call's encrypted number (for the agent handling it; the caller decrypts and audits)."""
    found: bytes | None = await conn.fetchval("SELECT caller_enc FROM calls WHERE id = $1", call_id)
    return found


async def entry_agent(conn: Any, entry_id: int) -> tuple[int | None, UUID | None]:
    row = await conn.fetchrow("SELECT agent_id, call_id FROM queue_entries WHERE id = $1", entry_id)
    return (row["agent_id"], row["call_id"]) if row else (None, None)


# ---- the agent's lists


async def recent_calls(conn: Any, agent_id: int, limit: int = 10) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT c.id, c.caller_masked, p.name AS prefecture, c.started_at, c.outcome, t.number AS ticket,
                  t.status AS ticket_status
           FROM calls c LEFT JOIN prefectures p ON p.code = c.prefecture_code
           LEFT JOIN LATERAL (SELECT number, status FROM tickets WHERE call_id = c.id ORDER BY id LIMIT 1) t ON true
           WHERE c.agent_id = $1 ORDER BY c.started_at DESC LIMIT $2""",
        agent_id,
        limit,
    )
    return [dict(r) for r in rows]


async def open_tickets(conn: Any, agent_id: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT number, status, priority, caller_masked, legal_area, deadline, deadline < now() AS overdue
           FROM tickets WHERE assignee_id = $1 AND status <> 'closed' ORDER BY deadline NULLS LAST, created_at
           LIMIT 50""",
        agent_id,
    )
    return [dict(r) for r in rows]


# ---- the work order of a call


async def ticket_of_call(conn: Any, call_id: UUID) -> str | None:
    found: str | None = await conn.fetchval(
        "SELECT number FROM tickets WHERE call_id = $1 ORDER BY id LIMIT 1", call_id
    )
    return found


async def lock_call(conn: Any, call_id: UUID) -> None:
    """Serialise, until the transaction ends, whoever opens the work order of this call."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1::text))", str(call_id))


async def take_ticket(conn: Any, number: str, agent_id: int, deadline_hours: int) -> None:
    """The agent answering the call becomes the work order's assignee; its deadline is set if it had none."""
    await conn.execute(
        """UPDATE tickets SET assignee_id = $2, updated_at = now(),
               deadline = coalesce(deadline, created_at + make_interval(hours => $3))
           WHERE number = $1 AND status <> 'closed'""",
        number,
        agent_id,
        deadline_hours,
    )


@dataclass(frozen=True)
class Draft:
    """What the form holds; every field is saved at once or not at all."""

    legal_area: str | None
    service: str | None
    flags: list[str]
    facts: str
    answer: str
    disposition: str | None
    referral: str | None


async def save_draft(conn: Any, number: str, draft: Draft) -> dt.datetime | None:
    """Save the form into the open work order in one statement; its updated_at, None if closed or missing."""
    saved: dt.datetime | None = await conn.fetchval(
        """UPDATE tickets SET legal_area = $2, service = $3, flags = $4, facts = $5, answer = $6,
               disposition = $7, referral = $8, updated_at = now()
           WHERE number = $1 AND status <> 'closed' RETURNING updated_at""",
        number,
        draft.legal_area,
        draft.service,
        draft.flags,
        draft.facts,
        draft.answer,
        draft.disposition,
        draft.referral,
    )
    return saved


async def mark_risk(conn: Any, number: str, call_id: UUID | None, advice: str) -> None:
    """The agent marks a danger: the flag on the work order (urgent) and on the call."""
    async with conn.transaction():
        await conn.execute(
            """UPDATE tickets SET priority = 'urgent', updated_at = now(),
                   flags = CASE WHEN '人身安全风险' = ANY(flags) THEN flags ELSE flags || '{人身安全风险}' END
               WHERE number = $1""",
            number,
        )
        if call_id is not None:
            await conn.execute(
                """INSERT INTO tags (call_id, kind, value, source, rule)
                   VALUES ($1, 'flag', '人身安全风险', 'agent', $2)
                   ON CONFLICT (call_id, kind, value, source) DO UPDATE SET rule = EXCLUDED.rule""",
                call_id,
                advice,
            )


# ---- wallboard

_QUEUES = """
WITH day AS (SELECT date_trunc('day', now() AT TIME ZONE $1) AT TIME ZONE $1 AS start),
offered AS (
    SELECT e.queue_id, e.call_id, min(e.at) AS entered FROM call_events e, day
    WHERE e.event = 'ENTERQUEUE' AND e.at >= day.start GROUP BY e.queue_id, e.call_id),
fate AS (
    SELECT o.queue_id, o.call_id, o.entered,
           (SELECT min(x.at) FROM call_events x WHERE x.call_id = o.call_id AND x.queue_id = o.queue_id
              AND x.event = 'CONNECT') AS connected,
           EXISTS (SELECT 1 FROM call_events x WHERE x.call_id = o.call_id AND x.queue_id = o.queue_id
              AND x.event = 'ABANDON') AS abandoned
    FROM offered o),
today AS (
    SELECT f.queue_id, count(*) AS offered, count(f.connected) AS answered,
           count(*) FILTER (WHERE f.abandoned AND f.connected IS NULL) AS abandoned,
           count(*) FILTER (WHERE f.connected IS NOT NULL
                            AND f.connected - f.entered <= make_interval(secs => q.service_level_seconds)) AS in_sl,
           avg(extract(epoch FROM f.connected - f.entered)) AS avg_wait
    FROM fate f JOIN queues q ON q.id = f.queue_id GROUP BY f.queue_id),
waiting AS (
    SELECT queue_id, count(*) AS waiting, extract(epoch FROM now() - min(entered_at)) AS oldest
    FROM queue_entries WHERE state = 'waiting' GROUP BY queue_id),
staff AS (
    SELECT m.queue_id, count(*) FILTER (WHERE a.state <> 'logged_out') AS staffed,
           count(*) FILTER (WHERE a.state = 'available') AS available,
           count(*) FILTER (WHERE a.state IN ('reserved', 'on_call')) AS on_call,
           count(*) FILTER (WHERE a.state = 'wrap_up') AS wrap_up,
           count(*) FILTER (WHERE a.state = 'paused') AS paused
    FROM queue_members m JOIN agents a ON a.id = m.agent_id WHERE a.active GROUP BY m.queue_id)
SELECT q.id, q.name, q.display_name, q.service_level_seconds,
       coalesce(w.waiting, 0) AS waiting, coalesce(w.oldest, 0)::float8 AS oldest_wait_s,
       coalesce(t.offered, 0) AS offered, coalesce(t.answered, 0) AS answered,
       coalesce(t.abandoned, 0) AS abandoned, coalesce(t.in_sl, 0) AS in_service_level,
       t.avg_wait::float8 AS avg_wait_s,
       coalesce(s.staffed, 0) AS staffed, coalesce(s.available, 0) AS available,
       coalesce(s.on_call, 0) AS on_call, coalesce(s.wrap_up, 0) AS wrap_up, coalesce(s.paused, 0) AS paused
FROM queues q LEFT JOIN today t ON t.queue_id = q.id LEFT JOIN waiting w ON w.queue_id = q.id
LEFT JOIN staff s ON s.queue_id = q.id
ORDER BY q.id
"""

_AGENTS = """
SELECT a.id, a.username, a.display_name, a.state, a.state_reason,
       extract(epoch FROM now() - a.state_changed_at)::float8 AS in_state_s,
       (SELECT count(DISTINCT e.call_id) FROM call_events e WHERE e.agent_id = a.id AND e.event = 'CONNECT'
          AND e.at >= date_trunc('day', now() AT TIME ZONE $1) AT TIME ZONE $1) AS calls_today,
       coalesce((SELECT array_agg(q.display_name ORDER BY q.id) FROM queue_members m JOIN queues q ON q.id = m.queue_id
                 WHERE m.agent_id = a.id), '{}') AS queues
FROM agents a WHERE a.active AND a.role NOT IN ('admin')
ORDER BY a.state = 'logged_out', a.username
"""


async def wallboard(conn: Any, timezone: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per queue and per agent, from call_events and the ACD tables: nothing kept in memory, so a restart of the
    service changes no figure. "Today" starts at midnight in ``timezone`` by PostgreSQL's clock, the clock of the
    stamps it counts (a live view of stored rows; docs/architecture.md, "Whose clock wins")."""
    queues = [dict(r) for r in await conn.fetch(_QUEUES, timezone)]
    agents = [dict(r) for r in await conn.fetch(_AGENTS, timezone)]
    return queues, agents


async def abandoned_today(conn: Any, timezone: str) -> list[dict[str, Any]]:
    """Callers who hung up in a queue today and have not been reached since (no later answered call, no open
    callback), masked, with the queue and the wait."""
    rows = await conn.fetch(
        """SELECT c.id, c.caller_masked, p.name AS prefecture, q.display_name AS queue, e.at AS abandoned_at,
                  (e.data ->> 'waited')::float8 AS waited_s,
                  EXISTS (SELECT 1 FROM callbacks b WHERE b.number_hmac = c.caller_hmac AND b.requested_at >= e.at)
                      AS callback_requested
           FROM call_events e JOIN calls c ON c.id = e.call_id
           LEFT JOIN prefectures p ON p.code = c.prefecture_code LEFT JOIN queues q ON q.id = e.queue_id
           WHERE e.event = 'ABANDON' AND c.caller_hmac IS NOT NULL
             AND e.at >= date_trunc('day', now() AT TIME ZONE $1) AT TIME ZONE $1
             AND NOT EXISTS (SELECT 1 FROM calls later WHERE later.caller_hmac = c.caller_hmac
                             AND later.started_at > c.started_at AND later.answered_at IS NOT NULL
                             AND later.agent_id IS NOT NULL)
           ORDER BY e.at DESC LIMIT 200""",
        timezone,
    )
    return [dict(r) for r in rows]


async def agent_names(conn: Any) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT username, display_name, role, active FROM agents ORDER BY active DESC, username")
    return [dict(r) for r in rows]


async def transfer_targets(conn: Any, agent_id: int) -> dict[str, list[dict[str, Any]]]:
    """Where the agent may transfer a caller now: every queue, and the colleagues who are available."""
    queues = await conn.fetch("SELECT name, display_name FROM queues ORDER BY id")
    agents = await conn.fetch(
        """SELECT username, display_name FROM agents WHERE active AND state = 'available' AND id <> $1
           ORDER BY display_name, username""",
        agent_id,
    )
    return {"queues": [dict(q) for q in queues], "agents": [dict(a) for a in agents]}


async def queue_id(conn: Any, name: str) -> int | None:
    found: int | None = await conn.fetchval("SELECT id FROM queues WHERE name = $1", name)
    return found


async def follow_ups(conn: Any, limit: int = 200) -> list[dict[str, Any]]:
    """The work orders the survey opened for dissatisfied callers (the IVR event names each), open ones first:
    the caller masked, who handled the call, the answers given, the follow-up result once recorded."""
    rows = await conn.fetch(
        """SELECT t.number, t.status, t.created_at, coalesce(t.caller_masked, c.caller_masked) AS caller_masked,
                  p.name AS prefecture, t.follow_up_result,
                  t.updated_at, a.username AS handled_by, a.display_name AS handled_by_name, t.call_id,
                  (SELECT string_agg((s.data ->> 'question') || '：' || coalesce(s.data ->> 'label', '未答'), '，'
                                     ORDER BY s.id)
                   FROM call_events s WHERE s.call_id = t.call_id AND s.event = 'SURVEY') AS answers
           FROM call_events e JOIN tickets t ON t.number = e.data ->> 'ticket'
           JOIN calls c ON c.id = t.call_id LEFT JOIN agents a ON a.id = c.agent_id
           LEFT JOIN prefectures p ON p.code = t.prefecture_code
           WHERE e.event = 'IVR' AND e.data ->> 'kind' = 'follow_up'
           ORDER BY t.status = 'closed', t.created_at DESC LIMIT $1""",
        limit,
    )
    return [dict(r) for r in rows]


async def is_follow_up(conn: Any, number: str) -> bool:
    found: bool = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM call_events WHERE event = 'IVR' AND data ->> 'kind' = 'follow_up'
                          AND data ->> 'ticket' = $1)""",
        number,
    )
    return found
