"""Metrics benchmark: what the node's metrics cost at full load, and how long a /metrics scrape takes then.

    .venv/bin/python bench/metrics.py [--quick] [--seconds 40] [--kpi-timeout 40] [--concurrent 75]

Targets (issue 14): the metrics add at most 3 % CPU at full load; a scrape of /metrics at full load takes at most
100 ms. The default run takes about 2 minutes and ``--quick`` about 40 s (15 s windows, 2 h today, 1 earlier day).
Everything is bounded in time. The database is dropped and the metric files removed in a ``finally``, also on
Ctrl-C.

Full load, as an event rate. bench/capacity.py measured 75 concurrent bridged calls on this 2-core machine kind
(``bridged_max_concurrent=75``; 200 IVR-only calls). With --talk-seconds of talk on average (180 s), 75
conversations at once make 75 / 180 = 0.42 answered calls a second. Answered calls are 74 % of the mix below, so
0.56 calls a second arrive (Poisson). Each call writes what the engine writes for it, with the db functions the
cells use (``db.calls.start``, ``answered``, ``add_event``, ``save_survey_answer``, ``add_recording``, ``end``;
``db.queues.join`` / ``hand_to`` / ``connected`` / ``leave``; ``db.agents.move``; ``db.tags.add_from_flow``;
``db.tickets.create``; ``db.callbacks.request``), at real-time offsets:

- answered (74 %): INCOMING, then ANSWER after 0.5 s. After 20-45 s of IVR come the flow's tags and ENTERQUEUE.
  CONNECT follows a wait (exponential, mean 20 s; a free agent of the queue is taken). COMPLETECALLER or
  COMPLETEAGENT ends the talk (exponential above 20 s, mean --talk-seconds, at most 1,800 s). Then up to three
  SURVEY answers 6 s apart, RECORDING, HANGUP;
- abandoned (10 %, after 2-90 s in line), IVR only (10 %), timeout to voicemail (3 %: EXITWITHTIMEOUT at the
  queue's max_wait, VOICEMAIL, a work order and its IVR event), callback (3 %: EXITWITHKEY, CALLBACK).

Queues follow the shipped flow's menu (legal_consult takes half the calls) and tags follow its set nodes. Callers
come from the 16 prefectures (landlines by area code, Kunming a third), 5 % from outside Yunnan, 3 % withheld.
The calls already in progress when the window opens are there too: the arrivals of the last 40 minutes are
replayed. Their past steps are written at once and moved back to their time (as tests/support/kpi_day.py's
``Line.when`` does), so the window starts in the steady state with about 75 conversations going on. The load runs
in a child process (``--role writer``), apart from the metrics.

Before the window the database is filled in bulk with COPY (same columns and event shapes), with what a node
holds after running at full load for a while:

- today's calls so far (--today-hours of full load: 16,000 calls by default, late in a busy day), with their
  events, tags, survey answers, queue entries, recordings and work orders;
- --history-days earlier days of calls, queue entries, recordings (transcribed), work orders and callbacks. These
  have no events, because only today's events are read.

150 agents are members of the eight default queues. The state gauges' queries read whole tables (queue_entries,
recordings, tickets), so the history matters.

What is measured:

- window A (--seconds): the supervisor's ``hotline.telemetry.state.Telemetry``, as ``hotline up`` runs it
  (``refresh_s`` 5; the labels of the shipped flow and of the queues table; 40 cells and the front as sources).
  The one exception is today's KPIs, which are held back for B (``_kpi_due`` pushed past the window). CPU is this
  process's ``time.process_time`` over A minus the scrape thread's own CPU; the orchestration in between is
  counted as metrics (it is small). PostgreSQL's side is the utime + stime of the telemetry pool's one backend
  (``/proc/PID/stat``, 10 ms ticks). Each part of a refresh is also timed on its own;
- B: one refresh of today's KPIs (``Telemetry._kpi``, through ``_part`` as ``refresh`` calls it), bounded by
  --kpi-timeout, with the load and the scrapes going on. It is due every 60 s (``kpi_refresh_s``), and a refresh
  longer than that runs back to back, because the loop waits for it. Its share of a core is therefore
  (CPU + PostgreSQL) / max(60 s, its duration). When it does not finish in time, that share, and the total
  built from it, is a lower bound (printed as ``≥``, ``>=`` in the RESULT line);
- scrapes: ``hotline.metrics.node_exposition(dir)()`` is what the /metrics handler runs, and it runs here in a
  thread, as the handler runs it. There are --scrapes scrapes spread over A and as many over B. We record the
  wall time p50 / p99 (the target; for A, B and both together) and the thread's CPU time per scrape, charged at
  Prometheus' scrape interval (15 s, monitoring/prometheus/prometheus.yml). The directory holds the files of the
  processes of a full node: --cells cells, the transcriber (live streams, analysis results) and two decoder
  workers. The cells are forked children of ``--role node`` with PROMETHEUS_MULTIPROC_DIR set; each has run
  --cell-calls calls' worth of ``count_exits`` over random walks of the shipped flow, set its legs gauges and
  counted a pool connection. The supervisor's own registry is the real one, filled by Telemetry (16 prefectures
  + outside_yunnan + unknown, 9 queue label values, 7 outcomes ...). The page's size and series count are
  printed;
- the cells' side, timed in each forked cell in multiprocess mode (mmap files): ``count_exits`` per call (as
  flowapp calls it, once per flow step), and one legs tick. The tick is ``LEGS.labels(cell).set(n)`` plus the 1 s
  ``wait_for`` of ``watch_legs``, timed in a replica with a 1 ms timeout. It is charged at the call rate and at 1
  tick per cell per second;
- the transcriber's side: the two counter updates of one decoder ``accept`` (a replica of
  ``_Recognizer.accept``'s two ``safe`` calls), times an upper bound of accepts per second. The bound is both
  decoder workers busy on 20 ms frames at bench/transcribe.py's real-time factor of 0.127 (2 / 0.127 × 50 = 787
  per second);
- the total, as % of one core and as a ratio of the CPU the load costs without metrics. That denominator is an
  anchor, not measured here: the cells' CPU per bridged call from bench/capacity.py (1.14 % of a core, so 75
  calls = 85.5 % of a core). It leaves out PostgreSQL's and Kamailio's share of the load, so the ratio is on the
  high side. The total without today's KPIs is printed as well;
- to load the cores as the cells would, a child burns --burn of a core in 100 ms slots (default 0.855, the
  anchor) while A and B run, so scrape and refresh times are taken with the cores shared, as at full load. The
  CPU-time figures do not depend on it. The machine's busy share and its load average are printed, because a
  clean-clone CI may share the 2 cores.

Left out: the HTTP framing of a scrape (aiohttp, for a ~300 KiB page); the Kamailio RPC of the front-targets
gauge (a stub answers here); the dispatcher's offers counter (one in-process increment per offer, well under a
microsecond per call); files of cells that died and were restarted (each restart adds the dead cell's counter
file to what a scrape reads; raise --cells to see the effect); and the status log of the bulk-loaded work orders
(``ticket_status_log`` rows exist only for those the load writes), so the KPI query has less to read here than
on a real database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import json
import logging
import math
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if "BENCH_ADMIN_URL" not in os.environ and "HOTLINE_TEST_ADMIN_URL" in os.environ:
    os.environ["BENCH_ADMIN_URL"] = os.environ["HOTLINE_TEST_ADMIN_URL"]

from bench.common import TICK, busy_ticks, cpu_ticks, create_database, drop_database, machine, result  # noqa: E402

TARGET_CPU_PCT = 3.0
TARGET_SCRAPE_MS = 100.0
ANCHOR_BRIDGED = 75  # bench/capacity.py: bridged_max_concurrent on this machine kind
ANCHOR_CPU_PER_CALL_PCT = 1.14  # bench/capacity.py: cpu_per_call_pct (bridged), % of a core per call
ANCHOR_RTF = 0.127  # bench/transcribe.py: real-time factor per stream, 20 ms frames
DECODER_WORKERS = 2  # one per core
FRAMES_PER_S = 50  # 20 ms frames
SCRAPE_INTERVAL_S = 15.0  # monitoring/prometheus/prometheus.yml
REFRESH_S = 5.0  # metrics.refresh_s default
KPI_REFRESH_S = 60.0  # metrics.kpi_refresh_s default
TIMEZONE = "Asia/Shanghai"
FLOW_FILE = ROOT / "ivr_flows" / "yunnan_12348.yaml"
AGENTS = 150
MASTER_KEY = b"bench-metrics-not-a-real-key-000"  # 32 bytes: digests of made-up numbers only

KINDS = (("answered", 0.74), ("abandoned", 0.10), ("ivr_only", 0.10), ("voicemail", 0.03), ("callback", 0.03))
QUEUE_SHARE = (
    ("legal_consult", 0.50),
    ("legal_aid", 0.12),
    ("operator", 0.12),
    ("mediation", 0.10),
    ("guidance", 0.06),
    ("complaints", 0.04),
    ("minority_language", 0.03),
    ("duty_lawyer", 0.03),
)
ANSWERED_SHARE = dict(KINDS)["answered"]
SURVEY_GAP_S = 6.0
WRAPUP_S = (30.0, 60.0)

log = logging.getLogger("bench.metrics")


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


def weighted(rng: random.Random, pairs: Sequence[tuple[str, float]]) -> str:
    return rng.choices([k for k, _ in pairs], [w for _, w in pairs])[0]


# ------------------------------------------------------------------------------------------------ the flow


@dataclass(frozen=True)
class FlowFacts:
    """What the calls take from the shipped flow: survey questions and answers, tags by queue, max waits."""

    questions: list[tuple[str, dict[str, str]]]  # (name, key -> label)
    tags: dict[str, list[list[tuple[str, str]]]]  # queue -> the tag sets of the set nodes that lead there
    max_wait: dict[str, float]  # queue -> the enqueue node's max_wait


def load_flow() -> Any:
    from hotline.flow import FlowRegistry

    registry = FlowRegistry(prompt_dir=ROOT / "ivr_flows" / "prompts", schedule_dir=ROOT / "ivr_flows" / "schedules")
    registry.load([FLOW_FILE])
    return next(iter(registry.snapshot().values()))


def flow_facts(flow: Any) -> FlowFacts:
    from hotline.flow.model import EnqueueNode, SetNode, SurveyNode, edges

    nodes = flow.file.nodes
    questions: list[tuple[str, dict[str, str]]] = []
    max_wait: dict[str, float] = {}
    for node in nodes.values():
        if isinstance(node, SurveyNode) and not questions:
            questions = [(q.name, dict(q.answers)) for q in node.questions]
        if isinstance(node, EnqueueNode):
            max_wait.setdefault(node.queue, float(node.max_wait or 300))
    tags: dict[str, list[list[tuple[str, str]]]] = {}
    for node in nodes.values():
        if not isinstance(node, SetNode):
            continue
        rows = [(k, str(v)) for k, v in node.attributes.items() if k in ("legal_area", "service") and v]
        rows += [("flag", f) for f in node.flags]
        if not rows:
            continue
        # the first queue reachable from this node (breadth first, a few hops)
        frontier, seen, queue = [node], set(), None
        for _ in range(5):
            nxt = []
            for n in frontier:
                if isinstance(n, EnqueueNode):
                    queue = n.queue
                    break
                for _path, target in edges(n):
                    if target not in seen and target in nodes:
                        seen.add(target)
                        nxt.append(nodes[target])
            if queue is not None:
                break
            frontier = nxt
        if queue is not None:
            tags.setdefault(queue, []).append(rows)
    return FlowFacts(questions, tags, max_wait)


# ------------------------------------------------------------------------------------------------ the calls


@dataclass(frozen=True)
class Caller:
    number: str
    parsed: Any  # hotline.caller.phone.CallerNumber
    digest: bytes | None
    cipher: bytes | None


def callers(rng: random.Random, n: int = 400) -> list[Caller]:
    """Made-up numbers: landlines of the 16 prefectures (Kunming a third, some Kunming mobiles), mobiles from
    outside Yunnan, withheld."""
    from hotline.caller.phone import parse_caller
    from hotline.caller.prefectures import PREFECTURES
    from hotline.caller.privacy import NumberKeys

    keys = NumberKeys.from_master(MASTER_KEY)
    out: list[Caller] = []
    others = [p for p in PREFECTURES if p.code != "530100"]
    kunming = next(p for p in PREFECTURES if p.code == "530100")
    for _ in range(n):
        r = rng.random()
        if r < 0.03:
            number = "anonymous"
        elif r < 0.08:
            number = f"138010{rng.randint(10000, 99999)}"
        elif r < 0.25:
            number = f"1390871{rng.randint(1000, 9999)}"
        elif r < 0.38:
            number = f"{kunming.area_code}-6{rng.randint(1000000, 9999999)}"
        else:
            number = f"{rng.choice(others).area_code}-{rng.randint(2000000, 8999999)}"
        parsed = parse_caller(number)
        e164 = parsed.e164
        out.append(Caller(number, parsed, keys.digest(e164) if e164 else None, keys.encrypt(e164) if e164 else None))
    return out


@dataclass
class Plan:
    """One call: its kind and timing (seconds from the INVITE)."""

    kind: str
    caller: Caller
    queue: str | None
    ivr_s: float
    wait_s: float = 0.0
    talk_s: float = 0.0
    by_caller: bool = True
    survey: list[tuple[str, int | None, str | None]] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)
    cell: str = "cell1"

    def steps(self) -> list[tuple[float, str]]:
        """(offset, step) in time order."""
        out = [(0.0, "start"), (0.5, "answer")]
        if self.kind == "ivr_only":
            return [*out, (self.ivr_s, "end")]
        if self.tags:
            out.append((self.ivr_s - 1.0, "tags"))
        out.append((self.ivr_s, "enqueue"))
        left = self.ivr_s + self.wait_s
        if self.kind == "answered":
            out += [(left, "connect"), (left + self.talk_s, "complete")]
            t = left + self.talk_s
            for i in range(len(self.survey)):
                t += SURVEY_GAP_S
                out.append((t, f"survey{i}"))
            return [*out, (t + 4.0, "end")]
        if self.kind == "abandoned":
            return [*out, (left, "abandon"), (left, "end")]
        if self.kind == "voicemail":
            return [*out, (left, "timeout"), (left + 2.0, "voicemail"), (left + 62.0, "ticket"), (left + 63.0, "end")]
        return [*out, (left, "exitkey"), (left + 8.0, "callback"), (left + 10.0, "end")]  # callback

    @property
    def length(self) -> float:
        return self.steps()[-1][0]

    @property
    def outcome(self) -> str:
        return {"answered": "answered", "abandoned": "abandoned", "ivr_only": "ivr_only"}.get(self.kind, self.kind)


def plan_call(rng: random.Random, facts: FlowFacts, people: list[Caller], talk_mean: float, cells: int) -> Plan:
    kind = weighted(rng, KINDS)
    caller = rng.choice(people)
    if kind == "callback" and caller.digest is None:  # a withheld number cannot be called back
        kind = "abandoned"
    cell = f"cell{rng.randint(1, cells)}"
    ivr_s = rng.uniform(20.0, 45.0)
    if kind == "ivr_only":
        return Plan(kind, caller, None, rng.uniform(15.0, 60.0), cell=cell)
    queue = weighted(rng, QUEUE_SHARE)
    choices = facts.tags.get(queue)
    tags = list(rng.choice(choices)) if choices else []
    plan = Plan(kind, caller, queue, ivr_s, tags=tags, cell=cell)
    if kind == "answered":
        plan.wait_s = min(300.0, rng.expovariate(1 / 20.0))
        plan.talk_s = min(1800.0, 20.0 + rng.expovariate(1 / max(1.0, talk_mean - 20.0)))
        plan.by_caller = rng.random() < 0.6
        r = rng.random()
        answered = 3 if r < 0.8 else 1 if r < 0.9 else 0
        for name, answers in facts.questions[:answered]:
            weights = [0.7, 0.22, 0.08] if name == "satisfaction" else [0.85, 0.15] if len(answers) == 2 else None
            key = rng.choices(list(answers), weights)[0] if weights else rng.choice(list(answers))
            plan.survey.append((name, int(key), answers[key]))
        if answered == 0 and facts.questions:  # hung up at the first question
            plan.survey.append((facts.questions[0][0], None, None))
    elif kind == "abandoned":
        plan.wait_s = rng.uniform(2.0, 90.0)
    elif kind == "voicemail":
        plan.wait_s = facts.max_wait.get(queue, 300.0)
    else:
        plan.wait_s = rng.uniform(30.0, 120.0)
    return plan


# ------------------------------------------------------------------------------------------------ the database so far


@dataclass
class Rows:
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    tags: list[tuple[Any, ...]] = field(default_factory=list)
    surveys: list[tuple[Any, ...]] = field(default_factory=list)
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    recordings: list[tuple[Any, ...]] = field(default_factory=list)
    transcribed: list[tuple[Any, ...]] = field(default_factory=list)
    tickets: list[tuple[Any, ...]] = field(default_factory=list)
    callbacks: list[tuple[Any, ...]] = field(default_factory=list)


COLUMNS = {
    "calls": (
        "id",
        "sip_call_id",
        "caller_hmac",
        "caller_enc",
        "caller_masked",
        "caller_kind",
        "prefecture_code",
        "province",
        "cell",
        "started_at",
        "answered_at",
        "ended_at",
        "flow_id",
        "flow_revision",
        "node_path",
        "queue_id",
        "agent_id",
        "outcome",
    ),
    "call_events": ("call_id", "at", "event", "queue_id", "agent_id", "data"),
    "tags": ("call_id", "kind", "value", "source", "created_at"),
    "surveys": ("call_id", "question", "answer", "answered_at"),
    "queue_entries": ("call_id", "queue_id", "cell", "priority", "skills", "entered_at", "state", "agent_id"),
    "recordings": ("call_id", "path", "channels", "sample_rate", "started_at", "ended_at", "size_bytes", "sha256"),
    "transcription_state": ("call_id", "batch_done_at"),
    "tickets": (
        "number",
        "call_id",
        "status",
        "caller_masked",
        "prefecture_code",
        "legal_area",
        "service",
        "facts",
        "deadline",
        "created_at",
        "updated_at",
        "closed_at",
    ),
    "callbacks": (
        "call_id",
        "queue_id",
        "number_hmac",
        "number_enc",
        "number_masked",
        "status",
        "attempts",
        "next_attempt_at",
        "last_result",
        "requested_at",
        "completed_at",
    ),
}


def add_rows(
    rows: Rows,
    plan: Plan,
    t0: dt.datetime,
    now: dt.datetime,
    ids: dict[str, int],
    members: dict[str, list[int]],
    rng: random.Random,
    tickets_seq: list[int],
    with_events: bool,
) -> None:
    """The rows the engine would have written for one finished call that started at t0."""
    call_id = uuid.uuid4()
    c = plan.caller.parsed
    queue_id = ids[plan.queue] if plan.queue else None
    at = {name: t0 + dt.timedelta(seconds=off) for off, name in plan.steps()}
    agent = rng.choice(members[plan.queue]) if plan.kind == "answered" and plan.queue else None
    path = ["welcome", "language", "office_hours", "main_menu"]
    rows.calls.append(
        (
            call_id,
            f"bench-{call_id}",
            plan.caller.digest,
            plan.caller.cipher,
            c.masked,
            c.kind,
            c.prefecture.code if c.prefecture else None,
            c.region,
            plan.cell,
            at["start"],
            at["answer"],
            at["end"],
            "yunnan_12348",
            1,
            path,
            queue_id,
            agent,
            plan.outcome,
        )
    )
    ended = at["end"]
    done = ended + dt.timedelta(minutes=10) if ended + dt.timedelta(hours=1) < now else None
    rows.recordings.append(
        (call_id, f"/var/bench/recordings/{call_id}.wav", 2, 8000, at["answer"], ended, 0, secrets.token_hex(32))
    )
    if done is not None:
        rows.transcribed.append((call_id, done))
    if plan.queue:
        state = "connected" if plan.kind in ("answered", "callback") else "left"
        rows.entries.append((call_id, queue_id, plan.cell, 0, [], at["enqueue"], state, agent))
    if plan.kind == "callback":
        rows.callbacks.append(
            (
                call_id,
                queue_id,
                plan.caller.digest,
                plan.caller.cipher,
                c.masked,
                "connected",
                1,
                at["callback"],
                "connected",
                at["callback"],
                at["callback"] + dt.timedelta(minutes=20),
            )
        )
    ticket = plan.kind == "voicemail" or (plan.kind == "answered" and rng.random() < 0.3)
    if ticket:
        tickets_seq[0] += 1
        created = at.get("ticket", ended)
        old = created + dt.timedelta(days=2) < now
        status = "closed" if old and rng.random() < 0.9 else rng.choice(("new", "in_progress", "answered", "closed"))
        service = next((v for k, v in plan.tags if k == "service"), None)
        area = next((v for k, v in plan.tags if k == "legal_area"), None)
        rows.tickets.append(
            (
                f"YB-{created:%Y%m%d}-{tickets_seq[0] % 1000000:06d}",
                call_id,
                status,
                c.masked,
                c.prefecture.code if c.prefecture else None,
                area,
                service,
                "[voicemail] 留言" if plan.kind == "voicemail" else "",
                created + dt.timedelta(days=3),
                created,
                created,
                created + dt.timedelta(days=1) if status == "closed" else None,
            )
        )
    if not with_events:
        return

    def ev(name: str, event: str, data: dict[str, Any] | None = None, queue: bool = False, agt: bool = False) -> None:
        rows.events.append(
            (
                call_id,
                at[name],
                event,
                queue_id if queue else None,
                agent if agt else None,
                json.dumps(data or {}, ensure_ascii=False),
            )
        )

    ev("start", "INCOMING", {"cell": plan.cell})
    ev("answer", "ANSWER")
    if "tags" in at:
        rows.tags += [(call_id, k, v, "flow", at["tags"]) for k, v in plan.tags]
    if plan.queue:
        ev("enqueue", "ENTERQUEUE", {"priority": 0, "skills": []}, queue=True)
    waited = round(plan.wait_s, 1)
    if plan.kind == "answered":
        ev("connect", "CONNECT", {"waited": waited, "ring": 3.0}, queue=True, agt=True)
        ev("complete", "COMPLETECALLER" if plan.by_caller else "COMPLETEAGENT", queue=True, agt=True)
        for i, (question, answer, label) in enumerate(plan.survey):
            ev(f"survey{i}", "SURVEY", {"question": question, "label": label})
            rows.surveys.append((call_id, question, answer, at[f"survey{i}"]))
    elif plan.kind == "abandoned":
        ev("abandon", "ABANDON", {"waited": waited}, queue=True)
    elif plan.kind == "voicemail":
        ev("timeout", "EXITWITHTIMEOUT", {"waited": waited, "key": None}, queue=True)
        ev("voicemail", "VOICEMAIL", {"max_seconds": 120})
        ev("ticket", "IVR", {"ticket": "YB", "kind": "voicemail"})
    elif plan.kind == "callback":
        ev("exitkey", "EXITWITHKEY", {"waited": waited, "key": "1"}, queue=True)
        ev("callback", "CALLBACK", {"number": c.masked, "keep_place": True}, queue=True)
    ev("end", "RECORDING", {"seconds": round((ended - at["answer"]).total_seconds(), 2)})
    reason = "caller hung up" if plan.kind in ("abandoned", "ivr_only") else None
    ev("end", "HANGUP", {"outcome": plan.outcome, "reason": reason})


async def seed(conn: Any, rng: random.Random) -> tuple[dict[str, int], dict[str, list[int]]]:
    """150 agents, each a member of its main queue (by the menu's shares) and one or two others; all available."""
    ids = {r["name"]: r["id"] for r in await conn.fetch("SELECT id, name FROM queues")}
    agent_ids = [
        r["id"]
        for r in await conn.fetch(
            """INSERT INTO agents (username, display_name, role, state)
               SELECT 'bench' || g, 'Bench agent ' || g, 'lawyer', 'available' FROM generate_series(1, $1) g
               RETURNING id""",
            AGENTS,
        )
    ]
    members: dict[str, list[int]] = {q: [] for q in ids}
    for i, agent in enumerate(agent_ids):
        main = QUEUE_SHARE[i % len(QUEUE_SHARE)][0] if i < 2 * len(QUEUE_SHARE) else weighted(rng, QUEUE_SHARE)
        for q in {main, *rng.sample(sorted(ids), rng.randint(1, 2))}:
            members[q].append(agent)
    await conn.executemany(
        "INSERT INTO queue_members (queue_id, agent_id) VALUES ($1, $2)",
        [(ids[q], a) for q, agents in members.items() for a in agents],
    )
    return ids, members


async def fill(
    conn: Any,
    args: argparse.Namespace,
    rate: float,
    facts: FlowFacts,
    people: list[Caller],
    ids: dict[str, int],
    members: dict[str, list[int]],
) -> dict[str, int]:
    """Today's calls so far (with events) and the earlier days' (without), in bulk."""
    rng = random.Random(args.seed + 1)
    now = dt.datetime.now(dt.UTC)
    tz = ZoneInfo(TIMEZONE)
    midnight = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)
    last = now - dt.timedelta(minutes=45)  # the replayed calls in progress start after this
    first = midnight if (last - midnight).total_seconds() >= 3600 else last - dt.timedelta(hours=1)
    per_day = round(rate * args.today_hours * 3600)
    counts: dict[str, int] = {}
    seq = [0]
    for day in range(args.history_days, -1, -1):
        rows = Rows()
        if day == 0:
            span_s = (last - first).total_seconds()
            starts = sorted(first + dt.timedelta(seconds=rng.uniform(0, span_s)) for _ in range(per_day))
        else:
            base = midnight - dt.timedelta(days=day)
            starts = sorted(base + dt.timedelta(seconds=rng.uniform(8 * 3600, 18 * 3600)) for _ in range(per_day))
        for t0 in starts:
            plan = plan_call(rng, facts, people, args.talk_seconds, args.cells)
            add_rows(rows, plan, t0, now, ids, members, rng, seq, with_events=day == 0)
        rows.events.sort(key=lambda r: r[1])  # ids in time order, as the engine's would be
        for table, records in (
            ("calls", rows.calls),
            ("call_events", rows.events),
            ("tags", rows.tags),
            ("surveys", rows.surveys),
            ("queue_entries", rows.entries),
            ("recordings", rows.recordings),
            ("transcription_state", rows.transcribed),
            ("tickets", rows.tickets),
            ("callbacks", rows.callbacks),
        ):
            if records:
                await conn.copy_records_to_table(table, records=records, columns=COLUMNS[table])
                counts[table] = counts.get(table, 0) + len(records)
    await conn.execute("ANALYZE")
    return counts


