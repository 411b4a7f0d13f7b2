"""The KPIs' numerators and denominators summed by PostgreSQL, per prefecture and for the whole hotline, for a month
and the year to date (the monthly report, hotline/report/service.py): one statement, no row per call comes back.

A call belongs to the period its call started in, and to its prefecture by db.kpi.PREFECTURE_SQL, as for the row
readers of db/kpi.py; what each sum counts is the formula of hotline.kpi.compute over those rows (the names are
hotline.kpi.totals.SUMS), with every KpiParams value passed as a parameter. Sums per call are added up by
prefecture, part of the period (the month, or before it) and the set of matters a call counts for (at most a few
hundred rows); 受援率 counts callers (a caller's calls together; each call of a withheld number alone), so its sums
are counted by PostgreSQL per prefecture and for the whole hotline, for the month and for the year to date.

Every CTE is inlined (NOT MATERIALIZED: a materialized one keeps the whole statement from parallel workers), and the
statement runs with a larger work_mem (its sorts and hashes stay in memory), no JIT (compiling the statement took
two seconds of a hundred thousand calls' three) and no merge joins (the planner's row guesses for the aggregated
per-call parts are far off, and a merge join walks the calls' primary key in random order).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from db.kpi import PREFECTURE_SQL
from hotline.kpi import DEFAULTS, VISIT_EXIT_EVENTS, KpiParams, check_period
from hotline.kpi.totals import add

# $1 1 January, $2 the month's start, $3 its end; $4 simulated (None: both); $5 the queue exit events; $6 the
# service level's threshold (None: each queue's own); $7 short_abandon_s, $8 exclude_short_abandons; $9/$10 the
# satisfaction question and labels, $11/$12 first choice, $13/$14 awareness; $15 the poor registry kinds, $16 poor
# flags; $17 aid services, $18 aid flags, $19 the aid referral; $20 the response statuses; $21 the matters'
# services (bit i of a call's `matters` is service i + 1).
_TOTALS = f"""
WITH inbound AS NOT MATERIALIZED (
    SELECT c.id, c.started_at >= $2 AS in_month, c.ended_at IS NOT NULL AS ended, c.caller_hmac,
           CASE WHEN c.caller_hmac IS NULL OR c.caller_hmac = ''::bytea THEN c.id END AS lone,
           {PREFECTURE_SQL} AS prefecture
    FROM calls c
    WHERE c.started_at >= $1 AND c.started_at < $3 AND c.direction = 'inbound'
      AND ($4::bool IS NULL OR c.simulated = $4)
), marks AS NOT MATERIALIZED (
    -- the queue entries and exits of the period's inbound calls in order: a visit's end is the entry's next mark
    -- when that is an exit
    SELECT e.call_id, e.id, e.event, e.at, e.queue_id,
           lag(e.event) OVER w AS prev_event, lag(e.at) OVER w AS prev_at,
           lead(e.event) OVER w AS next_event, lead(e.at) OVER w AS next_at, lead(e.id) OVER w AS next_id
    FROM call_events e JOIN inbound c ON c.id = e.call_id
    WHERE e.event = 'ENTERQUEUE' OR e.event = ANY($5::text[])
    WINDOW w AS (PARTITION BY e.call_id ORDER BY e.id)
), steps AS NOT MATERIALIZED (
    SELECT m.call_id, m.event, v.visit, v.end_event, v.wait_s, v.queue_sl,
           CASE WHEN v.end_event = 'EXITWITHKEY' THEN (
               -- the callback asked for after the exit, before the call's next queue entry
               SELECT b.status FROM call_events k JOIN callbacks b ON b.id = (k.data->>'callback')::bigint
               WHERE k.call_id = m.call_id AND k.event = 'CALLBACK' AND k.id > m.next_id
                 AND NOT EXISTS (SELECT 1 FROM call_events n WHERE n.call_id = m.call_id
                                 AND n.event = 'ENTERQUEUE' AND n.id > m.next_id AND n.id < k.id)
               ORDER BY k.id DESC LIMIT 1) END AS callback,
           CASE WHEN m.event <> 'ABANDON' OR m.prev_event IS NULL THEN NULL
                WHEN m.prev_event = 'ENTERQUEUE' THEN extract(epoch FROM m.at - m.prev_at)::float8
                ELSE (SELECT extract(epoch FROM m.at - n.at)::float8 FROM call_events n
                      WHERE n.call_id = m.call_id AND n.event = 'ENTERQUEUE' AND n.id < m.id
                      ORDER BY n.id DESC LIMIT 1) END AS abandon_wait
    FROM marks m
    CROSS JOIN LATERAL (
        -- a visit is an entry into a queue (queue_id references queues); its queue's own threshold is read only
        -- when the parameters leave it to each queue
        SELECT m.event = 'ENTERQUEUE' AND m.queue_id IS NOT NULL AS visit,
               CASE WHEN $6::float8 IS NULL AND m.event = 'ENTERQUEUE' THEN
                   (SELECT q.service_level_seconds::float8 FROM queues q WHERE q.id = m.queue_id) END AS queue_sl,
               CASE WHEN m.next_event <> 'ENTERQUEUE' THEN m.next_event END AS end_event,
               CASE WHEN m.next_event <> 'ENTERQUEUE' THEN extract(epoch FROM m.next_at - m.at)::float8 END AS wait_s
    ) v
), per_call AS NOT MATERIALIZED (
    SELECT s.call_id,
           count(*) FILTER (WHERE s.event = 'ENTERQUEUE') AS visits,
           bool_or(s.event = 'CONNECT') AS connected,
           count(s.abandon_wait) AS abandon_waits,
           coalesce(bool_and(s.abandon_wait < $7::float8), true) AS abandons_short,
           count(*) FILTER (WHERE s.visit AND s.end_event IS NULL) AS unended,
           count(*) FILTER (WHERE s.visit AND s.end_event IS NOT NULL
                            AND NOT ($8::bool AND s.end_event = 'ABANDON' AND s.wait_s < $7::float8)) AS offered_ended,
           count(*) FILTER (WHERE s.visit AND (s.end_event = 'CONNECT'
                                               OR s.end_event = 'EXITWITHKEY' AND s.callback = 'connected'))
               AS answered,
           count(*) FILTER (WHERE s.visit AND s.end_event = 'CONNECT'
                            AND s.wait_s <= coalesce($6::float8, s.queue_sl)) AS answered_within,
           count(*) FILTER (WHERE s.visit AND s.end_event = 'ABANDON'
                            AND NOT ($8::bool AND s.wait_s < $7::float8)) AS abandoned,
           count(*) FILTER (WHERE s.visit AND s.end_event = 'CONNECT') AS answered_live,
           coalesce(sum(s.wait_s) FILTER (WHERE s.visit AND s.end_event = 'CONNECT'), 0) AS wait_s
    FROM steps s GROUP BY s.call_id
), labels AS NOT MATERIALIZED (
    -- whether a call left a message; an answer's label is the one its call's latest SURVEY event for the question
    -- carries (the label beside the greatest id: ids as fixed-width text sort as numbers)
    SELECT e.call_id, bool_or(e.event = 'VOICEMAIL') AS voicemail,
           (max(ARRAY[lpad(e.id::text, 20, '0'), e.data->>'label'])
                FILTER (WHERE e.event = 'SURVEY' AND e.data->>'question' = $9))[2] AS satisfaction,
           (max(ARRAY[lpad(e.id::text, 20, '0'), e.data->>'label'])
                FILTER (WHERE e.event = 'SURVEY' AND e.data->>'question' = $11))[2] AS first_choice,
           (max(ARRAY[lpad(e.id::text, 20, '0'), e.data->>'label'])
                FILTER (WHERE e.event = 'SURVEY' AND e.data->>'question' = $13))[2] AS channel
    FROM call_events e JOIN inbound c ON c.id = e.call_id
    WHERE e.event IN ('SURVEY', 'VOICEMAIL')
    GROUP BY e.call_id
), answered AS NOT MATERIALIZED (
    -- the survey questions a call answered (an answer of NULL: asked, not answered)
    SELECT s.call_id, bool_or(s.question = $9) AS satisfaction, bool_or(s.question = $11) AS first_choice,
           bool_or(s.question = $13) AS channel
    FROM surveys s JOIN inbound c ON c.id = s.call_id
    WHERE s.answer IS NOT NULL
    GROUP BY s.call_id
), family AS NOT MATERIALIZED (
    -- whose work orders and tags are a call's: its own, and those of its callback calls
    SELECT f.id AS member, CASE WHEN f.direction = 'callback' THEN f.parent_call_id ELSE f.id END AS root
    FROM calls f
), handled AS NOT MATERIALIZED (
    SELECT DISTINCT l.ticket_id FROM ticket_status_log l WHERE l.to_status = ANY($20::text[])
), work AS NOT MATERIALIZED (
    SELECT f.root, bool_or(k.flags && $16::text[]) AS poor_flag, bool_or(k.referral IS NOT NULL) AS referred,
           bool_or(h.ticket_id IS NOT NULL) AS handled,
           bit_or(coalesce(1 << (array_position($21::text[], k.service) - 1), 0)
                  | coalesce(1 << (array_position($21::text[], k.referral) - 1), 0)) AS matters
    FROM family f JOIN tickets k ON k.call_id = f.member
    LEFT JOIN handled h ON h.ticket_id = k.id
    GROUP BY f.root
), tagged AS NOT MATERIALIZED (
    SELECT f.root, bool_or(t.kind = 'flag' AND t.value = ANY($16::text[])) AS poor_flag,
           bit_or(CASE WHEN t.kind = 'service' THEN coalesce(1 << (array_position($21::text[], t.value) - 1), 0)
                  ELSE 0 END) AS matters
    FROM family f JOIN tags t ON t.call_id = f.member
    WHERE t.kind IN ('flag', 'service')
    GROUP BY f.root
), last_callback AS NOT MATERIALIZED (
    SELECT DISTINCT ON (b.call_id) b.call_id, b.status FROM callbacks b ORDER BY b.call_id, b.id DESC
), poor_numbers AS NOT MATERIALIZED (
    SELECT DISTINCT r.number_hmac FROM vulnerable_registry r WHERE r.kind = ANY($15::text[])
), cases AS NOT MATERIALIZED (
    SELECT c.prefecture, c.in_month,
           coalesce(w.matters, 0) | coalesce(t.matters, 0) AS matters,
           coalesce(p.connected, false) AS connected, b.status AS callback,
           coalesce(p.offered_ended, 0) + CASE WHEN c.ended THEN coalesce(p.unended, 0) ELSE 0 END AS offered,
           coalesce(p.answered, 0) AS answered, coalesce(p.answered_within, 0) AS answered_within,
           coalesce(p.abandoned, 0) AS abandoned, coalesce(p.answered_live, 0) AS answered_live,
           coalesce(p.wait_s, 0) AS wait_s, CASE WHEN a.satisfaction THEN l.satisfaction END AS satisfaction,
           CASE WHEN a.first_choice THEN l.first_choice END AS first_choice,
           CASE WHEN a.channel THEN l.channel END AS channel,
           (coalesce(p.visits, 0) > 0 OR coalesce(l.voicemail, false) OR b.status IS NOT NULL)
               AND NOT ($8::bool AND NOT coalesce(p.connected, false) AND NOT coalesce(l.voicemail, false)
                        AND b.status IS NULL AND coalesce(p.abandon_waits, 0) = coalesce(p.visits, 0)
                        AND coalesce(p.abandons_short, true)) AS need,
           coalesce(p.connected, false) OR b.status = 'connected' OR coalesce(w.handled, false) AS responded,
           g.number_hmac IS NOT NULL OR coalesce(w.poor_flag, false) OR coalesce(t.poor_flag, false) AS poor,
           coalesce(w.referred, false) AS referred
    FROM inbound c
    LEFT JOIN per_call p ON p.call_id = c.id
    LEFT JOIN answered a ON a.call_id = c.id
    LEFT JOIN labels l ON l.call_id = c.id
    LEFT JOIN work w ON w.root = c.id
    LEFT JOIN tagged t ON t.root = c.id
    LEFT JOIN last_callback b ON b.call_id = c.id
    LEFT JOIN poor_numbers g ON g.number_hmac = c.caller_hmac
), aid_work AS NOT MATERIALIZED (
    -- 受援率's work orders and tags: those that make a call's caller poor, or the call a need for legal aid
    SELECT f.root, bool_or(x.poor) AS poor, bool_or(x.needs_aid) AS needs_aid, bool_or(x.aid_referred) AS aid_referred
    FROM (
        SELECT k.call_id, k.flags && $16::text[] AS poor,
               k.service = ANY($17::text[]) OR k.flags && $18::text[] OR k.legal_aid_hint OR k.referral = $19
                   AS needs_aid,
               k.referral = $19 AS aid_referred
        FROM tickets k
        UNION ALL
        SELECT t.call_id, t.kind = 'flag' AND t.value = ANY($16::text[]),
               t.kind = 'service' AND t.value = ANY($17::text[]) OR t.kind = 'flag' AND t.value = ANY($18::text[]),
               false
        FROM tags t WHERE t.kind IN ('flag', 'service')
    ) x JOIN family f ON f.member = x.call_id
    WHERE x.poor OR x.needs_aid
    GROUP BY f.root
), aid_callers AS NOT MATERIALIZED (
    -- a caller's poor or legal-aid calls of the prefecture, and of the whole hotline, taken together (a withheld
    -- number's calls each alone)
    SELECT x.prefecture, GROUPING(x.prefecture) = 1 AS whole,
           bool_or(x.poor) AND bool_or(x.needs_aid) AS eligible, bool_or(x.aid_referred) AS referred,
           bool_or(x.poor) FILTER (WHERE x.in_month) AND bool_or(x.needs_aid) FILTER (WHERE x.in_month)
               AS month_eligible,
           bool_or(x.aid_referred) FILTER (WHERE x.in_month) AS month_referred
    FROM (
        SELECT c.prefecture, c.in_month, c.caller_hmac, c.lone,
               g.number_hmac IS NOT NULL OR coalesce(w.poor, false) AS poor,
               coalesce(w.needs_aid, false) AS needs_aid, coalesce(w.aid_referred, false) AS aid_referred
        FROM inbound c
        LEFT JOIN aid_work w ON w.root = c.id
        LEFT JOIN poor_numbers g ON g.number_hmac = c.caller_hmac
        WHERE g.number_hmac IS NOT NULL OR w.root IS NOT NULL
    ) x
    GROUP BY GROUPING SETS ((x.prefecture, x.caller_hmac, x.lone), (x.caller_hmac, x.lone))
)
SELECT false AS callers, x.prefecture, x.in_month, x.matters, count(*) AS inbound,
       sum(x.offered) AS offered, sum(x.answered) AS answered, sum(x.answered_within) AS answered_within,
       sum(x.abandoned) AS abandoned, sum(x.answered_live) AS answered_live, sum(x.wait_s) AS wait_s,
       count(x.satisfaction) AS rated, count(*) FILTER (WHERE x.satisfaction = ANY($10::text[])) AS satisfied,
       count(*) FILTER (WHERE x.connected) AS eligible,
       count(*) FILTER (WHERE x.connected AND x.satisfaction IS NOT NULL) AS eligible_rated,
       count(x.first_choice) AS first_choice_answered,
       count(*) FILTER (WHERE x.first_choice = ANY($12::text[])) AS first_choice_yes,
       count(x.channel) AS channel_answered, count(*) FILTER (WHERE x.channel = ANY($14::text[])) AS aware,
       count(*) FILTER (WHERE x.need) AS needs, count(*) FILTER (WHERE x.need AND x.responded) AS responded,
       count(*) FILTER (WHERE x.need AND x.poor) AS poor_needs,
       count(*) FILTER (WHERE x.need AND x.poor AND x.responded) AS poor_responded,
       count(*) FILTER (WHERE x.connected OR x.callback = 'connected') AS consultations,
       count(*) FILTER (WHERE x.referred) AS referred,
       NULL::bigint AS aid_callers, NULL::bigint AS aid_referred,
       NULL::bigint AS month_aid_callers, NULL::bigint AS month_aid_referred
