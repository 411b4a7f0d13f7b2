"""The interpreter and the registry: callers who press nothing or nonsense always end with a person or a
message, calls keep the revision they started with, and invalid reloads keep the running flow."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

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
    FlowError,
    FlowFile,
    FlowRegistry,
    Hangup,
    InputTimeout,
    OfferCallback,
    Play,
    PlaybackDone,
    QueueOutcome,
    RecordVoicemail,
    Transfer,
    TransferFailed,
    VoicemailDone,
    load_flow,
    record,
    say_number,
    start,
    step,
)
from hotline.flow.check import check_flow_file

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "ivr_flows").glob("*.yaml"))
DAY = dt.datetime(2026, 6, 10, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
NIGHT = dt.datetime(2026, 6, 10, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
AWAITED = (Play, Collect, Enqueue, OfferCallback, RecordVoicemail, Transfer)


def answer(last: Action | None, state: CallState, key: str | None, rng: random.Random | None = None) -> Event:
    """What a caller who gives `key` to every question (None: silence) meets, in a world with no agents."""
    if isinstance(last, Play):
        return PlaybackDone(None)
    if isinstance(last, Collect):
        return DigitsCollected(key) if key else InputTimeout()
    if isinstance(last, Enqueue):
        kinds = ["no_agents", "timeout", "full"]
        return QueueOutcome(rng.choice(kinds) if rng else "no_agents")  # type: ignore[arg-type]
    if isinstance(last, OfferCallback):
        return CallbackOutcome(False)
    if isinstance(last, RecordVoicemail):
        return VoicemailDone(0)
    if isinstance(last, Transfer):
        return TransferFailed("busy")
    raise AssertionError(f"nothing to answer in phase {state.phase}: {last}")


def drive(flow: Flow, when: dt.datetime, keys: object, limit: int = 200) -> tuple[CallState, list[Action]]:
    """Run a call to its end; `keys` is a key, None, or a callable giving the next key."""
    rng = random.Random(7)
    state, actions = start(flow, when, {})
    check_batch(actions)
    seen = list(actions)
    for _ in range(limit):
        if state.ended:
            return state, seen
        key = keys() if callable(keys) else keys
        state, actions = step(state, answer(seen[-1] if seen else None, state, key, rng))  # type: ignore[arg-type]
        check_batch(actions)
        seen.extend(actions)
    raise AssertionError(f"no end after {limit} events; last nodes {state.path[-12:]}")


def check_batch(actions: tuple[Action, ...]) -> None:
    """Only the last action of a step is awaited; a Hangup is always last."""
    for a in actions[:-1]:
        assert not isinstance(a, Hangup)
        assert not isinstance(a, AWAITED) or (isinstance(a, Play) and not a.interrupt_digits), actions


def ended_well(state: CallState, actions: list[Action]) -> None:
    assert state.ended
    assert isinstance(actions[-1], Hangup) and actions[-1].reason == "flow"
    assert any(isinstance(a, Enqueue) for a in actions) or any(isinstance(a, Play) for a in actions[-2:])


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
@pytest.mark.parametrize("when", [DAY, NIGHT], ids=["day", "night"])
@pytest.mark.parametrize("key", [None, "*", "#", "7"], ids=["silence", "star", "hash", "seven"])
def test_caller_pressing_nothing_or_nonsense_reaches_a_queue_and_a_message(
    path: Path, when: dt.datetime, key: str | None
) -> None:
    state, actions = drive(load_flow(path), when, key)
    ended_well(state, actions)
    assert len(state.path) < 40


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_random_callers_always_end(path: Path) -> None:
    flow = load_flow(path)
    rng = random.Random(12348)
    for _ in range(300):
        keys = lambda: rng.choice([None, *"0123456789*#", "13912345678", "123"])  # noqa: E731
        _, actions = drive(flow, rng.choice([DAY, NIGHT]), keys, limit=400)
        assert isinstance(actions[-1], Hangup)


def test_events_out_of_place_change_nothing() -> None:
    flow = load_flow(ROOT / "ivr_flows/yunnan_12348.yaml")
    state, _ = start(flow, DAY)
    for event in (QueueOutcome("connected"), CallbackOutcome(True), VoicemailDone(3), TransferFailed()):
        assert step(state, event) == (state, ())


def test_after_hangup_nothing_happens() -> None:
    flow = load_flow(ROOT / "ivr_flows/yunnan_12348.yaml")
    state, _ = start(flow, DAY)
    state, actions = step(state, CallerHungUp())
    assert state.ended and state.outcome == "ivr_only" and actions == ()
    assert step(state, PlaybackDone(None)) == (state, ())


def test_record_keeps_flow_revision_path_digits_and_hides_typed_numbers() -> None:
    flow = load_flow(ROOT / "ivr_flows/yunnan_12348.yaml")
    state, _ = start(flow, DAY, {"caller_kind": "mobile"})
    events: list[Event] = [
        PlaybackDone(None),  # welcome
        PlaybackDone("1"),  # language, barge-in
        PlaybackDone("3"),  # main menu: mediation
        QueueOutcome("exit_key", "1"),
        PlaybackDone("2"),  # callback to another number
        PlaybackDone("1"),  # first digit typed during the prompt
        DigitsCollected("3912345678#"),
    ]
    for event in events:
        state, actions = step(state, event)
    assert isinstance(actions[-1], OfferCallback) and actions[-1].number == "13912345678"
    rec = record(state)
    assert (rec.flow_id, rec.flow_revision) == ("yunnan_12348", 1)
    assert rec.node_path[-2:] == ("callback_number", "callback_other_number")
    assert rec.digits == "language=1 main_menu=3 mediation_queue=1 callback_confirm=2 callback_number=139****5678"
    assert "callback_number" not in rec.attributes
    assert "13912345678" not in repr(rec) and "13912345678" not in repr(actions[-1])


def test_naive_start_time_is_refused() -> None:
    flow = load_flow(ROOT / "ivr_flows/yunnan_12348.yaml")
    with pytest.raises(ValueError, match="aware"):
        start(flow, dt.datetime(2026, 6, 10, 10, 0))


SMALL = """\
format: 1
id: small
revision: {revision}
entry: who
queues: [desk]
nodes:
  who:
    type: branch
    cases:
      - when: {{prefecture: {{equals: "530100"}}, flags: {{contains: vip}}}}
        next: desk
      - when: {{caller_kind: {{in: [withheld, other]}}}}
        next: danger
    default: hello
  hello:
    type: play
    prompts: [{hello}]
    next: danger
  danger:
    type: transfer
    number: "110"
    prompt: hello
    failed: desk
  desk:
    type: enqueue
    queue: desk
    after: bye
    timeout: bye
    no_agents: bye
  bye:
    type: hangup
    prompts: [hello]