# ------------------------------------------------------------------------------------------------ the load (child)


LEFT_BY = {"abandon": "ABANDON", "timeout": "EXITWITHTIMEOUT", "exitkey": "EXITWITHKEY"}


@dataclass
class Live:
    """What a call in progress holds between its steps."""

    plan: Plan
    call_id: uuid.UUID | None = None
    queue_id: int | None = None
    entry_id: int | None = None
    agent: int | None = None


class Writer:
    """Plays the cells' part: each call's writes at their time, with the engine's db functions."""

    def __init__(self, pool: Any, ids: dict[str, int], members: dict[str, list[int]], rng: random.Random) -> None:
        self.pool, self.ids, self.members, self.rng = pool, ids, members, rng
        self.available = {a for agents in members.values() for a in agents}
        self.calls = 0
        self.done = 0
        self.errors: list[str] = []
        self.no_agent = 0
        self.caught_up = 0  # calls whose past steps are written
        self.in_progress = 0
        self.all_caught_up = asyncio.Event()
        self.background: set[asyncio.Task[None]] = set()

    async def shifted(self, call_id: uuid.UUID, shift: float, write: Callable[[], Awaitable[Any]]) -> Any:
        """Run a write; when shift > 0 (a step of a call already in progress), move its events back in time."""
        if shift <= 0:
            return await write()
        async with self.pool.acquire() as conn:
            last = await conn.fetchval("SELECT coalesce(max(id), 0) FROM call_events WHERE call_id = $1", call_id)
        out = await write()
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE call_events SET at = at - make_interval(secs => $3) WHERE call_id = $1 AND id > $2",
                call_id,
                last,
                shift,
            )
        return out

    async def restamp(self, call_id: uuid.UUID) -> None:
        """A replayed call's own stamps from its (moved) events, as Line.restamp_calls does."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                """UPDATE calls c SET
                       started_at = (SELECT min(e.at) FROM call_events e
                                     WHERE e.call_id = c.id AND e.event = 'INCOMING'),
                       answered_at = (SELECT min(e.at) FROM call_events e
                                      WHERE e.call_id = c.id AND e.event = 'ANSWER')
                   WHERE c.id = $1""",
                call_id,
            )
            await conn.execute(
                """UPDATE queue_entries q SET entered_at = coalesce((SELECT max(e.at) FROM call_events e
                       WHERE e.call_id = q.call_id AND e.event = 'ENTERQUEUE'), q.entered_at) WHERE q.call_id = $1""",
                call_id,
            )

    async def run(self, plan: Plan, phase: float, ready: asyncio.Event) -> None:
        """Run one call whose INVITE was `phase` seconds ago; steps before now are written at once (after
        `ready` the rest at their time)."""
        try:
            await self._run(plan, phase, ready)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
            log.exception("call failed")

    async def _run(self, plan: Plan, phase: float, ready: asyncio.Event) -> None:
        from db import calls
        from hotline.caller.privacy import NumberKeys

        loop = asyncio.get_running_loop()
        origin = loop.time() - phase
        self.calls += 1
        live = Live(plan, queue_id=self.ids[plan.queue] if plan.queue else None)
        replayed = caught_up = False
        for offset, step in plan.steps():
            shift = phase - offset
            if shift <= 0:
                if replayed and live.call_id is not None:
                    await self.restamp(live.call_id)
                    replayed = False
                if not caught_up:
                    caught_up = True
                    self.caught_up_one()
                await ready.wait()
                await asyncio.sleep(max(0.0, origin + offset - loop.time()))
            else:
                replayed = True
            if step == "start":
                async with self.pool.acquire() as conn:
                    live.call_id = await calls.start(
                        conn,
                        sip_call_id=f"bench-{uuid.uuid4()}",
                        caller=plan.caller.parsed,
                        keys=NumberKeys.from_master(MASTER_KEY),
                        cell=plan.cell,
                    )
                    if shift > 0:
                        await conn.execute(
                            "UPDATE call_events SET at = at - make_interval(secs => $2) WHERE call_id = $1",
                            live.call_id,
                            shift,
                        )
            else:
                assert live.call_id is not None
                await self.shifted(live.call_id, shift, functools.partial(self.step, live, step))
        if replayed and live.call_id is not None:
            await self.restamp(live.call_id)
        if not caught_up:
            self.caught_up_one()
        self.done += 1

    def caught_up_one(self) -> None:
        self.caught_up += 1
        if self.caught_up >= self.in_progress:
            self.all_caught_up.set()

    async def step(self, live: Live, step: str) -> None:
        """One step of a call, with the db functions the cell calls for it."""
        from db import callbacks, calls, queues, tags, tickets
        from hotline.events import CallEvent

        plan, cid, queue_id = live.plan, live.call_id, live.queue_id
        assert cid is not None
        async with self.pool.acquire() as conn:
            if step == "answer":
                await calls.answered(conn, cid)
            elif step == "tags":
                await tags.add_from_flow(conn, cid, plan.tags)
            elif step == "enqueue":
                assert queue_id is not None
                await calls.set_queue(conn, cid, queue_id)
                await calls.add_event(
                    conn, cid, CallEvent.ENTERQUEUE, queue_id=queue_id, data={"priority": 0, "skills": []}
                )
                joined = await queues.join(conn, queue_id, cid, plan.cell, 0, [])
                live.entry_id = joined.entry_id
                if live.entry_id is None:  # refused (nobody staffs it): as the cell's _refused
                    await calls.add_event(conn, cid, CallEvent.EXITEMPTY, queue_id=queue_id, data={"waited": 0.0})
            elif step == "connect":
                live.agent = await self.connect(conn, live)
            elif step == "complete":
                if live.agent is not None:
                    await self.complete(conn, live)
            elif step.startswith("survey"):
                question, answer, label = plan.survey[int(step[6:])]
                await calls.save_survey_answer(conn, cid, question, answer, label)
            elif step in LEFT_BY:
                async with conn.transaction():
                    if live.entry_id is not None:
                        await queues.leave(conn, live.entry_id)
                    data: dict[str, Any] = {"waited": round(plan.wait_s, 1)}
                    if step != "abandon":
                        data["key"] = "1" if step == "exitkey" else None
                    await calls.add_event(conn, cid, CallEvent(LEFT_BY[step]), queue_id=queue_id, data=data)
            elif step == "voicemail":
                await calls.add_event(conn, cid, CallEvent.VOICEMAIL, data={"max_seconds": 120})
            elif step == "ticket":
                c = plan.caller.parsed
                ticket = await tickets.create(
                    conn,
                    prefix="YN",
                    tz=TIMEZONE,
                    actor="ivr",
                    call_id=cid,
                    caller_masked=c.masked,
                    prefecture_code=c.prefecture.code if c.prefecture else None,
                    service=next((v for k, v in plan.tags if k == "service"), None),
                    facts="[voicemail] 留言",
                )
                await calls.add_event(conn, cid, CallEvent.IVR, data={"ticket": ticket.number, "kind": "voicemail"})
            elif step == "callback":
                assert queue_id is not None and plan.caller.digest and plan.caller.cipher
                await callbacks.request(
                    conn,
                    cid,
                    queue_id,
                    number_hmac=plan.caller.digest,
                    number_enc=plan.caller.cipher,
                    number_masked=plan.caller.parsed.masked,
                    keep_place=True,
                )
            elif step == "end":
                seconds = max(1.0, plan.length - 0.5)
                path = f"/var/bench/recordings/{cid}.wav"
                sha = secrets.token_hex(32)
                await calls.add_recording(conn, cid, path, 2, 8000, seconds, int(seconds * 32000), sha)
                reason = "caller hung up" if plan.kind in ("abandoned", "ivr_only") else None
                await calls.end(conn, cid, plan.outcome, reason=reason)

    async def complete(self, conn: Any, live: Live) -> None:
        from db import agents, calls
        from hotline.events import CallEvent

        assert live.agent is not None and live.call_id is not None
        async with conn.transaction():
            await agents.move(conn, live.agent, "on_call", "wrap_up", cause="system", actor="cell")
            await calls.add_event(
                conn,
                live.call_id,
                CallEvent.COMPLETECALLER if live.plan.by_caller else CallEvent.COMPLETEAGENT,
                queue_id=live.queue_id,
                agent_id=live.agent,
            )
        wrap = asyncio.create_task(self.wrap_up(live.agent))
        self.background.add(wrap)
        wrap.add_done_callback(self.background.discard)

    async def connect(self, conn: Any, live: Live) -> int | None:
        """The dispatcher's offer and the cell's bridge: a free member of the queue, or wait for one (2 min)."""
        from db import agents, calls, queues
        from hotline.events import CallEvent

        plan, call_id = live.plan, live.call_id
        assert plan.queue is not None and live.queue_id is not None and call_id is not None
        free: list[int] = []
        for _ in range(120):
            free = [a for a in self.members[plan.queue] if a in self.available]
            if free:
                break
            self.no_agent += 1
            await asyncio.sleep(1.0)
        if not free:
            return None
        agent = self.rng.choice(free)
        self.available.discard(agent)
        async with conn.transaction():
            await agents.move(conn, agent, "available", "reserved", cause="system", actor="acd")
            await queues.hand_to(conn, call_id, agent)
        async with conn.transaction():
            if live.entry_id is not None:
                await queues.connected(conn, live.entry_id)
            await calls.set_agent(conn, call_id, agent)
            await agents.move(conn, agent, "reserved", "on_call", cause="system", actor="cell", call_id=call_id)
            await calls.add_event(
                conn,
                call_id,
                CallEvent.CONNECT,
                queue_id=live.queue_id,
                agent_id=agent,
                data={"waited": round(plan.wait_s, 1), "ring": 3.0},
            )
        return agent

    async def wrap_up(self, agent: int) -> None:
        from db import agents

        await asyncio.sleep(self.rng.uniform(*WRAPUP_S))
        async with self.pool.acquire() as conn:
            await agents.move(conn, agent, "wrap_up", "available", cause="system", actor="cell")
        self.available.add(agent)


async def writer_role(args: argparse.Namespace) -> int:
    """The load: calls in progress replayed, then Poisson arrivals for --seconds; stops on a line on stdin."""
    rng = random.Random(args.seed + 2)
    flow = load_flow()
    facts = flow_facts(flow)
    people = callers(random.Random(args.seed))
    pool = await asyncpg.create_pool(
        args.url, min_size=8, max_size=8, server_settings={"application_name": "bench-writer"}
    )
    try:
        ids = {r["name"]: r["id"] for r in await pool.fetch("SELECT id, name FROM queues")}
        members: dict[str, list[int]] = {q: [] for q in ids}
        for r in await pool.fetch(
            "SELECT q.name, m.agent_id FROM queue_members m JOIN queues q ON q.id = m.queue_id ORDER BY 1, 2"
        ):
            members[r["name"]].append(r["agent_id"])
        w = Writer(pool, ids, members, rng)
        ready = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        # calls in progress now: arrivals of the last 40 minutes still going
        age = 0.0
        while age < 2400.0:
            age += rng.expovariate(args.rate)
            plan = plan_call(rng, facts, people, args.talk_seconds, args.cells)
            if plan.length > age:
                tasks.append(asyncio.create_task(w.run(plan, age, ready)))
        in_progress = w.in_progress = len(tasks)
        if in_progress:
            await w.all_caught_up.wait()
        pids = [
            r["pid"]
            for r in await pool.fetch(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'bench-writer'"
            )
        ]
        talking = sum(1 for a in {x for v in members.values() for x in v} if a not in w.available)
        print("READY " + json.dumps({"in_progress": in_progress, "busy_agents": talking, "pids": pids}), flush=True)
        ready.set()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_stdin() -> None:
            loop.remove_reader(sys.stdin.fileno())
            stop.set()

        loop.add_reader(sys.stdin.fileno(), on_stdin)

        async def arrivals() -> None:
            t = loop.time()
            while True:
                t += rng.expovariate(args.rate)
                await asyncio.sleep(max(0.0, t - loop.time()))
                plan = plan_call(rng, facts, people, args.talk_seconds, args.cells)
                tasks.append(asyncio.create_task(w.run(plan, 0.0, ready)))

        arriving = asyncio.create_task(arrivals())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.seconds)
        arriving.cancel()
        for t in [*tasks, *w.background]:
            t.cancel()
        await asyncio.gather(arriving, *tasks, *w.background, return_exceptions=True)
        print(
            "DONE "
            + json.dumps(
                {
                    "calls": w.calls,
                    "done": w.done,
                    "errors": w.errors[:5],
                    "n_errors": len(w.errors),
                    "no_agent_s": w.no_agent,
                }
            ),
            flush=True,
        )
        return 0
    finally:
        await pool.close()


# ------------------------------------------------------------------------------------------------ the node's files


def walk(rng: random.Random, flow: Any) -> tuple[list[str], bool]:
    """A random path through the flow from its entry (the caller's choices at random; after the agent, mostly
    the survey), and whether the caller hung up on the way."""
    from hotline.flow.model import EnqueueNode, HangupNode, edges

    nodes = flow.file.nodes
    path = [flow.file.entry]
    while len(path) < 20:
        node = nodes[path[-1]]
        if isinstance(node, HangupNode):
            return path, False
        if rng.random() < 0.03:
            return path, True
        out = [target for _p, target in edges(node)]
        if isinstance(node, EnqueueNode) and node.after is not None and rng.random() < 0.75:
            out = [node.after]
        if not out:
            return path, True
        path.append(rng.choice(out))
    return path, True


def cell_work(name: str, flow: Any, calls_n: int, rng: random.Random) -> dict[str, Any]:
    import dataclasses

    from hotline.cell.metrics import CAPACITY, LEGS, count_exits
    from hotline.flow.service import new_call
    from hotline.metrics import count_db_connection

    count_db_connection()
    CAPACITY.labels(name).set(4)
    base = new_call(flow)
    spent = 0.0
    updates = 0
    steps = 0
    for _ in range(calls_n):
        path, hung_up = walk(rng, flow)
        # flowapp: count_exits after start, after each step (a node's digits, playback, queue outcome...), at end
        states = [dataclasses.replace(base, path=tuple(path[:k])) for k in range(1, len(path) + 1)]
        states += [states[-1]] * 4  # steps that stay in a node (digits, survey answers)
        end = dataclasses.replace(states[-1], phase="ended")
        t = time.thread_time()
        seen = 0
        for s in states:
            seen = count_exits(s, seen)
        count_exits(end, seen, hung_up=hung_up)
        spent += time.thread_time() - t
        updates += len(path)
        steps += len(states) + 1
    # watch_legs, once a second: the gauge, then wait_for(stop.wait(), 1.0) timing out (here after 1 ms)

    async def legs(n: int) -> float:
        stop = asyncio.Event()
        t = time.thread_time()
        for i in range(n):
            LEGS.labels(name).set(i % 5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.001)
        return time.thread_time() - t

    ticks = 100
    legs_s = asyncio.run(legs(ticks))
    LEGS.labels(name).set(rng.randint(2, 4))
    return {
        "kind": "cell",
        "us_per_call": spent / calls_n * 1e6,
        "updates_per_call": updates / calls_n,
        "steps_per_call": steps / calls_n,
        "us_per_legs_tick": legs_s / ticks * 1e6,
    }


def transcriber_work(kind: str, rng: random.Random) -> dict[str, Any]:
    from hotline.metrics import count_db_connection, safe
    from hotline.transcribe import models
    from hotline.transcribe.models import AUDIO_SECONDS, PROCESSING_SECONDS

    count_db_connection()
    if kind == "transcriber":
        from hotline.analysis.worker import ANALYSED
        from hotline.transcribe.service import LIVE_STREAMS

        LIVE_STREAMS.inc(2)
        for result_ in ("ok", "skipped", "failed"):
            ANALYSED.labels(result_).inc(rng.randint(0, 50))
        return {"kind": kind}

    def accept(data: bytes) -> None:  # _Recognizer.accept without the recognizer
        started = time.perf_counter()
        spent = time.perf_counter() - started
        safe("hotline_transcribe_audio_seconds_total", lambda: AUDIO_SECONDS.inc(len(data) / 2 / models._model_rate))
        safe("hotline_transcribe_processing_seconds_total", lambda: PROCESSING_SECONDS.inc(spent))

    frame = b"\0" * 640  # a 20 ms frame at 16 kHz
    n = 20000
    t = time.thread_time()
    for _ in range(n):
        accept(frame)
    return {"kind": kind, "us_per_accept": (time.thread_time() - t) / n * 1e6}


def node_role(args: argparse.Namespace) -> int:
    """With PROMETHEUS_MULTIPROC_DIR set: fork the node's processes, each writing its own metric files (and
    timing its updates); print their figures as JSON."""
    # the modules whose metrics the node's children have, imported (their metrics created) before the fork

    flow = load_flow()
    procs = [("cell", f"cell{i}") for i in range(1, args.cells + 1)]
    procs += [("transcriber", "transcriber"), ("decoder", "decoder1"), ("decoder", "decoder2")]
    out: list[dict[str, Any]] = []
    batch = os.cpu_count() or 1  # a core each, so that contention does not inflate the per-update times
    for first in range(0, len(procs), batch):
        running = []
        for i, (kind, name) in enumerate(procs[first : first + batch], start=first):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: its own files (prometheus-client notices the new pid)
                code = 1
                try:
                    os.close(r)
                    os.environ["HOTLINE_PROCESS"] = "cell" if kind == "cell" else "transcriber"
                    rng = random.Random(args.seed * 1000 + i)
                    if kind == "cell":
                        figures = cell_work(name, flow, args.cell_calls, rng)
                    else:
                        figures = transcriber_work(kind, rng)
                    os.write(w, json.dumps(figures).encode())
                    code = 0
                finally:
                    os._exit(code)
            os.close(w)
            running.append((name, pid, r))
        for name, pid, r in running:
            chunks = []
            while chunk := os.read(r, 65536):
                chunks.append(chunk)
            os.close(r)
            _, status = os.waitpid(pid, 0)
            if status != 0:
                raise RuntimeError(f"node child {name} failed ({status})")
            out.append(json.loads(b"".join(chunks)))
    for own in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob(f"*_{os.getpid()}.db"):
        own.unlink()  # this process is not one of the node's
    print(json.dumps(out), flush=True)
    return 0


def burn_role(args: argparse.Namespace) -> int:
    """Busy --burn of each 100 ms slot, for --seconds."""
    end = time.monotonic() + args.seconds
    while (slot := time.monotonic()) < end:
        while time.monotonic() < slot + 0.1 * args.burn:
            pass
        time.sleep(max(0.0, slot + 0.1 - time.monotonic()))
    return 0


# ------------------------------------------------------------------------------------------------ the bench


@dataclass
class Part:
    cpu: list[float] = field(default_factory=list)  # this thread's CPU seconds per call
    pg: list[float] = field(default_factory=list)  # the telemetry backend's CPU seconds per call


def timed_parts(telemetry: Any, backend: int) -> dict[str, Part]:
    """Wrap the refresh's parts to see where the time goes (CPU of this thread and of the backend)."""
    parts: dict[str, Part] = {}
    for name in ("_collect", "_state", "_kpi", "_front"):
        inner = getattr(telemetry, name)
        part = parts[name.strip("_")] = Part()

        async def wrapped(inner: Any = inner, part: Part = part) -> Any:
            c, p = time.thread_time(), cpu_ticks(backend)
            try:
                return await inner()
            finally:
                part.cpu.append(time.thread_time() - c)
                part.pg.append((cpu_ticks(backend) - p) / TICK)

        setattr(telemetry, name, wrapped)
    return parts


