"""The rows the KPIs (hotline.kpi, docs/kpi.md) are computed from, read for a period [since, until).

A row belongs to the period its call started in (`calls.started_at`). The period is the caller's (a day or a month
in Asia/Shanghai is decided by whoever asks). Each reader takes optional `Filters`: a queue name, a prefecture
(a code, `outside_yunnan` or `unknown`), an agent's username, and whether simulated calls count (by default they
do not); one query per reader.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from hotline.kpi import (
    TALK_END_EVENTS,
    VISIT_END_OF_EVENT,
    VISIT_EXIT_EVENTS,
    CallbackStatus,
    CallCase,
    Conversation,
    KpiRows,
    QueueVisit,
    SurveyCall,
    VisitEnd,
    check_period,
)

R = TypeVar("R")

# The caller's prefecture: its code, else `outside_yunnan` for a number placed elsewhere (calls.province is the
# geocoder's place, e.g. 北京市), else `unknown` (withheld, or a Yunnan number of no known prefecture).
PREFECTURE_SQL = """CASE WHEN c.prefecture_code IS NOT NULL THEN c.prefecture_code::text
                      WHEN c.province IS NOT NULL AND c.province NOT LIKE '云南%' THEN 'outside_yunnan'
                      ELSE 'unknown' END"""
# $1, $2: the period; $4: the prefecture filter; $6: simulated or not. $3 (queue) and $5 (agent) are applied by each
# query; $7 is a query's own.
_PERIOD = f"""period_calls AS (
    SELECT c.id, c.started_at, c.ended_at, c.direction, c.queue_id, c.agent_id, c.caller_hmac,
           {PREFECTURE_SQL} AS prefecture
    FROM calls c
    WHERE c.started_at >= $1 AND c.started_at < $2 AND ($4::text IS NULL OR {PREFECTURE_SQL} = $4)
      AND ($6::bool IS NULL OR c.simulated = $6)
)"""

# One row per ENTERQUEUE of an inbound call; its end is the first queue exit before the call's next ENTERQUEUE.
_VISITS = f"""
WITH {_PERIOD}, visits AS (
    SELECT c.id AS call_id, c.started_at, c.ended_at, c.prefecture, q.name AS queue,
           q.service_level_seconds, e.id AS enter_id, e.at AS entered_at,
           (SELECT min(n.id) FROM call_events n
            WHERE n.call_id = c.id AND n.event = 'ENTERQUEUE' AND n.id > e.id) AS next_id
    FROM period_calls c
    JOIN call_events e ON e.call_id = c.id AND e.event = 'ENTERQUEUE'
    JOIN queues q ON q.id = e.queue_id
    WHERE c.direction = 'inbound' AND ($3::text IS NULL OR q.name = $3)
)
SELECT v.call_id, v.started_at, v.ended_at AS call_ended_at, v.prefecture, v.queue,
       v.service_level_seconds::float8 AS queue_service_level_s, x.event AS end_event,
       extract(epoch FROM x.at - v.entered_at)::float8 AS wait_s,
       coalesce(a.username, cb_agent.username) AS agent, cb.status AS callback_status
FROM visits v
LEFT JOIN LATERAL (
    SELECT o.id, o.event, o.at, o.agent_id FROM call_events o
    WHERE o.call_id = v.call_id AND o.id > v.enter_id AND (v.next_id IS NULL OR o.id < v.next_id)
      AND o.event = ANY($7::text[])
    ORDER BY o.id LIMIT 1
) x ON true
LEFT JOIN agents a ON a.id = x.agent_id
LEFT JOIN LATERAL (
    SELECT b.id, b.status FROM call_events k JOIN callbacks b ON b.id = (k.data->>'callback')::bigint
    WHERE x.event = 'EXITWITHKEY' AND k.call_id = v.call_id AND k.event = 'CALLBACK' AND k.id > x.id
      AND (v.next_id IS NULL OR k.id < v.next_id)
    ORDER BY k.id DESC LIMIT 1
) cb ON true
LEFT JOIN LATERAL (
    SELECT g.username FROM callback_attempts t JOIN agents g ON g.id = t.agent_id
    WHERE t.callback_id = cb.id AND t.result = 'connected'
    ORDER BY t.id LIMIT 1
) cb_agent ON true
WHERE ($5::text IS NULL OR coalesce(a.username, cb_agent.username) = $5)
ORDER BY v.started_at, v.enter_id
"""

# One row per CONNECT, inbound and callback calls; talk ends at the next COMPLETE*/TRANSFER, else at the call's end.
_CONVERSATIONS = f"""
WITH {_PERIOD}
SELECT c.id AS call_id, c.started_at, c.direction, c.prefecture, q.name AS queue, a.username AS agent,
       extract(epoch FROM coalesce(d.at, c.ended_at) - x.at)::float8 AS talk_s
