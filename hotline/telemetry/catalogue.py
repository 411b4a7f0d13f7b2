"""The supervisor's metrics (docs/metrics.md lists them all) and the bounded label sets they take."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram

from hotline.caller.prefectures import PREFECTURES
from hotline.kpi import OUTSIDE_YUNNAN, VisitEnd
from hotline.metrics import Bounded
from hotline.tag import FLAGS, LEGAL_AREAS, SERVICES

WAIT_BUCKETS = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600)
TALK_BUCKETS = (30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600)
AGENT_STATES = ("available", "reserved", "on_call", "wrap_up", "paused", "logged_out")
TICKET_STATUSES = ("new", "in_progress", "answered", "referred", "follow_up", "closed", "reopened")
CALLBACK_RESULTS = ("connected", "no_answer", "busy", "rejected", "failed", "agent_unreachable")
TAG_KINDS = ("legal_area", "service", "flag", "quality")
VISIT_OUTCOMES = tuple(e.value for e in VisitEnd if e is not VisitEnd.OPEN)
DIRECTIONS = ("inbound", "callback")


@dataclass
class Labels:
    """Every label's allowed values, from configuration (queues, flows, schedules) and the code's vocabularies."""

    queue: Bounded = field(default_factory=lambda: Bounded(()))
    prefecture: Bounded = field(default_factory=lambda: Bounded([p.code for p in PREFECTURES] + [OUTSIDE_YUNNAN]))
    outcome: Bounded = field(default_factory=lambda: Bounded(VISIT_OUTCOMES))
    state: Bounded = field(default_factory=lambda: Bounded(AGENT_STATES))
    status: Bounded = field(default_factory=lambda: Bounded(TICKET_STATUSES))
    result: Bounded = field(default_factory=lambda: Bounded(CALLBACK_RESULTS))
    direction: Bounded = field(default_factory=lambda: Bounded(DIRECTIONS))
    tag_kind: Bounded = field(default_factory=lambda: Bounded(TAG_KINDS))
    tag_value: Bounded = field(default_factory=lambda: Bounded((*LEGAL_AREAS, *SERVICES, *FLAGS)))
    question: Bounded = field(default_factory=lambda: Bounded(()))
    answers: dict[str, Bounded] = field(default_factory=dict)  # question -> its answer labels
    schedule: Bounded = field(default_factory=lambda: Bounded(()))
    # kind -> the values tags of that kind may have: the taxonomy's, and those the flows set (add_tags)
    tags: dict[str, set[str]] = field(
        default_factory=lambda: {"legal_area": set(LEGAL_AREAS), "service": set(SERVICES), "flag": set(FLAGS)}
    )

    def add_tags(self, kind: str, values: Iterable[str]) -> None:
        """Tag values a flow writes (its `set` nodes' legal_area, service and flags) beside the taxonomy's."""
        if kind in self.tags:
            self.tags[kind].update(values)
            self.tag_value.extend(values)

    def add_survey(self, questions: Mapping[str, Iterable[str]]) -> None:
        for name, labels in questions.items():
            self.question.extend([name])
            self.answers.setdefault(name, Bounded(())).extend(labels)

    def answer(self, question: str, label: object) -> str:
        bound = self.answers.get(question)
        return bound(label) if bound is not None else self.question.fallback


# ---- from the event log
VISITS = Counter("hotline_queue_visits_total", "Ended queue visits by outcome", ["queue", "prefecture", "outcome"])
SHORT_ABANDONS = Counter(
    "hotline_queue_short_abandons_total", "Abandons after waiting less than short_abandon_s", ["queue", "prefecture"]
)
OFFERED = Counter("hotline_calls_offered_total", "Queue visits offered (接通率's denominator)", ["queue", "prefecture"])
ANSWERED = Counter("hotline_calls_answered_total", "Queue visits answered live (CONNECT)", ["queue", "prefecture"])
ANSWERED_BY_CALLBACK = Counter(
    "hotline_calls_answered_by_callback_total", "EXITWITHKEY visits whose callback connected", ["queue", "prefecture"]
)
ANSWERED_WITHIN_SL = Counter(
    "hotline_calls_answered_within_sl_total",
    "Visits answered live within the service-level threshold",
    ["queue", "prefecture"],
)
ABANDONED = Counter("hotline_calls_abandoned_total", "Offered visits the caller abandoned", ["queue", "prefecture"])
WAIT = Histogram(
    "hotline_queue_wait_seconds", "Wait of each ended queue visit", ["queue", "outcome"], buckets=WAIT_BUCKETS
)
TALK = Histogram("hotline_talk_seconds", "Talk time of each ended conversation", ["queue"], buckets=TALK_BUCKETS)
STARTED = Counter("hotline_calls_started_total", "Calls started", ["direction"])
ENDED = Counter("hotline_calls_ended_total", "Calls ended (HANGUP: ok, FAILED: failed)", ["direction", "status"])
BRIDGED = Counter(
    "hotline_calls_bridged_total", "Inbound calls bridged to an agent (first CONNECT)", ["queue", "prefecture"]
)
SURVEY = Counter("hotline_survey_answers_total", "Survey answers by question and answer label", ["question", "answer"])
CALLBACKS_SCHEDULED = Counter("hotline_callbacks_scheduled_total", "Callbacks asked for (CALLBACK)", ["queue"])
CALLBACK_ATTEMPTS = Counter("hotline_callback_attempts_total", "Callback attempts by result", ["queue", "result"])
TAGS = Counter("hotline_tags_total", "Tags written", ["kind", "value"])
EVENTS = Counter("hotline_events_collected_total", "Event-log rows the collector has read")
LAG = Gauge("hotline_collector_lag_seconds", "Age of the newest event read (0 when idle)")

# ---- the state now
WAITING = Gauge("hotline_queue_waiting", "Callers waiting now", ["queue"])
OLDEST_WAIT = Gauge("hotline_queue_oldest_wait_seconds", "Wait of the longest-waiting caller", ["queue"])
AGENTS = Gauge("hotline_agents", "Queue members by agent state", ["queue", "state"])
CALLBACKS_PENDING = Gauge("hotline_callbacks_pending", "Callbacks waiting or dialing", ["queue"])
TICKETS = Gauge("hotline_tickets", "Work orders by status", ["status"])
TICKETS_OVERDUE = Gauge("hotline_tickets_overdue", "Open work orders past their deadline", ["status"])
SCHEDULE_OPEN = Gauge("hotline_schedule_open", "1 while the flow's schedule is open", ["schedule"])
KPI_TODAY = Gauge("hotline_kpi_today", "Today's KPI (local day) by hotline.kpi over db.kpi", ["kpi"])
KPI_TODAY_NUM = Gauge("hotline_kpi_today_numerator", "Today's KPI numerator", ["kpi"])
KPI_TODAY_DEN = Gauge("hotline_kpi_today_denominator", "Today's KPI denominator", ["kpi"])
KPI_TARGET = Gauge("hotline_kpi_target", "KPI target from configuration (kpi.targets)", ["kpi"])
BACKLOG_CALLS = Gauge("hotline_transcribe_backlog_calls", "Ended calls waiting for post-call transcription")
BACKLOG_OLDEST = Gauge(
    "hotline_transcribe_backlog_oldest_seconds", "Seconds since the oldest waiting call's recording ended"
)
DB_UP = Gauge("hotline_db_up", "1 when the supervisor's last query succeeded")
REFRESH_ERRORS = Counter("hotline_refresh_errors_total", "Failed metric refreshes", ["part"])

# ---- processes, as the supervisor sees them
CELL_UP = Gauge("hotline_cell_up", "1 while the cell's process runs", ["cell"])
CELL_RESTARTS = Counter("hotline_cell_restarts_total", "Cell restarts after a death", ["cell"])
FRONT_UP = Gauge("hotline_front_up", "1 while Kamailio runs and answers its RPC")
FRONT_TARGETS = Gauge("hotline_front_targets", "Kamailio dispatcher destinations by state", ["state"])
ACD_LEADER = Gauge("hotline_acd_leader", "1 while this node's dispatcher leads")
FRONT_RESTARTS = Counter("hotline_front_restarts_total", "Kamailio restarts after a death")


def zero(labels: Labels) -> None:
    """Create every counter's series at 0 for the label values known now (idempotent). A series that appears
    at its first increment would lose that increment to `increase()`, and the rules' KPIs would be off."""
    queues = sorted(labels.queue.values)
    prefectures = sorted(labels.prefecture.values)
    for counter in (OFFERED, ANSWERED, ANSWERED_BY_CALLBACK, ANSWERED_WITHIN_SL, ABANDONED, SHORT_ABANDONS, BRIDGED):
        for q in queues:
            for p in prefectures:
                counter.labels(q, p)
    for q in queues:
        for p in prefectures:
            for outcome in VISIT_OUTCOMES:
                VISITS.labels(q, p, outcome)
        for outcome in VISIT_OUTCOMES:
            WAIT.labels(q, outcome)
        TALK.labels(q)
        CALLBACKS_SCHEDULED.labels(q)
        for result in CALLBACK_RESULTS:
            CALLBACK_ATTEMPTS.labels(q, result)
    for question in labels.question.values:
        for answer in labels.answers.get(question, Bounded(())).values:
            SURVEY.labels(question, answer)
    for direction in DIRECTIONS:
        STARTED.labels(direction)
        for status in ("ok", "failed"):
            ENDED.labels(direction, status)
    for kind, values in labels.tags.items():
        for value in sorted(values):
            TAGS.labels(kind, value)