def metric_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.db"))


def spawn(role: str, args: argparse.Namespace, extra: Sequence[str], env: dict[str, str] | None = None) -> Any:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--role", role, "--seed", str(args.seed), *extra]
    return subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )


async def read_line(proc: Any, prefix: str, wait_s: float) -> dict[str, Any]:
    def read() -> str:
        while True:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"child exited ({proc.poll()}) before {prefix}")
            if line.startswith(prefix + " "):
                return str(line[len(prefix) + 1 :])

    data: dict[str, Any] = json.loads(await asyncio.wait_for(asyncio.to_thread(read), wait_s))
    return data


async def bench(args: argparse.Namespace, url: str, mdir: Path) -> int:
    from prometheus_client import REGISTRY

    from hotline.acd import dispatcher  # noqa: F401  (the supervisor runs it: its counter is on the page)
    from hotline.clock import SYSTEM
    from hotline.config import Settings
    from hotline.metrics import node_exposition
    from hotline.supervisor.metrics import kpi_params, labels_of
    from hotline.telemetry.state import Sources, Telemetry

    rate = args.concurrent / args.talk_seconds / ANSWERED_SHARE  # calls a second, every kind
    rng = random.Random(args.seed)
    flow = load_flow()
    facts = flow_facts(flow)
    people = callers(random.Random(args.seed))
    procs: list[Any] = []
    conn = await asyncpg.connect(url)
    pool = None
    try:
        t = time.monotonic()
        ids, members = await seed(conn, rng)
        counts = await fill(conn, args, rate, facts, people, ids, members)
        fill_s = time.monotonic() - t
        print(
            f"database: {counts.get('calls', 0):,} calls ({args.history_days} earlier days and today's "
            f"{args.today_hours:g} h at full load), {counts.get('call_events', 0):,} events, "
            f"{counts.get('queue_entries', 0):,} queue entries, {counts.get('tickets', 0):,} work orders "
            f"in {fill_s:.1f} s",
            flush=True,
        )

        t = time.monotonic()
        node = spawn(
            "node",
            args,
            ["--cells", str(args.cells), "--cell-calls", str(args.cell_calls)],
            {"PROMETHEUS_MULTIPROC_DIR": str(mdir)},
        )
        procs.append(node)
        out, _ = await asyncio.to_thread(node.communicate, None, 300)
        if node.returncode != 0:
            raise RuntimeError(f"node children failed ({node.returncode})")
        children = json.loads(out.strip().splitlines()[-1])
        files = metric_files(mdir)
        print(
            f"node files: {len(files)} files of {len(children)} processes in {time.monotonic() - t:.1f} s", flush=True
        )

        writer = spawn(
            "writer",
            args,
            [
                "--url",
                url,
                "--rate",
                f"{rate}",
                "--talk-seconds",
                str(args.talk_seconds),
                "--cells",
                str(args.cells),
                "--seconds",
                str(args.seconds + 60),
            ],
        )
        procs.append(writer)
        ready = await read_line(writer, "READY", 120)
        print(
            f"load: {rate:.3f} calls/s; {ready['in_progress']} calls in progress replayed, "
            f"{ready['busy_agents']} agents busy",
            flush=True,
        )

        # the supervisor's telemetry, as hotline up starts it (hotline.supervisor.metrics.start_telemetry)
        settings = Settings()
        pool = await asyncpg.create_pool(
            url, min_size=1, max_size=1, server_settings={"application_name": "bench-telemetry"}
        )
        backend = await pool.fetchval("SELECT pg_backend_pid()")
        queue_names = sorted(ids)
        schedules = dict(flow.schedules)

        async def front_targets() -> dict[str, int]:
            return {"up": args.cells, "down": 0}

        sources = Sources(
            cells={f"cell{i}": (lambda: {"ok": True, "restarts": 0}) for i in range(1, args.cells + 1)},
            front=lambda: {"ok": True, "restarts": 0},
            front_targets=front_targets,
            leading=lambda: True,
        )
        telemetry = Telemetry(
            pool,
            SYSTEM,
            labels_of([flow], queue_names),
            kpi_params(settings),
            timezone=TIMEZONE,
            schedules=schedules,
            targets=settings.kpi.targets,
            sources=sources,
            refresh_s=REFRESH_S,
            kpi_refresh_s=KPI_REFRESH_S,
        )
        parts = timed_parts(telemetry, backend)
        telemetry._kpi_due = math.inf  # window A without today's KPIs; they are measured on their own (B)
        page = node_exposition(mdir)
        scraper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scrape")

        def scrape() -> tuple[float, float, bytes]:
            c, w = time.thread_time(), time.perf_counter()
            body = page()
            return time.perf_counter() - w, time.thread_time() - c, body

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(scraper, scrape)  # warm (imports, first file reads)
        if args.burn > 0:
            budget = args.seconds + args.kpi_timeout + 30
            procs.append(spawn("burn", args, ["--burn", str(args.burn), "--seconds", str(budget)]))
        every = args.seconds / args.scrapes
        scrapes: dict[str, list[tuple[float, float]]] = {"A": [], "B": []}
        body = b""

        async def scraping(phase: str, until: float) -> None:
            """Scrape every `every` seconds until `until` (monotonic), as a Prometheus would, only more often."""
            nonlocal body
            next_at = time.monotonic() + every / 2
            while next_at < until:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                if writer.poll() is not None:
                    raise RuntimeError(f"the load stopped ({writer.returncode})")
                wall_s, cpu_s, body = await loop.run_in_executor(scraper, scrape)
                scrapes[phase].append((wall_s, cpu_s))
                next_at += every

        # ---- window A: the telemetry loop (collector, state gauges, front, cells) and scrapes, under load
        ev0 = await conn.fetchval("SELECT coalesce(max(id), 0) FROM call_events")
        tag0 = await conn.fetchval("SELECT coalesce(max(id), 0) FROM tags")
        writer_pids = ready["pids"]
        load0 = os.getloadavg()[0]
        wall0, cpu0, pg0 = time.monotonic(), time.process_time(), cpu_ticks(backend)
        wpg0, wcpu0, box0 = sum(cpu_ticks(p) for p in writer_pids), cpu_ticks(writer.pid), busy_ticks()
        stop = asyncio.Event()
        task = asyncio.create_task(telemetry.run(stop), name="telemetry")
        await scraping("A", wall0 + args.seconds)
        await asyncio.sleep(max(0.0, wall0 + args.seconds - time.monotonic()))
        stop.set()
        await task
        elapsed = time.monotonic() - wall0
        cpu = time.process_time() - cpu0
        pg = (cpu_ticks(backend) - pg0) / TICK
        wpg = (sum(cpu_ticks(p) for p in writer_pids) - wpg0) / TICK
        wcpu = (cpu_ticks(writer.pid) - wcpu0) / TICK
        box1 = busy_ticks()
        ev1 = await conn.fetchval("SELECT coalesce(max(id), 0) FROM call_events")
        tag1 = await conn.fetchval("SELECT coalesce(max(id), 0) FROM tags")
        events = await conn.fetchval("SELECT count(*) FROM call_events WHERE id > $1 AND id <= $2", ev0, ev1)
        tag_rows = await conn.fetchval("SELECT count(*) FROM tags WHERE id > $1 AND id <= $2", tag0, tag1)
        collected = REGISTRY.get_sample_value("hotline_events_collected_total") or 0.0

        # ---- B: one refresh of today's KPIs (as Telemetry.refresh runs it), bounded, load and scrapes going on
        today = await conn.fetchval(
            "SELECT count(*) FROM calls WHERE started_at >= date_trunc('day', now() AT TIME ZONE $1) AT TIME ZONE $1",
            TIMEZONE,
        )
        kpi_wall0 = time.monotonic()
        scraping_b = asyncio.create_task(scraping("B", kpi_wall0 + args.kpi_timeout))
        kpi_done, kpi_failed = False, False
        try:
            kpi_done = await asyncio.wait_for(telemetry._part("kpi", telemetry._kpi), args.kpi_timeout)
            kpi_failed = not kpi_done  # logged by Telemetry
        except TimeoutError:
            pass
        kpi_wall = time.monotonic() - kpi_wall0
        scraping_b.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await scraping_b
        load1 = os.getloadavg()[0]
        writer.stdin.write("stop\n")
        writer.stdin.flush()
        done = await read_line(writer, "DONE", 60)
        scraper.shutdown()

        # ---- figures
        refreshes = len(parts["collect"].cpu)
        scrape_cpu_a = sum(c for _, c in scrapes["A"])
        tel_share = (cpu - scrape_cpu_a) / elapsed  # window A: everything but the scrapes
        pg_share = pg / elapsed
        kpi = parts["kpi"]
        kpi_cpu, kpi_pg = (kpi.cpu[-1], kpi.pg[-1]) if kpi.cpu else (0.0, 0.0)
        # due once a minute; a refresh longer than that runs back to back (the loop waits for it)
        kpi_share = (kpi_cpu + kpi_pg) / max(KPI_REFRESH_S, kpi_wall)
        every_scrape = scrapes["A"] + scrapes["B"]
        walls = [w * 1000 for w, _ in every_scrape]
        walls_a = [w * 1000 for w, _ in scrapes["A"]]
        walls_b = [w * 1000 for w, _ in scrapes["B"]]
        scrape_cpu_ms = sum(c for _, c in every_scrape) / len(every_scrape) * 1000
        scrape_share = scrape_cpu_ms / 1000 / SCRAPE_INTERVAL_S
        cells = [c for c in children if c["kind"] == "cell"]
        per_call_us = sum(c["us_per_call"] for c in cells) / len(cells)
        updates_per_call = sum(c["updates_per_call"] for c in cells) / len(cells)
        legs_us = sum(c["us_per_legs_tick"] for c in cells) / len(cells)
        cell_share = (rate * per_call_us + args.cells * legs_us) / 1e6
        decoders = [c for c in children if c["kind"] == "decoder"]
        accept_us = sum(c["us_per_accept"] for c in decoders) / len(decoders)
        accepts_per_s = DECODER_WORKERS * FRAMES_PER_S / ANCHOR_RTF
        decoder_share = accepts_per_s * accept_us / 1e6
        rest = tel_share + pg_share + scrape_share + cell_share + decoder_share
        total = rest + kpi_share
        load_cpu = ANCHOR_BRIDGED * ANCHOR_CPU_PER_CALL_PCT / 100  # cores
        ratio, rest_ratio = total / load_cpu, rest / load_cpu
        series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        box = (box1[0] - box0[0]) / max(1, box1[1] - box0[1]) * 100

        def part_ms(name: str, last: bool = False) -> str:
            p = parts[name]
            if not p.cpu:
                return "-"
            cpu_s, pg_s = (p.cpu[-1], p.pg[-1]) if last else (sum(p.cpu) / len(p.cpu), sum(p.pg) / len(p.pg))
            return f"{cpu_s * 1000:.1f} + {pg_s * 1000:.0f}"

        w = 50
        kpi_note = (
            f"{kpi_wall:.1f} s"
            if kpi_done
            else f"FAILED after {kpi_wall:.1f} s"
            if kpi_failed
            else f"unfinished after {kpi_wall:.0f} s (timeout)"
        )
        at_least = "" if kpi_done else "≥ "  # a KPI refresh that did not finish: its share is a lower bound
        print()
        print(
            f"A: {elapsed:.1f} s, {refreshes} refreshes, {len(scrapes['A'])} scrapes; B: today's KPIs {kpi_note}, "
            f"{len(scrapes['B'])} scrapes"
        )
        print(f"{'figure':<{w}} {'measured':>14}   target / anchor")
        print("-" * 118)
        print(f"{'calls arriving (per s)':<{w}} {rate:>14.3f}   {args.concurrent} talking × {args.talk_seconds:g} s")
        print(f"{'events written (per s)':<{w}} {events / elapsed:>14.2f}   tags {tag_rows / elapsed:.2f}/s")
        print(f"{'events counted by the collector':<{w}} {collected:>14.0f}   of {events} written in A")
        print(f"{'collector per refresh (ms CPU here + PostgreSQL)':<{w}} {part_ms('collect'):>14}")
        print(f"{'state gauges per refresh (ms + ms)':<{w}} {part_ms('state'):>14}")
        print(f"{'supervisor telemetry, A (% of a core)':<{w}} {tel_share * 100:>14.3f}   without today's KPIs")
        print(f"{'  its PostgreSQL backend, A (% of a core)':<{w}} {pg_share * 100:>14.3f}")
        print(
            f"{'today KPIs, one refresh (ms + ms)':<{w}} {part_ms('kpi', last=True):>14}   "
            f"{today:,} calls today; {kpi_note}"
        )
        print(f"{'today KPIs (% of a core)':<{w}} {at_least}{kpi_share * 100:>12.3f}   due every {KPI_REFRESH_S:g} s")
        print(
            f"{'scrape CPU (ms each; % of a core every 15 s)':<{w}} {scrape_cpu_ms:>11.1f} ms   "
            f"{scrape_share * 100:.3f} %"
        )
        print(
            f"{'cells: count_exits per call (µs)':<{w}} {per_call_us:>14.1f}   {updates_per_call:.1f} increments a "
            f"call; legs tick {legs_us:.1f} µs × {args.cells} cells a second"
        )
        print(f"{'cells (% of a core)':<{w}} {cell_share * 100:>14.3f}")
        print(
            f"{'decoders: counters per accept (µs)':<{w}} {accept_us:>14.2f}   "
            f"× {accepts_per_s:.0f}/s (upper bound) = {decoder_share * 100:.3f} % of a core"
        )
        print(f"{'metrics CPU, total (% of one core)':<{w}} {at_least}{total * 100:>12.2f}   ≤ {TARGET_CPU_PCT:g}")
        print(
            f"{'  as a share of the load CPU (%)':<{w}} {at_least}{ratio * 100:>12.2f}   ≤ {TARGET_CPU_PCT:g}; load "
            f"{ANCHOR_BRIDGED} × {ANCHOR_CPU_PER_CALL_PCT} % = {load_cpu * 100:.1f} % of a core (bench/capacity.py)"
        )
        print(f"{'  without today KPIs (% core; % of load)':<{w}} {rest * 100:>14.2f}   {rest_ratio * 100:.2f} %")
        print(f"{'scrape p50, all (ms)':<{w}} {pct(walls, 50):>14.1f}")
        print(f"{'scrape p99, all (ms)':<{w}} {pct(walls, 99):>14.1f}   ≤ {TARGET_SCRAPE_MS:g}; max {max(walls):.1f}")
        print(f"{'  A (no KPI running): p50 / p99 (ms)':<{w}} {pct(walls_a, 50):>7.1f} / {pct(walls_a, 99):.1f}")
        if walls_b:
            print(f"{'  B (KPI running): p50 / p99 (ms)':<{w}} {pct(walls_b, 50):>7.1f} / {pct(walls_b, 99):.1f}")
        print(f"{'page':<{w}} {len(body) / 1024:>10.0f} KiB   {series} series, {len(files)} files")
        print(f"{'load generator, A (% of a core)':<{w}} {wcpu / elapsed * 100:>14.1f}")
        print(f"{'  its PostgreSQL backends, A (% of a core)':<{w}} {wpg / elapsed * 100:>14.1f}")
        print(f"{'machine busy, A (% of all cores)':<{w}} {box:>14.1f}   load average {load0:.2f} → {load1:.2f}")
        print(f"{'load errors; seconds calls waited for an agent':<{w}} {done['n_errors']:>14}   {done['no_agent_s']}")
        for e in done["errors"]:
            print("  load error:", e)
        ok = total * 100 <= TARGET_CPU_PCT and ratio * 100 <= TARGET_CPU_PCT and pct(walls, 99) <= TARGET_SCRAPE_MS
        print(f"\ntargets {'met' if ok else 'NOT met'}")
        result(
            metrics_cpu_pct=f"{'>=' if not kpi_done else ''}{total * 100:.2f}",
            metrics_cpu_ratio_pct=f"{'>=' if not kpi_done else ''}{ratio * 100:.2f}",
            scrape_p50_ms=f"{pct(walls, 50):.1f}",
            scrape_p99_ms=f"{pct(walls, 99):.1f}",
            series=series,
            events_per_s=f"{events / elapsed:.2f}",
            cores=os.cpu_count() or 1,
            no_kpi_cpu_pct=f"{rest * 100:.2f}",
            no_kpi_ratio_pct=f"{rest_ratio * 100:.2f}",
            no_kpi_scrape_p99_ms=f"{pct(walls_a, 99):.1f}",
            kpi_refresh_s=f"{kpi_wall:.1f}" if kpi_done else f">{kpi_wall:.0f}",
            calls_today=today,
            page_kb=f"{len(body) / 1024:.0f}",
            files=len(files),
            scrape_cpu_ms=f"{scrape_cpu_ms:.1f}",
            load_avg=f"{load1:.2f}",
        )
        return 0 if done["n_errors"] == 0 and not kpi_failed else 1
    finally:
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(p.wait, 10)
        if pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pool.close(), 5)
        await conn.close()


