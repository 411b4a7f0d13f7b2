"""Golden call scripts: drive the interpreter with a caller's keys, silences and hang-ups and the queue's
outcomes, and compare the node path, outcome, survey answers and work orders with what the script expects.

Script format (``tests/flows/*.yaml``)::

    name: what the call shows
    flow: ivr_flows/yunnan_12348.yaml      # default; flows made for one script are in tests/flows/flows/
    start: 2026-06-10T10:00:00+08:00       # with its offset
    caller: {caller_kind: mobile, registry: 建档立卡}
    inputs:                                # consumed in order, each when the call waits for one
      - press: "1"        # keys for a Collect (a menu, a number); in a queue: an exit key
      - barge: "1"        # a key pressed during a prompt (interrupts the Play)
      - silence           # the Collect times out
      - queue: connected  # or agent_done, timeout, no_agents, full
      - callback: ok      # or failed
      - voicemail: 30     # seconds recorded
      - transfer: failed
      - hangup
    expect: {path: [...], outcome: answered, enqueue: {...}, survey: {...}, tickets: [...], ...}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast, get_args

import pytest
import yaml

from hotline.flow import (
    Action,
    CallbackOutcome,
    CallerHungUp,
    CallState,
    Collect,
    DigitsCollected,
    Enqueue,
    Event,
    Flow,
    Hangup,
    InputTimeout,
    OfferCallback,
    OpenTicket,
    Play,
    PlaybackDone,
    QueueOutcome,
    RecordVoicemail,
    SaveSurvey,
    SetAttributes,
    Transfer,
    TransferFailed,
    VoicemailDone,
    load_flow,
    record,
    start,
    step,
)
from hotline.flow.events import QueueOutcomeKind

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCRIPTS = sorted(HERE.glob("*.yaml"))
MAX_EVENTS = 300
AWAITED = (Play, Collect, Enqueue, OfferCallback, RecordVoicemail, Transfer)

_flows: dict[Path, Flow] = {}


def flow_at(path: Path) -> Flow:
    """A flow with the shipped prompts and schedules, wherever the file is (tests/flows/flows/ holds flows
    made for one script)."""
    if path not in _flows:
        shipped = ROOT / "ivr_flows"
        _flows[path] = load_flow(path, prompt_dir=shipped / "prompts", schedule_dir=shipped / "schedules")
    return _flows[path]


@dataclass
class Transcript:
    """Everything the adapter would have been asked to do during one call."""

    state: CallState
    actions: list[Action] = field(default_factory=list)

    def of(self, kind: type[Any]) -> list[Any]:
        return [a for a in self.actions if isinstance(a, kind)]


def check_batch(actions: tuple[Action, ...]) -> None:
    """Only the last action of a step may be awaited; Hangup, when present, is last."""
    for a in actions[:-1]:
        assert not isinstance(a, Hangup), f"Hangup before the end of a step: {actions}"
        assert not isinstance(a, AWAITED) or (isinstance(a, Play) and a.interrupt_digits == ""), (
            f"an awaited action {a} is not the last of its step: {actions}"
        )


def _input_kind(item: object) -> tuple[str, Any]:
    if isinstance(item, str):
        return item, None
    if isinstance(item, Mapping) and len(item) == 1:
        ((k, v),) = item.items()
        return str(k), v
    raise AssertionError(f"script input {item!r} is not understood")


def _event_for(last: Action | None, state: CallState, item: Any) -> tuple[Event, bool]:
    """The event answering the last action; the bool says whether the script input was consumed."""
    kind, value = _input_kind(item) if item is not None else ("<end of inputs>", "")
    value = "" if value is None else value
    if kind == "hangup":
        return CallerHungUp(), True
    if isinstance(last, Play):
        if kind == "barge" and str(value) in last.interrupt_digits:
            return PlaybackDone(str(value)), True
        return PlaybackDone(None), False
    if isinstance(last, Collect):
        if kind == "press":
            return DigitsCollected(str(value)), True
        if kind == "silence":
            return InputTimeout(), True
    if isinstance(last, Enqueue) or (last is None and state.phase == "connected"):
        if kind == "queue":
            assert value in get_args(QueueOutcomeKind), f"unknown queue outcome {value!r}"
            return QueueOutcome(cast(QueueOutcomeKind, value)), True
        if kind == "press":
            return QueueOutcome("exit_key", str(value)), True
    if isinstance(last, OfferCallback) and kind == "callback":
        return CallbackOutcome(value == "ok"), True
    if isinstance(last, RecordVoicemail) and kind == "voicemail":
        return VoicemailDone(float(value)), True
    if isinstance(last, Transfer) and kind == "transfer":
        return TransferFailed(str(value)), True
    raise AssertionError(
        f"the call waits on {last} (phase {state.phase}, node {state.node}) but the script gives {item!r}"
    )


def run_script(flow: Flow, at: dt.datetime, caller: Mapping[str, Any], inputs: list[Any]) -> Transcript:
    state, actions = start(flow, at, caller)
    check_batch(actions)
    t = Transcript(state, list(actions))
    last: Action | None = actions[-1] if actions else None
    pending = list(inputs)
    for _ in range(MAX_EVENTS):
        if state.ended:
            break
        event, consumed = _event_for(last, state, pending[0] if pending else None)
        if consumed:
            pending.pop(0)
        state, actions = step(state, event)
        check_batch(actions)
        t.actions.extend(actions)
        if actions:
            last = actions[-1]
        elif isinstance(event, QueueOutcome) and event.kind == "connected":
            last = None
    else:
        raise AssertionError(f"the call did not end after {MAX_EVENTS} events: path {state.path[-20:]}")
    assert not pending, f"the call ended ({state.end_reason}) with inputs left over: {pending}"
    t.state = state
    return t


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_golden_call_follows_expected_path(script: Path) -> None:
    spec = _load(script)
    flow = flow_at(ROOT / spec.get("flow", "ivr_flows/yunnan_12348.yaml"))
    at = spec["start"]
    if isinstance(at, str):
        at = dt.datetime.fromisoformat(at)
    assert isinstance(at, dt.datetime) and at.tzinfo is not None, "start needs a time zone offset"
    t = run_script(flow, at, spec.get("caller", {}), list(spec.get("inputs", [])))
    expect = spec["expect"]
    rec = record(t.state)

    assert list(rec.node_path) == expect["path"]
    assert rec.outcome == expect["outcome"]
    assert rec.flow_id == flow.id and rec.flow_revision == flow.revision
    if "digits" in expect:
        assert rec.digits == expect["digits"]
    if "enqueue" in expect:
        enqueued = t.of(Enqueue)
        assert enqueued, "the call never reached a queue"
        last = enqueued[-1]
        want = expect["enqueue"]
        assert last.queue == want["queue"]
        assert last.priority == want.get("priority", 0)
        assert list(last.skills) == want.get("skills", [])
    else:
        assert not t.of(Enqueue), f"unexpected queue: {t.of(Enqueue)}"
    surveyed = {s.question: s.label for s in t.of(SaveSurvey)}
    assert surveyed == expect.get("survey", {})
    tickets = [{"kind": o.kind, "reason": o.reason} for o in t.of(OpenTicket)]
    assert tickets == expect.get("tickets", [])
    if "flags" in expect:
        assert sorted(rec.flags) == sorted(expect["flags"])
    for name, value in expect.get("attributes", {}).items():
        assert rec.attributes.get(name) == value, f"attribute {name}"
    if "callback" in expect:
        offers = t.of(OfferCallback)
        assert [(o.queue, o.number) for o in offers] == [tuple(x) for x in expect["callback"]]
    if "prompts" in expect:
        played = [p for a in t.of(Play) for p in a.prompts]
        for prompt in expect["prompts"]:
            assert prompt in played, f"prompt {prompt} was not played"
    set_values = [dict(a.values) for a in t.of(SetAttributes)]
    assert all(isinstance(v, dict) for v in set_values)


def test_every_golden_script_is_run() -> None:
    assert len(SCRIPTS) >= 12