FROM cases x GROUP BY x.prefecture, x.in_month, x.matters
UNION ALL
SELECT true, CASE WHEN y.whole THEN NULL ELSE y.prefecture END, {", ".join(["NULL"] * 23)},
       count(*) FILTER (WHERE y.eligible), count(*) FILTER (WHERE y.eligible AND y.referred),
       count(*) FILTER (WHERE y.month_eligible), count(*) FILTER (WHERE y.month_eligible AND y.month_referred)
FROM aid_callers y GROUP BY y.whole, y.prefecture
"""

# the per-call sums of the first branch, in hotline.kpi.totals.SUMS
_CALL_SUMS = (
    "inbound",
    "offered",
    "answered",
    "answered_within",
    "abandoned",
    "answered_live",
    "wait_s",
    "rated",
    "satisfied",
    "eligible",
    "eligible_rated",
    "first_choice_answered",
    "first_choice_yes",
    "channel_answered",
    "aware",
    "needs",
    "responded",
    "poor_needs",
    "poor_responded",
)
# the counts of the report (hotline.report.table.COUNTS) that are not per matter
_COUNTS = ("consultations", "referred")
# the statement's settings (see the module's docstring); work_mem: a year of a million calls a month sorts in memory
_SETTINGS = "SET LOCAL work_mem = '256MB'; SET LOCAL jit = off; SET LOCAL enable_mergejoin = off"


@dataclass(frozen=True)
class PartTotals:
    """The sums (hotline.kpi.totals.SUMS, and the counts) of one part of the period: per prefecture key, and for
    the whole hotline."""

    by_prefecture: dict[str, dict[str, float]]
    hotline: dict[str, float]


@dataclass(frozen=True)
class Totals:
    month: PartTotals  # [since, until)
    year: PartTotals  # [year_start, until): the year to date


def _params(params: KpiParams, matters: Mapping[str, str]) -> tuple[Any, ...]:
    return (
        list(VISIT_EXIT_EVENTS),
        params.service_level_s,
        params.short_abandon_s,
        params.exclude_short_abandons,
        params.satisfaction_question,
        sorted(params.satisfied_labels),
        params.first_choice_question,
        sorted(params.first_choice_labels),
        params.awareness_question,
        sorted(params.awareness_labels),
        sorted(params.poor_registry_kinds),
        sorted(params.poor_flags),
        sorted(params.aid_services),
        sorted(params.aid_flags),
        params.aid_referral,
        sorted(params.response_statuses),
        list(matters.values()),
    )


async def read(
    conn: Any,
    year_start: dt.datetime,
    since: dt.datetime,
    until: dt.datetime,
    params: KpiParams = DEFAULTS,
    *,
    matters: Mapping[str, str] | None = None,
    simulated: bool | None = False,
) -> Totals:
    """The sums of the calls started in [since, until) (the month) and in [year_start, until) (the year to date),
    per prefecture and for the whole hotline. `matters` (count id -> service) adds a count per id of the calls that
    asked for the service or were referred there, and `matters`: the calls counted by any of them; `consultations`
    and `referred` are counted too (hotline.report.table.COUNTS). `simulated` as db.kpi.Filters."""
    check_period(year_start, until)
    check_period(since, until)
    if since < year_start:
        raise ValueError(f"the month must start in the year to date: {since.isoformat()} < {year_start.isoformat()}")
    services = dict(matters or {})
    if len(services) > 30:
        raise ValueError("at most 30 matters (a call's matters are bits of an int)")
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute(_SETTINGS)
        rows = await conn.fetch(_TOTALS, year_start, since, until, simulated, *_params(params, services))
    return _totals(rows, list(services))


def _totals(rows: Any, measures: list[str]) -> Totals:
    parts: dict[bool, dict[str, list[dict[str, float]]]] = {True: {}, False: {}}
    callers: dict[str | None, Any] = {}
    for r in rows:
        if r["callers"]:
            callers[r["prefecture"]] = r
            continue
        sums = {name: float(r[name]) for name in (*_CALL_SUMS, *_COUNTS)}
        sums["matters"] = float(r["inbound"]) if r["matters"] else 0.0
        for i, measure in enumerate(measures):
            sums[measure] = float(r["inbound"]) if r["matters"] >> i & 1 else 0.0
        parts[r["in_month"]].setdefault(r["prefecture"], []).append(sums)

    def part(month: bool) -> PartTotals:
        by_key: dict[str, list[dict[str, float]]] = {}
        for in_month in (True,) if month else (True, False):
            for key, sums in parts[in_month].items():
                by_key.setdefault(key, []).extend(sums)
        column = ("month_aid_callers", "month_aid_referred") if month else ("aid_callers", "aid_referred")

        def with_callers(sums: dict[str, float], key: str | None) -> dict[str, float]:
            found = callers.get(key)
            sums["aid_callers"] = float(found[column[0]]) if found is not None else 0.0
            sums["aid_referred"] = float(found[column[1]]) if found is not None else 0.0
            return sums

        by_prefecture = {key: with_callers(add(sums), key) for key, sums in by_key.items()}
        whole = with_callers(add(s for sums in by_key.values() for s in sums), None)
        return PartTotals(by_prefecture, whole)

    return Totals(part(True), part(False))