FROM period_calls c
JOIN call_events x ON x.call_id = c.id AND x.event = 'CONNECT'
LEFT JOIN queues q ON q.id = x.queue_id
LEFT JOIN agents a ON a.id = x.agent_id
LEFT JOIN LATERAL (
    SELECT o.at FROM call_events o
    WHERE o.call_id = c.id AND o.id > x.id AND o.event = ANY($7::text[])
    ORDER BY o.id LIMIT 1
) d ON true
WHERE ($3::text IS NULL OR q.name = $3) AND ($5::text IS NULL OR a.username = $5)
ORDER BY c.started_at, x.id
"""

# Inbound calls bridged to an agent (survey eligible) or with survey answers; an answer's label is the one its
# latest SURVEY event carries (the key's meaning in the flow revision that asked it).
_SURVEYS = f"""
WITH {_PERIOD}, surveyed AS (
    SELECT c.*, EXISTS (SELECT 1 FROM call_events x WHERE x.call_id = c.id AND x.event = 'CONNECT') AS eligible
    FROM period_calls c
    WHERE c.direction = 'inbound'
)
SELECT c.id AS call_id, c.started_at, c.prefecture, q.name AS queue, a.username AS agent, c.eligible,
       coalesce((SELECT jsonb_object_agg(s.question, CASE WHEN s.answer IS NOT NULL THEN
                        (SELECT v.data->>'label' FROM call_events v
                         WHERE v.call_id = c.id AND v.event = 'SURVEY' AND v.data->>'question' = s.question
                         ORDER BY v.id DESC LIMIT 1) END)
                 FROM surveys s WHERE s.call_id = c.id), '{{}}'::jsonb) AS answers
FROM surveyed c
LEFT JOIN queues q ON q.id = c.queue_id
LEFT JOIN agents a ON a.id = c.agent_id
WHERE (c.eligible OR EXISTS (SELECT 1 FROM surveys s WHERE s.call_id = c.id))
  AND ($3::text IS NULL OR q.name = $3) AND ($5::text IS NULL OR a.username = $5)
ORDER BY c.started_at, c.id
"""

# Every inbound call: what the caller asked for (queue, voicemail, callback), what was done (agent, callback, work
# orders), who the caller is (registry kinds of the number, flags) and what they needed (services). Work orders and
# tags of the call's callback calls (found by the index on parent_call_id) count as its own.
_CASES = f"""
WITH {_PERIOD}
SELECT c.id AS call_id, c.started_at, c.prefecture, q.name AS queue, a.username AS agent,
       encode(c.caller_hmac, 'hex') AS caller_key, ev.visits, ev.connected, ev.voicemail,
       coalesce(ab.waits, '{{}}') AS abandon_waits,
       (SELECT b.status FROM callbacks b WHERE b.call_id = c.id ORDER BY b.id DESC LIMIT 1) AS callback,
       ARRAY(SELECT DISTINCT l.to_status FROM tickets k JOIN ticket_status_log l ON l.ticket_id = k.id
             WHERE k.call_id = ANY(fam.ids)) AS ticket_statuses,
       ARRAY(SELECT r.kind FROM vulnerable_registry r WHERE r.number_hmac = c.caller_hmac) AS registry_kinds,
       ARRAY(SELECT t.value FROM tags t WHERE t.call_id = ANY(fam.ids) AND t.kind = 'flag'
             UNION SELECT f.flag FROM tickets k CROSS JOIN unnest(k.flags) AS f (flag) WHERE k.call_id = ANY(fam.ids))
           AS flags,
       ARRAY(SELECT t.value FROM tags t WHERE t.call_id = ANY(fam.ids) AND t.kind = 'service'
             UNION SELECT k.service FROM tickets k WHERE k.call_id = ANY(fam.ids) AND k.service IS NOT NULL)
           AS services,
       EXISTS (SELECT 1 FROM tickets k WHERE k.call_id = ANY(fam.ids) AND k.legal_aid_hint) AS legal_aid_hint,
       ARRAY(SELECT DISTINCT k.referral FROM tickets k WHERE k.call_id = ANY(fam.ids) AND k.referral IS NOT NULL)
           AS referrals
