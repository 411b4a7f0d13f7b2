"""What the supervisor's metrics read: new rows of the event log with the context that classifies them, and
the current state (callers waiting, agents by state, work orders, callbacks).

The event rows carry, for each kind of event, what docs/kpi.md needs to judge it the way db/kpi.py does: the
queue visit a queue exit ends, the conversation a talk end closes, the visits and conversations a call's end
leaves without an exit, the visit a connected callback answers.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from db.kpi import PREFECTURE_SQL
from hotline.kpi import TALK_END_EVENTS, VISIT_EXIT_EVENTS

_EXITS = "ARRAY[" + ", ".join(f"'{e}'" for e in VISIT_EXIT_EVENTS) + "]::text[]"
_TALK_ENDS = "ARRAY[" + ", ".join(f"'{e}'" for e in TALK_END_EVENTS) + "]::text[]"

# $1: read events with id above this; $2: ids above it already read; $3: at most this many rows.
_NEW_EVENTS = f"""
SELECT e.id, e.at, e.event, e.call_id, c.direction, {PREFECTURE_SQL} AS prefecture, c.ended_at,
       q.name AS queue, e.data->>'question' AS question, e.data->>'label' AS label, e.data->>'result' AS result,
       NOT EXISTS (SELECT 1 FROM call_events p WHERE p.call_id = e.call_id AND p.id < e.id) AS first_of_call,
       (e.event = 'CONNECT' AND NOT EXISTS (
            SELECT 1 FROM call_events p WHERE p.call_id = e.call_id AND p.event = 'CONNECT' AND p.id < e.id))
           AS first_connect,
       visit.queue AS visit_queue, visit.service_level_s AS visit_sl_s,
       extract(epoch FROM e.at - visit.at)::float8 AS visit_wait_s,
       talk.queue AS talk_queue, extract(epoch FROM e.at - talk.at)::float8 AS talk_s,
       ended.lost AS lost_visits, ended.talks AS open_talks, cb.queue AS callback_queue