async def run(args: argparse.Namespace) -> int:
    print(machine().describe(), flush=True)
    name, url = await create_database("bench_metrics")
    mdir = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    try:
        return await bench(args, url, mdir)
    finally:
        await drop_database(name)
        shutil.rmtree(mdir, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="about 40 s: 15 s windows, less history")
    p.add_argument("--seconds", type=float, default=None, help="window A, s (default 40; quick 15)")
    p.add_argument("--concurrent", type=int, default=ANCHOR_BRIDGED, help="conversations at once (full load)")
    p.add_argument("--talk-seconds", type=float, default=180.0, help="mean talk time")
    p.add_argument("--cells", type=int, default=40, help="cells of the node (their files, their legs ticks)")
    p.add_argument("--cell-calls", type=int, default=None, help="calls each cell has taken (default 300; quick 100)")
    p.add_argument("--scrapes", type=int, default=None, help="scrapes in window A, as many in B (40; quick 15)")
    p.add_argument("--today-hours", type=float, default=None, help="today's full-load hours so far (8; quick 2)")
    p.add_argument("--history-days", type=int, default=None, help="earlier days in the database (7; quick 1)")
    p.add_argument("--kpi-timeout", type=float, default=None, help="bound of today's KPI refresh, s (40; quick 15)")
    p.add_argument(
        "--burn",
        type=float,
        default=ANCHOR_BRIDGED * ANCHOR_CPU_PER_CALL_PCT / 100,
        help="share of a core burnt for the cells' CPU during the window (0: none)",
    )
    p.add_argument("--seed", type=int, default=12348)
    # child roles
    p.add_argument("--role", choices=("bench", "writer", "node", "burn"), default="bench", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    quick = args.quick
    for name, full, short in (
        ("seconds", 40.0, 15.0),
        ("kpi_timeout", 40.0, 15.0),
        ("cell_calls", 300, 100),
        ("scrapes", 40, 15),
        ("today_hours", 8.0, 2.0),
        ("history_days", 7, 1),
    ):
        if getattr(args, name) is None:
            setattr(args, name, short if quick else full)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.role == "node":
        return node_role(args)
    if args.role == "burn":
        return burn_role(args)
    if args.role == "writer":
        return asyncio.run(writer_role(args))
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        print("interrupted; database dropped, metric files removed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
