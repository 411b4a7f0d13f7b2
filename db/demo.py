"""A month of demo history (`hotline demo-history`, bench/report.py): calls with the events, survey answers and work
orders the engine writes for them, generated in set-based SQL from a plan (built by hotline/cli/demo.py): a million
calls take minutes (277 s on the 2-core machine), not hours. The same plan and seed give the same rows
(PostgreSQL's ``setseed``), except the generated UUIDs.

Shape, as the cell and the console write it: every call has INCOMING and ANSWER (the IVR answers), then either no
queue (ivr_only: the caller heard the guidance and hung up) or ENTERQUEUE followed by CONNECT (an agent; the
caller hangs up after the talk: COMPLETECALLER) or ABANDON (``waited``); HANGUP closes it. Answered calls get a
work order (answered or referred, by the agent) and, for a share of them, the survey's answers with SURVEY events
carrying the labels."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

HISTORY_CELL = "demo"  # calls.cell of every generated call: how a month already written is found


@dataclass(frozen=True)
class DemoCaller:
    hmac: bytes | None
    enc: bytes | None
    masked: str
    kind: str
    prefecture_code: str | None
    province: str | None


@dataclass(frozen=True)
class Weighted:
    """One choice with its weight: a queue (queue id, the service its work orders get), an answer, a legal area."""

    weight: float
    value: str
    extra: str = ""
    key: int = 0


@dataclass(frozen=True)
class Plan:
    since: dt.datetime  # the first local midnight (aware)
    days: int
    calls: int  # in all, spread over the days
    seed: float  # in [-1, 1], PostgreSQL's setseed
    hours: Sequence[float]  # 24 weights: the calls' time of day
    queues: Sequence[Weighted]  # value: the queue id as text, extra: the work order's service
    ivr_only_share: float
    abandon_share: float
    mean_wait_s: float
    talk_s: tuple[float, float]
    wrap_up_s: tuple[float, float]
    survey_share: float
    answers: Mapping[str, Sequence[Weighted]]  # question -> (weight, label, key)
    legal_areas: Sequence[Weighted]
    referral_share: float
    referral: str  # the referral of a referred work order
    agents: Sequence[int]
    ticket_prefix: str
    tz: str


def _bounds(choices: Sequence[Weighted]) -> list[float]:
    """Cumulative lower bounds in [0, 1) of each choice (width_bucket's thresholds)."""
    total = sum(c.weight for c in choices)
    out, acc = [], 0.0
    for c in choices:
        out.append(acc / total)
        acc += c.weight
    return out


_PLAN = """
CREATE TEMP TABLE demo_plan ON COMMIT DROP AS
WITH draws AS (
    SELECT i, random() AS r_day, random() AS r_hour, random() AS r_min, random() AS r_caller, random() AS r_queue,
           random() AS r_out, random() AS r_wait, random() AS r_talk, random() AS r_wrap, random() AS r_agent,
           random() AS r_survey, random() AS r_area, random() AS r_ref, random() AS r_ivr
    FROM generate_series(1, $1::int) AS i
), timed AS (
    SELECT d.*,
           ($2::timestamptz + (floor(d.r_day * $3::int)::int || ' days')::interval
             + ((width_bucket(d.r_hour, $4::float8[]) - 1) * 3600 + d.r_min * 3599) * interval '1 second')
               AS started_at
    FROM draws d
)
SELECT t.i, gen_random_uuid() AS id, t.started_at,
       1 + floor(t.r_caller * $5::int)::int AS caller,
       CASE WHEN t.r_ivr < $6::float8 THEN NULL ELSE ($7::int[])[width_bucket(t.r_queue, $8::float8[])] END
           AS queue_id,
       ($9::text[])[width_bucket(t.r_queue, $8::float8[])] AS service,
       CASE WHEN t.r_ivr < $6::float8 THEN 'ivr_only' WHEN t.r_out < $10::float8 THEN 'abandoned' ELSE 'answered' END
           AS outcome,
       35 + 25 * t.r_min AS ivr_s,
       round((-ln(1 - t.r_wait * 0.999) * $11::float8)::numeric, 1)::float8 AS wait_s,
       $12::float8 + t.r_talk * ($13::float8 - $12::float8) AS talk_s,
       $14::float8 + t.r_wrap * ($15::float8 - $14::float8) AS wrap_s,
       1 + floor(t.r_agent * array_length($16::int[], 1))::int AS agent_n,
       t.r_survey < $17::float8 AS surveyed,
       ($18::text[])[width_bucket(t.r_area, $19::float8[])] AS legal_area,
       t.r_ref < $20::float8 AS referred
FROM timed t
"""

_CALLS = """
INSERT INTO calls (id, sip_call_id, caller_hmac, caller_enc, caller_masked, caller_kind, prefecture_code, province,
                   cell, started_at, answered_at, ended_at, flow_id, queue_id, agent_id, outcome)
SELECT p.id, 'demo-' || p.i || '-' || md5(p.id::text), c.hmac, c.enc, c.masked, c.kind, c.prefecture_code,
       c.province, $1, p.started_at, p.started_at + interval '1 second',
       p.started_at + (p.ivr_s + CASE p.outcome WHEN 'ivr_only' THEN 0 WHEN 'abandoned' THEN p.wait_s
                                                ELSE p.wait_s + p.talk_s + 2 END) * interval '1 second',
       'yunnan_12348', p.queue_id, CASE WHEN p.outcome = 'answered' THEN ($2::int[])[p.agent_n] END, p.outcome
FROM demo_plan p JOIN demo_callers c ON c.n = p.caller
"""

# Every event of a call in time order, so that ids grow with time within a call (the KPI readers rely on it).
_EVENTS = """
INSERT INTO call_events (call_id, at, event, queue_id, agent_id, data)
SELECT call_id, at, event, queue_id, agent_id, data FROM (
    SELECT p.id AS call_id, p.started_at AS at, 'INCOMING' AS event, NULL::int AS queue_id, NULL::int AS agent_id,
           jsonb_build_object('cell', $1::text) AS data, 1 AS seq, p.i FROM demo_plan p
    UNION ALL
    SELECT p.id, p.started_at + interval '1 second', 'ANSWER', NULL, NULL, '{}', 2, p.i FROM demo_plan p
    UNION ALL
    SELECT p.id, p.started_at + p.ivr_s * interval '1 second', 'ENTERQUEUE', p.queue_id, NULL,
           '{"priority": 0}', 3, p.i FROM demo_plan p WHERE p.outcome <> 'ivr_only'
    UNION ALL
    SELECT p.id, p.started_at + (p.ivr_s + p.wait_s) * interval '1 second', 'ABANDON', p.queue_id, NULL,
           jsonb_build_object('waited', p.wait_s), 4, p.i FROM demo_plan p WHERE p.outcome = 'abandoned'
    UNION ALL
    SELECT p.id, p.started_at + (p.ivr_s + p.wait_s) * interval '1 second', 'CONNECT', p.queue_id,
           ($2::int[])[p.agent_n], '{"ring": 3.0}', 4, p.i FROM demo_plan p WHERE p.outcome = 'answered'
    UNION ALL
    SELECT p.id, p.started_at + (p.ivr_s + p.wait_s + p.talk_s) * interval '1 second', 'COMPLETECALLER',
           p.queue_id, ($2::int[])[p.agent_n], '{}', 5, p.i FROM demo_plan p WHERE p.outcome = 'answered'
    UNION ALL
    SELECT s.call_id, s.answered_at, 'SURVEY', NULL, NULL, jsonb_build_object('question', s.question, 'label', s.label),
           6 + s.q, p.i FROM demo_survey s JOIN demo_plan p ON p.id = s.call_id
    UNION ALL
    SELECT c.id, c.ended_at, 'HANGUP', NULL, NULL, '{}', 20, p.i FROM demo_plan p JOIN calls c ON c.id = p.id
) e ORDER BY i, seq
"""

_SURVEY = """
CREATE TEMP TABLE demo_survey ON COMMIT DROP AS
SELECT p.id AS call_id, a.question, d.q, a.key, a.label,
       p.started_at + (p.ivr_s + p.wait_s + p.talk_s + 4 + 6 * d.q) * interval '1 second' AS answered_at
FROM demo_plan p
CROSS JOIN LATERAL (SELECT q.question, q.q, random() + 0 * p.i AS r FROM demo_questions q) d
JOIN demo_answers a ON a.question = d.question AND d.r >= a.lo AND d.r < a.hi
WHERE p.outcome = 'answered' AND p.surveyed
"""

_TICKETS = """
WITH numbered AS (
    SELECT p.*, (p.started_at AT TIME ZONE $2)::date AS local_day,
           row_number() OVER (PARTITION BY (p.started_at AT TIME ZONE $2)::date ORDER BY p.started_at, p.i)
               + coalesce((SELECT k.last_value FROM ticket_counters k
                           WHERE k.day = (p.started_at AT TIME ZONE $2)::date), 0) AS seq
    FROM demo_plan p WHERE p.outcome = 'answered'
), made AS (
    INSERT INTO tickets (number, call_id, assignee_id, status, caller_masked, prefecture_code, legal_area, service,
                         facts, answer, disposition, referral, created_at, updated_at, closed_at)
    SELECT $1 || '-' || to_char(n.local_day, 'YYYYMMDD') || '-' || lpad(n.seq::text, 6, '0'), n.id,
           ($3::int[])[n.agent_n], CASE WHEN n.referred THEN 'referred' ELSE 'answered' END,
           c.masked, c.prefecture_code, n.legal_area, n.service,
           '（演示数据）来电人咨询' || n.legal_area || '方面的问题。', '（演示数据）已告知相关法律规定和办理途径。',
           CASE WHEN n.referred THEN '已转介' ELSE '已解答' END, CASE WHEN n.referred THEN $4 END,
           n.started_at + (n.ivr_s + n.wait_s) * interval '1 second',
           n.started_at + (n.ivr_s + n.wait_s + n.talk_s + n.wrap_s) * interval '1 second', NULL
    FROM numbered n JOIN demo_callers c ON c.n = n.caller
    RETURNING id, status, assignee_id, created_at, updated_at, number
), logged AS (
    INSERT INTO ticket_status_log (ticket_id, from_status, to_status, actor, at)
    SELECT m.id, NULL, 'new', 'ivr', m.created_at FROM made m
    UNION ALL
    SELECT m.id, 'new', m.status, a.username, m.updated_at FROM made m JOIN agents a ON a.id = m.assignee_id
    RETURNING 1
)
INSERT INTO ticket_counters AS k (day, last_value)
SELECT to_date(split_part(m.number, '-', 2), 'YYYYMMDD'), max(split_part(m.number, '-', 3)::int)
FROM made m GROUP BY 1
ON CONFLICT (day) DO UPDATE SET last_value = greatest(k.last_value, EXCLUDED.last_value)
"""


async def write(conn: Any, plan: Plan, callers: Sequence[DemoCaller]) -> dict[str, int]:
    """Write the plan's calls in one transaction; what was written, by table."""
    if not callers or not plan.agents or not plan.queues:
        raise ValueError("a demo history needs callers, agents and queues")
    async with conn.transaction():
        await conn.execute("SELECT setseed($1)", plan.seed)
        await conn.execute(
            """CREATE TEMP TABLE demo_callers (n int PRIMARY KEY, hmac bytea, enc bytea, masked text, kind text,
                                               prefecture_code char(6), province text) ON COMMIT DROP"""
        )
        await conn.copy_records_to_table(
            "demo_callers",
            records=[
                (n, c.hmac, c.enc, c.masked, c.kind, c.prefecture_code, c.province)
                for n, c in enumerate(callers, start=1)
            ],
        )
        queues = list(plan.queues)
        areas = list(plan.legal_areas)
        await conn.execute(
            _PLAN,
            plan.calls,
            plan.since,
            plan.days,
            _bounds([Weighted(w, str(h)) for h, w in enumerate(plan.hours)]),
            len(callers),
            plan.ivr_only_share,
            [int(q.value) for q in queues],
            _bounds(queues),
            [q.extra for q in queues],
            plan.abandon_share,
            plan.mean_wait_s,
            *plan.talk_s,
            *plan.wrap_up_s,
            list(plan.agents),
            plan.survey_share,
            [a.value for a in areas],
            _bounds(areas),
            plan.referral_share,
        )
        await conn.execute(
            "CREATE TEMP TABLE demo_questions (question text, q int) ON COMMIT DROP;"
            "CREATE TEMP TABLE demo_answers (question text, key smallint, label text, lo float8, hi float8)"
            " ON COMMIT DROP"
        )
        await conn.copy_records_to_table(
            "demo_questions", records=[(name, q) for q, name in enumerate(plan.answers, start=1)]
        )
        rows = []
        for name, choices in plan.answers.items():
            lows = _bounds(choices)
            for k, choice in enumerate(choices):
                rows.append((name, choice.key, choice.value, lows[k], lows[k + 1] if k + 1 < len(lows) else 1.01))
        await conn.copy_records_to_table("demo_answers", records=rows)
        await conn.execute(_CALLS, HISTORY_CELL, list(plan.agents))
        await conn.execute(_SURVEY)
        await conn.execute(
            "INSERT INTO surveys (call_id, question, answer, answered_at)"
            " SELECT call_id, question, key, answered_at FROM demo_survey"
        )
        await conn.execute(_EVENTS, HISTORY_CELL, list(plan.agents))
        await conn.execute(_TICKETS, plan.ticket_prefix, plan.tz, list(plan.agents), plan.referral)
        made = {
            "calls": await conn.fetchval("SELECT count(*) FROM demo_plan"),
            "call_events": await conn.fetchval(
                "SELECT count(*) FROM call_events e JOIN demo_plan p ON p.id = e.call_id"
            ),
            "surveys": await conn.fetchval("SELECT count(*) FROM demo_survey"),
            "tickets": await conn.fetchval("SELECT count(*) FROM demo_plan WHERE outcome = 'answered'"),
        }
    # Fresh statistics: the report's plans over a bulk-loaded month are otherwise those of an empty table.
    await conn.execute("ANALYZE calls, call_events, surveys, tickets, ticket_status_log")
    return made


async def calls_between(conn: Any, since: dt.datetime, until: dt.datetime) -> int:
    """Demo calls (cell ``demo``) already written in [since, until)."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM calls WHERE cell = $1 AND started_at >= $2 AND started_at < $3",
            HISTORY_CELL,
            since,
            until,
        )
    )


async def agent(conn: Any, username: str, display_name: str) -> int:
    """A demo agent's id (role lawyer, a random password nobody knows), created when missing."""
    import secrets

    from db import agents

    found = await conn.fetchval("SELECT id FROM agents WHERE username = $1", username)
    if found is not None:
        return int(found)
    return (await agents.create(conn, username, display_name, "lawyer", secrets.token_urlsafe(12))).id