FROM call_events e
JOIN calls c ON c.id = e.call_id
LEFT JOIN queues q ON q.id = e.queue_id
-- a queue exit that is the first exit after the call's latest ENTERQUEUE ends that visit
LEFT JOIN LATERAL (
    SELECT vq.name AS queue, vq.service_level_seconds::float8 AS service_level_s, v.at FROM call_events v
    JOIN queues vq ON vq.id = v.queue_id
    WHERE e.event = ANY({_EXITS}) AND v.call_id = e.call_id AND v.event = 'ENTERQUEUE' AND v.id < e.id
      AND NOT EXISTS (SELECT 1 FROM call_events o WHERE o.call_id = e.call_id AND o.id > v.id AND o.id < e.id
                      AND o.event = ANY({_EXITS} || ARRAY['ENTERQUEUE']))
    ORDER BY v.id DESC LIMIT 1
) visit ON true
-- a talk end closes the conversations (CONNECTs) not closed yet
LEFT JOIN LATERAL (
    SELECT tq.name AS queue, x.at FROM call_events x LEFT JOIN queues tq ON tq.id = x.queue_id
    WHERE e.event = ANY({_TALK_ENDS}) AND x.call_id = e.call_id AND x.event = 'CONNECT' AND x.id < e.id
      AND NOT EXISTS (SELECT 1 FROM call_events o WHERE o.call_id = e.call_id AND o.id > x.id AND o.id < e.id
                      AND o.event = ANY({_TALK_ENDS}))
    ORDER BY x.id DESC LIMIT 1
) talk ON true
-- the call's end: visits it leaves without an exit (lost) and conversations without a talk end
LEFT JOIN LATERAL (
    SELECT
      (SELECT coalesce(jsonb_agg(jsonb_build_object('queue', lq.name)), '[]'::jsonb)
       FROM call_events v JOIN queues lq ON lq.id = v.queue_id
       WHERE v.call_id = e.call_id AND v.event = 'ENTERQUEUE' AND v.id < e.id
         AND NOT EXISTS (SELECT 1 FROM call_events o WHERE o.call_id = e.call_id AND o.id > v.id AND o.id < e.id
                         AND o.event = ANY({_EXITS} || ARRAY['ENTERQUEUE']))) AS lost,
      (SELECT coalesce(jsonb_agg(jsonb_build_object(
                  'queue', tq.name, 'talk_s', extract(epoch FROM coalesce(c.ended_at, e.at) - x.at)::float8)),
              '[]'::jsonb)
       FROM call_events x LEFT JOIN queues tq ON tq.id = x.queue_id
       WHERE x.call_id = e.call_id AND x.event = 'CONNECT' AND x.id < e.id
         AND NOT EXISTS (SELECT 1 FROM call_events o WHERE o.call_id = e.call_id AND o.id > x.id
                         AND o.event = ANY({_TALK_ENDS}))) AS talks
    WHERE e.event IN ('HANGUP', 'FAILED')
) ended ON true
-- a connected callback answers the EXITWITHKEY visit that asked for it (its CALLBACK follows that exit)
LEFT JOIN LATERAL (
    SELECT bq.name AS queue FROM call_events k
    JOIN call_events v ON v.call_id = k.call_id AND v.event = 'ENTERQUEUE' AND v.id < k.id
    JOIN queues bq ON bq.id = v.queue_id
    WHERE e.event = 'CALLBACKATTEMPT' AND e.data->>'result' = 'connected'
      AND k.call_id = e.call_id AND k.event = 'CALLBACK' AND k.id < e.id
      AND (SELECT x.event FROM call_events x WHERE x.call_id = k.call_id AND x.id > v.id AND x.id < k.id
             AND x.event = ANY({_EXITS}) ORDER BY x.id LIMIT 1) = 'EXITWITHKEY'
    ORDER BY k.id DESC, v.id DESC LIMIT 1
) cb ON true
WHERE e.id > $1 AND NOT (e.id = ANY($2::bigint[]))
ORDER BY e.id
LIMIT $3
"""


@dataclass(frozen=True)
class EventRow:
    """One new event and its context (see the query's comments)."""

    id: int
    at: dt.datetime
    event: str
    direction: str
    prefecture: str
    queue: str | None = None
    question: str | None = None
    label: str | None = None
    result: str | None = None
    first_of_call: bool = False
    first_connect: bool = False
    visit_queue: str | None = None  # the visit this exit ends (None: not a visit's end)
    visit_sl_s: float | None = None
    visit_wait_s: float | None = None
    talk_queue: str | None = None
    talk_s: float | None = None  # the conversation this talk end closes
    lost_visits: list[str] = field(default_factory=list)  # queues of visits the call's end leaves open
    open_talks: list[tuple[str | None, float]] = field(default_factory=list)  # (queue, talk_s)
    callback_queue: str | None = None  # the queue of the visit this connected callback answers


async def new_events(conn: Any, after_id: int, seen: list[int], limit: int = 5000) -> list[EventRow]:
    """Events with an id above `after_id` not in `seen`, oldest first."""
    rows = await conn.fetch(_NEW_EVENTS, after_id, seen, limit)
    out = []
    for r in rows:
        lost = json.loads(r["lost_visits"]) if r["lost_visits"] is not None else []
        talks = json.loads(r["open_talks"]) if r["open_talks"] is not None else []
        out.append(
            EventRow(
                id=r["id"],
                at=r["at"],
                event=r["event"],
                direction=r["direction"],
                prefecture=r["prefecture"],
                queue=r["queue"],
                question=r["question"],
                label=r["label"],
                result=r["result"],
                first_of_call=r["first_of_call"],
                first_connect=r["first_connect"],
                visit_queue=r["visit_queue"],
                visit_sl_s=r["visit_sl_s"],
                visit_wait_s=r["visit_wait_s"],
                talk_queue=r["talk_queue"],
                talk_s=r["talk_s"],
                lost_visits=[v["queue"] for v in lost],
                open_talks=[(t["queue"], t["talk_s"]) for t in talks],
                callback_queue=r["callback_queue"],
            )
        )
    return out


async def last_event_id(conn: Any) -> int:
    return int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM call_events"))


async def now(conn: Any) -> dt.datetime:
    """PostgreSQL's clock (the event stamps' clock)."""
    value: dt.datetime = await conn.fetchval("SELECT now()")
    return value


@dataclass(frozen=True)
class TagRow:
    id: int
    kind: str
    value: str
    at: dt.datetime


async def new_tags(conn: Any, after_id: int, seen: list[int], limit: int = 5000) -> list[TagRow]:
    rows = await conn.fetch(
        "SELECT id, kind, value, created_at FROM tags"
        " WHERE id > $1 AND NOT (id = ANY($2::bigint[])) ORDER BY id LIMIT $3",
        after_id,
        seen,
        limit,
    )
    return [TagRow(r["id"], r["kind"], r["value"], r["created_at"]) for r in rows]


async def last_tag_id(conn: Any) -> int:
    return int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM tags"))


# ---- the current state


@dataclass(frozen=True)
class QueueNow:
    queue: str
    waiting: int
    oldest_wait_s: float
    callbacks_pending: int


@dataclass(frozen=True)
class Snapshot:
    queues: list[QueueNow]
    agents: list[tuple[str, str, int]]  # (queue, state, members in that state)
    tickets: list[tuple[str, int, int]]  # (status, work orders, overdue)
    queue_names: list[str]


_QUEUES_NOW = """
SELECT q.name,
       (SELECT count(*) FROM queue_entries e WHERE e.queue_id = q.id AND e.state IN ('waiting', 'offered'))
           AS waiting,
       coalesce((SELECT extract(epoch FROM now() - min(e.entered_at))::float8 FROM queue_entries e
                 WHERE e.queue_id = q.id AND e.state IN ('waiting', 'offered')), 0) AS oldest_wait_s,
       (SELECT count(*) FROM callbacks b WHERE b.queue_id = q.id AND b.status IN ('waiting', 'dialing'))
           AS callbacks_pending
FROM queues q ORDER BY q.name
"""
_AGENTS_NOW = """
SELECT q.name AS queue, a.state, count(*) AS n
FROM queue_members m JOIN queues q ON q.id = m.queue_id JOIN agents a ON a.id = m.agent_id
WHERE a.active
GROUP BY q.name, a.state
"""
_TICKETS_NOW = """
SELECT status, count(*) AS n,
       count(*) FILTER (WHERE status <> 'closed' AND deadline IS NOT NULL AND deadline < now()) AS overdue
FROM tickets GROUP BY status
"""


async def snapshot(conn: Any) -> Snapshot:
    """The state now, in one read-only snapshot."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        queues = [
            QueueNow(r["name"], r["waiting"], r["oldest_wait_s"], r["callbacks_pending"])
            for r in await conn.fetch(_QUEUES_NOW)
        ]
        agents = [(r["queue"], r["state"], r["n"]) for r in await conn.fetch(_AGENTS_NOW)]
        tickets = [(r["status"], r["n"], r["overdue"]) for r in await conn.fetch(_TICKETS_NOW)]
    return Snapshot(queues, agents, tickets, [q.queue for q in queues])
