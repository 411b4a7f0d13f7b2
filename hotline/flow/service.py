"""The flow interpreter: ``step(state, event) -> (state, actions)``, pure, no IO and no clock.

A call's state holds the Flow it started with (a reload never changes it), the path of nodes taken, every
key chosen, the call attributes, the attempts used per node and the outcome. The adapter feeds it the
result of the last action it carried out (see hotline.flow.actions for that contract) and stores
`record(state)` with the call.

Guarantees for a caller who presses nothing or nonsense: every menu, collect and language node counts
failures over the whole call and, when they run out, leads on (the checker makes sure a menu or collect has
an `exhausted` edge); cycles that ask nothing and wait in no queue are refused by the checker; and as a last
resort a call whose path grows beyond MAX_PATH nodes is ended with outcome ``failed``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from hotline.caller.phone import InvalidNumber, parse_caller
from hotline.flow.actions import (
    Action,
    Announcement,
    Collect,
    Enqueue,
    Hangup,
    OfferCallback,
    OpenTicket,
    Play,
    RecordVoicemail,
    SaveSurvey,
    SetAttributes,
    Transfer,
)
from hotline.flow.events import (
    CallbackOutcome,
    CallerHungUp,
    CallStarted,
    DigitsCollected,
    Event,
    InputTimeout,
    PlaybackDone,
    QueueOutcome,
    TransferFailed,
    VoicemailDone,
)
from hotline.flow.model import (
    ALL_KEYS,
    BranchNode,
    CallbackNode,
    CollectNode,
    EnqueueNode,
    Flow,
    HangupNode,
    LanguageChoice,
    LanguageNode,
    MenuNode,
    PlayNode,
    ScheduleNode,
    SetNode,
    SurveyNode,
    TransferNode,
    VoicemailNode,
)
from hotline.flow.schedule import evaluate
from hotline.logs import mask_digits

MAX_PATH = 400

Scalar = str | int | bool
Phase = Literal[
    "new",
    "play",
    "menu",
    "menu_input",
    "language",
    "language_input",
    "collect",
    "collect_input",
    "queue",
    "connected",
    "callback",
    "voicemail",
    "transfer",
    "survey",
    "survey_input",
    "ended",
]
Outcome = Literal["answered", "abandoned", "ivr_only", "voicemail", "callback", "transferred", "failed"]


@dataclass(frozen=True)
class DigitEntry:
    """Keys given at a node; numbers typed into a collect node are stored masked."""

    node: str
    digits: str


@dataclass(frozen=True)
class SurveyAnswer:
    question: str
    answer: str | None
    label: str | None


@dataclass(frozen=True)
class CallState:
    flow: Flow
    phase: Phase = "new"
    node: str = ""
    path: tuple[str, ...] = ()
    digits: tuple[DigitEntry, ...] = ()
    attributes: Mapping[str, Scalar] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    priority: int = 0
    failures: Mapping[str, int] = field(default_factory=dict)
    started_at: dt.datetime | None = None
    queue: str | None = None
    question: int = 0
    buffer: str = ""
    survey: tuple[SurveyAnswer, ...] = ()
    tickets: tuple[OpenTicket, ...] = ()
    outcome: Outcome | None = None
    end_reason: str | None = None

    @property
    def ended(self) -> bool:
        return self.phase == "ended"

    def value(self, name: str) -> Scalar | tuple[str, ...] | None:
        if name == "flags":
            return self.flags
        if name == "priority":
            return self.priority
        return self.attributes.get(name)


@dataclass(frozen=True)
class CallRecord:
    """What the call record keeps of the flow (columns of ``calls`` and rows of ``surveys``)."""

    flow_id: str
    flow_revision: int
    node_path: tuple[str, ...]
    digits: str
    outcome: Outcome | None
    queue: str | None
    priority: int
    flags: tuple[str, ...]
    attributes: Mapping[str, Scalar]
    survey: tuple[SurveyAnswer, ...]
    tickets: tuple[OpenTicket, ...]


def new_call(flow: Flow) -> CallState:
    return CallState(flow=flow)


def record(state: CallState) -> CallRecord:
    sensitive = {n.store_as for n in state.flow.file.nodes.values() if isinstance(n, CollectNode)}
    return CallRecord(
        flow_id=state.flow.id,
        flow_revision=state.flow.revision,
        node_path=state.path,
        digits=" ".join(f"{d.node}={d.digits}" for d in state.digits),
        outcome=state.outcome,
        queue=state.queue,
        priority=state.priority,
        flags=state.flags,
        attributes={k: v for k, v in state.attributes.items() if k not in sensitive},
        survey=state.survey,
        tickets=state.tickets,
    )


def start(
    flow: Flow, at: dt.datetime, attributes: Mapping[str, Scalar] | None = None
) -> tuple[CallState, tuple[Action, ...]]:
    return step(new_call(flow), CallStarted(at, dict(attributes or {})))


def step(state: CallState, event: Event) -> tuple[CallState, tuple[Action, ...]]:
    """Advance one call by one event. Events that make no sense in the current phase change nothing."""
    run = _Run(state)
    run.handle(event)
    return run.state, tuple(run.actions)


def _valid_number(kind: str, digits: str) -> bool:
    if not digits.isdigit():
        return False
    if kind == "digits":
        return True
    try:
        return parse_caller(digits).kind in ("mobile", "landline")
    except InvalidNumber:
        return False


class _Run:
    """The work of one step: a state being replaced and actions being appended."""

    def __init__(self, state: CallState) -> None:
        self.state = state
        self.actions: list[Action] = []

    def set(self, **changes: object) -> None:
        self.state = replace(self.state, **changes)  # type: ignore[arg-type]

    # ---- events

    def handle(self, event: Event) -> None:
        s = self.state
        if s.phase == "ended":
            return
        if isinstance(event, CallerHungUp):
            self.caller_hung_up()
            return
        if isinstance(event, CallStarted):
            if s.phase == "new":
                if event.at.tzinfo is None or event.at.utcoffset() is None:
                    raise ValueError("CallStarted.at must be an aware datetime")
                self.set(started_at=event.at, attributes=dict(event.attributes))
                self.go(s.flow.entry)
            return
        node = s.flow.node(s.node) if s.node else None
        if isinstance(event, PlaybackDone):
            self.playback_done(node, event.digit)
        elif isinstance(event, DigitsCollected | InputTimeout):
            digits = event.digits if isinstance(event, DigitsCollected) else None
            self.input_done(node, digits)
        elif isinstance(event, QueueOutcome) and isinstance(node, EnqueueNode):
            self.queue_outcome(node, event)
        elif isinstance(event, CallbackOutcome) and isinstance(node, CallbackNode) and s.phase == "callback":
            if event.ok:
                self.set(outcome="callback")
                self.go(node.ok)
            else:
                self.go(node.failed)
        elif isinstance(event, VoicemailDone) and isinstance(node, VoicemailNode) and s.phase == "voicemail":
            self.voicemail_ticket(node, event.seconds)
            self.go(node.next)
        elif isinstance(event, TransferFailed) and isinstance(node, TransferNode) and s.phase == "transfer":
            self.go(node.failed)

    def caller_hung_up(self) -> None:
        s = self.state
        node = s.flow.node(s.node) if s.node else None
        outcome = s.outcome
        if s.phase == "queue" and outcome is None:
            outcome = "abandoned"
        elif s.phase == "transfer":
            outcome = "transferred"
        elif s.phase == "voicemail" and isinstance(node, VoicemailNode):
            self.voicemail_ticket(node, None)
            outcome = self.state.outcome
        elif s.phase in ("survey", "survey_input") and isinstance(node, SurveyNode):
            self.follow_up(node)
        self.set(phase="ended", outcome=outcome or "ivr_only", end_reason="caller_hung_up")

    def playback_done(self, node: object, digit: str | None) -> None:
        phase = self.state.phase
        if phase == "play" and isinstance(node, PlayNode):
            self.go(node.next)
        elif phase == "menu" and isinstance(node, MenuNode):
            if digit:
                self.menu_key(node, digit)
            else:
                self.set(phase="menu_input")
                self.actions.append(Collect(1, node.timeout, node.timeout, None))
        elif phase == "language" and isinstance(node, LanguageNode):
            if digit:
                self.language_key(node, digit)
            else:
                self.set(phase="language_input")
                self.actions.append(Collect(1, node.timeout, node.timeout, None))
        elif phase == "collect" and isinstance(node, CollectNode):
            buffer = digit or ""
            if buffer and buffer == node.terminator:
                self.collect_done(node, "")
            elif len(buffer) >= node.max_digits:
                self.collect_done(node, buffer)
            else:
                self.set(phase="collect_input", buffer=buffer)
                first = node.inter_timeout if buffer else node.first_timeout
                self.actions.append(Collect(node.max_digits - len(buffer), first, node.inter_timeout, node.terminator))
        elif phase == "survey" and isinstance(node, SurveyNode):
            if digit:
                self.survey_key(node, digit)
            else:
                q = node.questions[self.state.question]
                self.set(phase="survey_input")
                self.actions.append(Collect(1, q.timeout, q.timeout, None))

    def input_done(self, node: object, digits: str | None) -> None:
        phase = self.state.phase
        if phase == "menu_input" and isinstance(node, MenuNode):
            if digits:
                self.menu_key(node, digits[0])
            else:
                self.fail(node, "no_input")
        elif phase == "language_input" and isinstance(node, LanguageNode):
            if digits:
                self.language_key(node, digits[0])
            else:
                self.choose_language(node, node.default)
        elif phase == "collect_input" and isinstance(node, CollectNode):
            self.collect_done(node, self.state.buffer + (digits or ""))
        elif phase == "survey_input" and isinstance(node, SurveyNode):
            if digits:
                self.survey_key(node, digits[0])
            else:
                self.survey_answer(node, None)

    def queue_outcome(self, node: EnqueueNode, event: QueueOutcome) -> None:
        phase = self.state.phase
        if phase == "queue" and event.kind == "connected":
            self.set(phase="connected", outcome="answered")
        elif phase in ("queue", "connected") and event.kind == "agent_done":
            self.set(outcome="answered")
            self.go(node.after)
        elif phase == "queue" and event.kind in ("timeout", "no_agents", "full"):
            target = node.timeout if event.kind == "timeout" else node.no_agents
            if event.kind == "full" and node.full is not None:
                target = node.full
            self.go_or_end(target)
        elif phase == "queue" and event.kind == "exit_key" and event.digit in node.exit_keys:
            self.record_digits(event.digit)
            self.go(node.exit_keys[event.digit])

    # ---- nodes that wait for keys

    def record_digits(self, digits: str) -> None:
        self.set(digits=(*self.state.digits, DigitEntry(self.state.node, digits)))

    def fail(self, node: MenuNode | CollectNode, kind: Literal["invalid", "no_input"]) -> None:
        name = self.state.node
        used = self.state.failures.get(name, 0) + 1
        self.set(failures={**self.state.failures, name: used})
        if used >= node.attempts:
            before = (node.exhausted_prompt,) if node.exhausted_prompt else ()
            self.go_or_end(node.exhausted, before)
            return
        edge = node.invalid if kind == "invalid" else node.no_input
        prompt = node.invalid_prompt if kind == "invalid" else node.no_input_prompt
        before = (prompt,) if prompt else ()
        if edge is not None:
            self.go(edge, before)
        elif isinstance(node, MenuNode):
            self.ask_menu(node, before)
        else:
            self.ask_collect(node, before)

    def ask_menu(self, node: MenuNode, before: tuple[str, ...] = ()) -> None:
        self.set(phase="menu")
        self.actions.append(Play((*before, node.prompt), ALL_KEYS))

    def menu_key(self, node: MenuNode, digit: str) -> None:
        self.record_digits(digit)
        if digit in node.choices:
            self.go(node.choices[digit])
        else:
            self.fail(node, "invalid")

    def ask_language(self, node: LanguageNode, before: tuple[str, ...] = ()) -> None:
        self.set(phase="language")
        self.actions.append(Play((*before, node.prompt), ALL_KEYS))

    def language_key(self, node: LanguageNode, digit: str) -> None:
        self.record_digits(digit)
        if digit in node.choices:
            self.choose_language(node, node.choices[digit])
            return
        name = self.state.node
        used = self.state.failures.get(name, 0) + 1
        self.set(failures={**self.state.failures, name: used})
        if used >= node.attempts:
            self.choose_language(node, node.default)
        else:
            self.ask_language(node, (node.invalid_prompt,) if node.invalid_prompt else ())

    def choose_language(self, node: LanguageNode, choice: LanguageChoice) -> None:
        if choice.language is not None:
            self.set(attributes={**self.state.attributes, node.attribute: choice.language})
            self.actions.append(SetAttributes({node.attribute: choice.language}))
        self.go(choice.next)

    def ask_collect(self, node: CollectNode, before: tuple[str, ...] = ()) -> None:
        self.set(phase="collect", buffer="")
        keys = "0123456789" + (node.terminator or "")
        self.actions.append(Play((*before, node.prompt), keys))

    def collect_done(self, node: CollectNode, digits: str) -> None:
        if node.terminator:
            digits = digits.split(node.terminator, 1)[0]
        self.set(buffer="")
        if not digits:
            self.fail(node, "no_input")
            return
        self.record_digits(mask_digits(digits) if node.validation == "cn_phone" else digits)
        if node.min_digits <= len(digits) <= node.max_digits and _valid_number(node.validation, digits):
            self.set(attributes={**self.state.attributes, node.store_as: digits})
            self.go(node.ok)
        else:
            self.fail(node, "invalid")

    def ask_survey(self, node: SurveyNode, before: tuple[str, ...] = ()) -> None:
        q = node.questions[self.state.question]
        intro = (node.intro,) if node.intro and self.state.question == 0 and not before else ()
        self.set(phase="survey")
        self.actions.append(Play((*intro, *before, q.prompt), ALL_KEYS))

    def survey_key(self, node: SurveyNode, digit: str) -> None:
        q = node.questions[self.state.question]
        self.record_digits(digit)
        if digit in q.answers:
            self.survey_answer(node, digit)
            return
        key = f"{self.state.node}.{q.name}"
        used = self.state.failures.get(key, 0) + 1
        self.set(failures={**self.state.failures, key: used})
        if used >= q.attempts:
            self.survey_answer(node, None)
        else:
            self.ask_survey(node, (node.invalid_prompt,) if node.invalid_prompt else ())

    def survey_answer(self, node: SurveyNode, digit: str | None) -> None:
        q = node.questions[self.state.question]
        label = q.answers[digit] if digit is not None else None
        self.actions.append(SaveSurvey(q.name, digit, label))
        self.set(survey=(*self.state.survey, SurveyAnswer(q.name, digit, label)), question=self.state.question + 1)
        if self.state.question < len(node.questions):
            self.ask_survey(node)
        else:
            self.follow_up(node)
            self.go(node.next)

    def follow_up(self, node: SurveyNode) -> None:
        asked = {a.question: a.label for a in self.state.survey}
        hits = [f"{q}={asked[q]}" for q, labels in node.follow_up_when.items() if asked.get(q) in labels]
        if hits:
            self.open_ticket(OpenTicket(node.follow_up_ticket, "survey " + ", ".join(hits)))

    def open_ticket(self, ticket: OpenTicket) -> None:
        self.actions.append(ticket)
        self.set(tickets=(*self.state.tickets, ticket))

    def voicemail_ticket(self, node: VoicemailNode, seconds: float | None) -> None:
        left = seconds is None or seconds > 0
        self.open_ticket(OpenTicket(node.ticket, "voicemail" if left else "voicemail_empty"))
        if left:
            self.set(outcome="voicemail")

    # ---- moving between nodes

    def end(self, reason: str, outcome: Outcome | None = None, prompts: tuple[str, ...] = ()) -> None:
        if prompts:
            self.actions.append(Play(prompts))
        self.actions.append(Hangup(reason))
        self.set(phase="ended", outcome=outcome or self.state.outcome or "ivr_only", end_reason=reason)

    def go_or_end(self, target: str | None, before: tuple[str, ...] = ()) -> None:
        if target is None:  # the checker refuses such flows; never leave a caller waiting for nothing
            self.end("flow_error", "failed", before)
        else:
            self.go(target, before)

    def go(self, target: str, before: tuple[str, ...] = ()) -> None:
        """Enter `target`, passing straight through nodes that need no answer from the caller."""
        if before:
            self.actions.append(Play(before))
        flow = self.state.flow
        while True:
            if len(self.state.path) >= MAX_PATH:
                self.end("loop_guard", "failed")
                return
            node = flow.node(target)
            self.set(node=target, path=(*self.state.path, target), question=0, buffer="")
            if isinstance(node, SetNode):
                self.apply_set(node)
                target = node.next
            elif isinstance(node, BranchNode):
                target = next(
                    (c.next for c in node.cases if all(t.holds(self.state.value(a)) for a, t in c.when.items())),
                    node.default,
                )
            elif isinstance(node, ScheduleNode):
                assert self.state.started_at is not None
                result = evaluate(flow.schedules[node.schedule], self.state.started_at)
                values: dict[str, Scalar] = {"schedule": result.state, "schedule_basis": result.basis}
                self.actions.append(SetAttributes(values))
                self.set(attributes={**self.state.attributes, **values})
                edge = {"open": node.open, "closed": node.closed, "holiday": node.holiday or node.closed}
                chosen = edge[result.state]
                if chosen is None:
                    self.end("flow_error", "failed")
                    return
                target = chosen
            else:
                self.enter_waiting(node)
                return

    def apply_set(self, node: SetNode) -> None:
        s = self.state
        changed: dict[str, Scalar | tuple[str, ...]] = dict(node.attributes)
        flags = s.flags + tuple(f for f in node.flags if f not in s.flags)
        priority = s.priority
        if node.priority is not None:
            priority = node.priority
        if node.raise_priority is not None:
            priority += node.raise_priority
        if flags != s.flags:
            changed["flags"] = flags
        if priority != s.priority:
            changed["priority"] = priority
        self.set(attributes={**s.attributes, **node.attributes}, flags=flags, priority=priority)
        if changed:
            self.actions.append(SetAttributes(changed))

    def enter_waiting(self, node: object) -> None:
        s = self.state
        if isinstance(node, PlayNode):
            self.set(phase="play")
            self.actions.append(Play(tuple(node.prompts)))
        elif isinstance(node, MenuNode):
            self.ask_menu(node)
        elif isinstance(node, LanguageNode):
            self.ask_language(node)
        elif isinstance(node, CollectNode):
            self.ask_collect(node)
        elif isinstance(node, SurveyNode):
            self.ask_survey(node)
        elif isinstance(node, EnqueueNode):
            skills = list(node.skills)
            for attr in node.skills_from:
                value = s.value(attr)
                if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
                    skills.append(f"{attr}:{value}")
            announce = None
            if node.announce is not None:
                a = node.announce
                announce = Announcement(
                    a.every, a.position_prompts if a.position else None, a.wait_prompts if a.wait else None, a.offer
                )
            if node.prompt:
                self.actions.append(Play((node.prompt,)))
            self.set(phase="queue", queue=node.queue)
            self.actions.append(
                Enqueue(
                    queue=node.queue,
                    skills=tuple(dict.fromkeys(skills)),
                    priority=s.priority + node.priority,
                    max_wait=node.max_wait,
                    announce=announce,
                    exit_keys="".join(node.exit_keys),
                    hold=node.hold,
                )
            )
        elif isinstance(node, CallbackNode):
            queue = node.queue or s.queue
            number: str | None = None
            if node.number_from is not None:
                raw = s.attributes.get(node.number_from)
                number = raw if isinstance(raw, str) and raw else None
            if queue is None or (node.number_from is not None and number is None):
                self.go(node.failed)
                return
            if node.prompt:
                self.actions.append(Play((node.prompt,)))
            self.set(phase="callback")
            self.actions.append(OfferCallback(queue, number, keep_place=True))
        elif isinstance(node, VoicemailNode):
            if node.prompt:
                self.actions.append(Play((node.prompt,)))
            self.set(phase="voicemail")
            self.actions.append(RecordVoicemail(node.max_seconds))
        elif isinstance(node, TransferNode):
            if node.prompt:
                self.actions.append(Play((node.prompt,)))
            self.set(phase="transfer")
            self.actions.append(Transfer(node.number))
        elif isinstance(node, HangupNode):
            self.end("flow", None, tuple(node.prompts))