"""


def small(tmp_path: Path, revision: int = 1, hello: str = "hello") -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL.format(revision=revision, hello=hello), encoding="utf-8")
    return path


def load_small(path: Path) -> Flow:
    flow, problems = check_flow_file(path, known_prompts={"hello", "hello2"})
    assert flow is not None, problems
    return flow


def test_branch_on_attributes_and_transfer_to_110(tmp_path: Path) -> None:
    flow = load_small(small(tmp_path))
    state, actions = start(flow, DAY, {"caller_kind": "withheld"})
    assert state.path == ("who", "danger") and actions == (Play(("hello",)), Transfer("110"))
    failed, actions = step(state, TransferFailed("486"))
    assert failed.path[-1] == "desk" and isinstance(actions[-1], Enqueue)
    gone, _ = step(state, CallerHungUp())
    assert gone.outcome == "transferred"
    state, _ = start(flow, DAY, {"caller_kind": "mobile", "prefecture": "530100"})
    assert state.path == ("who", "hello")


def test_registry_swaps_revisions_and_calls_keep_theirs(tmp_path: Path) -> None:
    path = small(tmp_path)
    registry = FlowRegistry(known_prompts={"hello", "hello2"})
    registry.load([path])
    old = registry.get("small")
    call, _ = start(old, DAY, {"caller_kind": "mobile"})

    small(tmp_path, revision=2, hello="hello2")
    report = registry.reload([path])
    assert report.ok and [(s.old_revision, s.new_revision) for s in report.swapped] == [(1, 2)]
    assert registry.get("small").revision == 2
    call, _ = step(call, PlaybackDone(None))
    assert call.flow is old and record(call).flow_revision == 1

    assert registry.reload([path]).unchanged == ["small"]


def test_invalid_reload_keeps_the_running_flow_and_says_why(tmp_path: Path) -> None:
    path = small(tmp_path)
    registry = FlowRegistry(known_prompts={"hello"})
    registry.load([path])
    running = registry.get("small")
    small(tmp_path, revision=2, hello="missing_prompt")
    report = registry.reload([path])
    assert not report.ok and registry.get("small") is running
    assert "missing_prompt" in report.summary() and "kept" in report.summary()


def test_changed_flow_with_same_revision_is_refused(tmp_path: Path) -> None:
    path = small(tmp_path)
    registry = FlowRegistry(known_prompts={"hello", "hello2"})
    registry.load([path])
    small(tmp_path, revision=1, hello="hello2")
    report = registry.reload([path])
    assert not report.ok and "raise the revision" in report.summary()
    assert registry.get("small").file.nodes["hello"].prompts == ["hello"]  # type: ignore[union-attr]


def test_start_up_with_an_invalid_flow_is_refused(tmp_path: Path) -> None:
    registry = FlowRegistry(known_prompts={"hello"})
    with pytest.raises(FlowError, match="missing_prompt"):
        registry.load([small(tmp_path, hello="missing_prompt")])
    assert dict(registry.snapshot()) == {}


def test_loop_guard_ends_a_call_that_the_checker_would_not_have_let_through() -> None:
    file = FlowFile.model_validate(
        {
            "format": 1,
            "id": "spin",
            "revision": 1,
            "entry": "q",
            "queues": ["desk"],
            "nodes": {
                "q": {"type": "enqueue", "queue": "desk", "after": "q", "timeout": "q", "no_agents": "q"},
            },
        }
    )
    state, _ = start(Flow(file=file), DAY)
    for _ in range(1000):
        state, actions = step(state, QueueOutcome("no_agents"))
        if state.ended:
            break
    assert state.ended and state.outcome == "failed" and actions == (Hangup("loop_guard"),)


@pytest.mark.parametrize(
    ("n", "spoken"),
    [(0, "0"), (7, "7"), (10, "10"), (12, "10 2"), (30, "3 10"), (105, "1 100 0 5"), (1010, "1 1000 0 1 10")],
)
def test_numbers_are_said_in_mandarin(n: int, spoken: str) -> None:
    assert say_number(n) == tuple(f"num_{w}" for w in spoken.split())