FROM period_calls c
LEFT JOIN queues q ON q.id = c.queue_id
LEFT JOIN agents a ON a.id = c.agent_id
CROSS JOIN LATERAL (
    SELECT ARRAY[c.id] || ARRAY(SELECT f.id FROM calls f WHERE f.parent_call_id = c.id AND f.direction = 'callback')
        AS ids
) fam
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE e.event = 'ENTERQUEUE') AS visits,
           coalesce(bool_or(e.event = 'CONNECT'), false) AS connected,
           coalesce(bool_or(e.event = 'VOICEMAIL'), false) AS voicemail
    FROM call_events e WHERE e.call_id = c.id
) ev
CROSS JOIN LATERAL (
    SELECT array_remove(array_agg(extract(epoch FROM x.at - (
               SELECT e.at FROM call_events e
               WHERE e.call_id = c.id AND e.event = 'ENTERQUEUE' AND e.id < x.id
               ORDER BY e.id DESC LIMIT 1))::float8 ORDER BY x.id), NULL) AS waits
    FROM call_events x WHERE x.call_id = c.id AND x.event = 'ABANDON'
) ab
WHERE c.direction = 'inbound' AND ($3::text IS NULL OR q.name = $3) AND ($5::text IS NULL OR a.username = $5)
ORDER BY c.started_at, c.id
"""


@dataclass(frozen=True)
class Filters:
    """Which calls of the period to read; None: all."""

    queue: str | None = None  # a queue name (a visit's queue; a call's last queue)
    prefecture: str | None = None  # a prefecture code, `outside_yunnan` or `unknown`
    agent: str | None = None  # an agent's username (who answered the visit, talked, or was bridged to the call)
    # False: the real calls only (reports); True: only what `hotline simulate` placed; None: both (live metrics)
    simulated: bool | None = False


ALL = Filters()


async def _fetch(conn: Any, sql: str, since: dt.datetime, until: dt.datetime, where: Filters, *extra: Any) -> Any:
    check_period(since, until)
    return await conn.fetch(sql, since, until, where.queue, where.prefecture, where.agent, where.simulated, *extra)


def _callback(value: str | None) -> CallbackStatus | None:
    return CallbackStatus(value) if value is not None else None


def _from_row(cls: type[R], row: Any, **converted: Any) -> R:
    """A row dataclass from the columns of the same names, and the fields given already converted."""
    named = {f.name: row[f.name] for f in fields(cls) if f.name not in converted}  # type: ignore[arg-type]
    return cls(**named, **converted)


def _visit(row: Any) -> QueueVisit:
    if row["end_event"] is not None:
        end = VISIT_END_OF_EVENT[row["end_event"]]
    else:
        end = VisitEnd.OPEN if row["call_ended_at"] is None else VisitEnd.LOST
    return _from_row(QueueVisit, row, end=end, callback=_callback(row["callback_status"]))


async def queue_visits(conn: Any, since: dt.datetime, until: dt.datetime, where: Filters = ALL) -> list[QueueVisit]:
    """The queue visits of inbound calls started in the period (接通率, 服务水平, 平均应答速度, 放弃率); with an
    agent, the visits that agent answered."""
    rows = await _fetch(conn, _VISITS, since, until, where, list(map(str, VISIT_EXIT_EVENTS)))
    return [_visit(r) for r in rows]


async def conversations(conn: Any, since: dt.datetime, until: dt.datetime, where: Filters = ALL) -> list[Conversation]:
    """The conversations (CONNECTs) of inbound and callback calls started in the period (平均通话时长)."""
    rows = await _fetch(conn, _CONVERSATIONS, since, until, where, list(map(str, TALK_END_EVENTS)))
    return [_from_row(Conversation, r) for r in rows]


async def survey_calls(conn: Any, since: dt.datetime, until: dt.datetime, where: Filters = ALL) -> list[SurveyCall]:
    """Inbound calls of the period that were bridged to an agent or answered the survey (满意率, 参评率, 首选率,
    知晓率), with their answers' labels."""
    rows = await _fetch(conn, _SURVEYS, since, until, where)
    return [_from_row(SurveyCall, r, answers=json.loads(r["answers"])) for r in rows]


_SETS = ("ticket_statuses", "registry_kinds", "flags", "services", "referrals")


async def call_cases(conn: Any, since: dt.datetime, until: dt.datetime, where: Filters = ALL) -> list[CallCase]:
    """Every inbound call of the period with its requests, responses, work orders and registry kinds (回应率,
    受援率)."""
    rows = await _fetch(conn, _CASES, since, until, where)
    return [
        _from_row(
            CallCase,
            r,
            abandon_waits=tuple(r["abandon_waits"]),
            callback=_callback(r["callback"]),
            **{name: frozenset(r[name]) for name in _SETS},
        )
        for r in rows
    ]


async def read(conn: Any, since: dt.datetime, until: dt.datetime, where: Filters = ALL) -> KpiRows:
    """All four kinds of rows of the period, for hotline.kpi.scorecard (four queries in one snapshot)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return KpiRows(
            await queue_visits(conn, since, until, where),
            await conversations(conn, since, until, where),
            await survey_calls(conn, since, until, where),
            await call_cases(conn, since, until, where),
        )
