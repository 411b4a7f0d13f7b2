"""Live transcription end to end: `hotline up` runs the transcription service (the Korean model from PyPI) as a
supervised child, the cells stream both legs of real calls to it, and without a model the calls are marked for
the post-call backlog, which `hotline transcribe` works through."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from hotline.transcribe.models import ModelPool
from tests.support.audio import speak
from tests.support.cli import finish, popen
from tests.support.ports import free_port
from tests.support.stack import CALLER, Stack, logged_in_agent, registered_poor_caller, select, select_until, wait_ended
from tests.support.transcribe import korean_model_path

pytestmark = [pytest.mark.sip, pytest.mark.timeout(300)]


@pytest.fixture
def stack_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    with_model = getattr(request, "param", "with_model") == "with_model"
    model = korean_model_path() if with_model else tmp_path / "vosk-model-cn-missing"
    # The Korean model writes Hangul whatever espeak-ng's speech sounds like to it on a given run: the taxonomy of
    # this run makes any Hangul word a labour dispute and a personal-safety risk, so the live detector and the
    # post-call tagger have words to act on (the Chinese rules are tested on Chinese text in tests/unit).
    taxonomy = tmp_path / "taxonomy.yaml"
    taxonomy.write_text(
        "version: 1\n"
        'legal_area:\n  labels:\n    劳动争议:\n      patterns: {"[가-힣]+": 3}\n'
        'flags:\n  labels:\n    人身安全风险:\n      min_score: 3\n      patterns: {"[가-힣]+": 3}\n',
        encoding="utf-8",
    )
    return {
        "HOTLINE_TRANSCRIBE_TAXONOMY": str(taxonomy),
        "HOTLINE_TRANSCRIBE_MODEL_PATH": str(model),
        "HOTLINE_TRANSCRIBE_PORT": str(free_port()),
        "HOTLINE_TRANSCRIBE_LIVE_STREAMS": "4",
        "HOTLINE_TRANSCRIBE_BACKLOG_INTERVAL": "2",
    }


def _talk(stack: Stack, name: str, text: str) -> None:
    """What a sipp party says, looped: Korean speech from espeak-ng as raw A-law with a second of silence."""
    wav = speak(text, stack.tmp / f"{name}.wav", 8000)
    out = stack.tmp / f"{name}.al"
    subprocess.run(["sox", str(wav), "-t", "al", "-r", "8000", "-c", "1", str(out), "pad", "0", "1"], check=True)


async def _transcriber(stack: Stack, state: str, limit: float = 60) -> dict[str, Any]:
    """The transcriber's entry in /healthz once it is in ``state`` (the engine's entries appear after start)."""
    deadline = time.monotonic() + limit
    while (entry := stack.health().get("transcriber")) is None or entry["state"] != state:  # type: ignore[index]
        assert time.monotonic() < deadline, f"transcriber not {state}: {entry}"
        await asyncio.sleep(0.5)
    return entry  # type: ignore[return-value]


@pytest.mark.parametrize("stack_env", ["with_model"], indirect=True)
async def test_a_bridged_call_ends_transcribed_live_on_both_legs_tagged_scored_with_its_work_order_filled(
    stack: Stack,
) -> None:
    await _transcriber(stack, "running")
    _talk(stack, "caller", "대한민국")
    _talk(stack, "agent", "안녕하세요 감사합니다")
    await logged_in_agent(stack, "lawyer01", "agent-password-1")
    await registered_poor_caller(stack)
    phone = stack.phone("agent_talk", "lawyer01", "agent-password-1")
    try:
        done = stack.sipp("caller_talk", 1, "-d", "50000", timeout=120, keys={"caller": CALLER})
        assert done.returncode == 0, done.stdout[-2000:]
    finally:
        stack.done(phone, "an agent phone")
    await wait_ended(stack.db, 1)
    (call,) = await select(stack.db, "SELECT id, answered_at, outcome FROM calls")
    assert call["outcome"] == "answered"
    (state,) = await select_until(
        stack.db,
        "SELECT live_failed, live_done_at FROM transcription_state WHERE call_id = $1 AND live_done_at IS NOT NULL",
        call["id"],
        limit=15,
        what="the live transcript was not marked done",
    )
    assert state["live_failed"] is None

    rows = await select(stack.db, "SELECT channel, start_ms, source FROM transcripts WHERE call_id = $1", call["id"])
    assert {r["source"] for r in rows} == {"live"}  # and the backlog left the call alone
    starts = {ch: sorted(r["start_ms"] for r in rows if r["channel"] == ch) for ch in ("caller", "agent")}
    assert starts["caller"] and starts["agent"], starts
    (connect,) = await select(
        stack.db, "SELECT at FROM call_events WHERE call_id = $1 AND event = 'CONNECT'", call["id"]
    )
    bridged_ms = (connect["at"] - call["answered_at"]).total_seconds() * 1000
    assert starts["caller"][0] < bridged_ms  # the caller talked from the start...
    assert starts["agent"][0] > bridged_ms - 1000  # ...the agent only once bridged, on the call's timeline

    (rec,) = await select(stack.db, "SELECT path FROM recordings WHERE call_id = $1", call["id"])
    models = ModelPool(korean_model_path(), workers=1)
    await models.start()
    try:
        batch = await models.transcribe_wav(Path(rec["path"]))
    finally:
        models.shutdown()
    for channel in ("caller", "agent"):
        first = min(round(w["start"] * 1000) for r in batch[channel] for w in r.get("result", []))
        assert abs(first - starts[channel][0]) <= 300, (channel, first, starts[channel][0])  # the recording agrees

    # After the call: the analysis (run by the transcription service) tags it, fills its work order and scores it.
    (analysed,) = await select_until(
        stack.db,
        "SELECT error FROM analysis_state WHERE call_id = $1 AND done_at IS NOT NULL",
        call["id"],
        limit=30,
        what="the call was not analysed",
    )
    assert analysed["error"] is None
    tags = await select(stack.db, "SELECT kind, value, source FROM tags WHERE call_id = $1", call["id"])
    found = {(t["kind"], t["value"], t["source"]) for t in tags}
    assert {("flag", "人身安全风险", "live"), ("legal_area", "劳动争议", "tagger")} <= found, found
    assert ("service", "法律援助", "flow") in found  # the caller pressed 2
    (ticket,) = await select(
        stack.db,
        "SELECT t.id, t.legal_area, t.service, t.flags, t.priority, a.username FROM tickets t "
        "JOIN agents a ON a.id = t.assignee_id WHERE t.call_id = $1",
        call["id"],
    )
    assert (ticket["legal_area"], ticket["service"], ticket["priority"], ticket["username"]) == (
        "劳动争议",
        "法律援助",
        "urgent",
        "lawyer01",
    )
    assert "人身安全风险" in ticket["flags"]
    suggested = await select(
        stack.db, "SELECT field, value, source, status FROM ticket_suggestions WHERE ticket_id = $1", ticket["id"]
    )
    assert ("legal_area", "劳动争议", "tagger", "suggested") in {tuple(r) for r in suggested}, suggested
    (qa,) = await select(stack.db, "SELECT score, items FROM qa_results WHERE call_id = $1", call["id"])
    assert 0 <= qa["score"] < 100 and "greeting" in qa["items"]  # the agent's Korean is no 您好

    os.kill((await _transcriber(stack, "running"))["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while (h := await _transcriber(stack, "running"))["restarts"] != 1:
        assert time.monotonic() < deadline, f"the transcription service was not restarted: {h}"
        await asyncio.sleep(0.5)


@pytest.mark.parametrize("stack_env", ["without_model"], indirect=True)
async def test_without_a_model_calls_are_marked_for_the_backlog_which_hotline_transcribe_catches_up(
    stack: Stack,
) -> None:
    missing = stack.env["HOTLINE_TRANSCRIBE_MODEL_PATH"]
    assert f"transcription is off: Vosk model path {missing} does not exist" in stack.log
    await _transcriber(stack, "off")
    assert stack.health()["status"] == "ok"  # recordings wait for the backlog: not a fault
    _talk(stack, "caller", "대한민국")
    done = stack.sipp("caller_talk", 1, "-d", "6000", timeout=60, keys={"caller": CALLER})
    assert done.returncode == 0, done.stdout[-2000:]
    await wait_ended(stack.db, 1)
    (call,) = await select(stack.db, "SELECT id FROM calls")
    (state,) = await select_until(
        stack.db,
        "SELECT live_failed FROM transcription_state WHERE call_id = $1 AND live_failed IS NOT NULL",
        call["id"],
        limit=10,
        what="the call was not marked for the backlog",
    )
    url = f"ws://127.0.0.1:{stack.env['HOTLINE_TRANSCRIBE_PORT']}/asr"
    assert state["live_failed"].startswith(f"caller stream: transcription service at {url} unreachable")

    env = {**stack.env, "HOTLINE_TRANSCRIBE_MODEL_PATH": str(korean_model_path())}
    env["HOTLINE_TRANSCRIBE_PORT"] = str(free_port())
    service = popen(stack.db, "transcribe", **env)
    try:
        await select_until(
            stack.db,
            "SELECT 1 FROM transcription_state WHERE call_id = $1 AND batch_done_at IS NOT NULL",
            call["id"],
            limit=60,
            what="hotline transcribe did not transcribe the recording",
        )
    finally:
        service.send_signal(signal.SIGINT)
        code, err = finish(service, 30)
    assert code == 0, err[-2000:]
    rows = await select(stack.db, "SELECT channel, source FROM transcripts WHERE call_id = $1", call["id"])
    assert rows and {(r["channel"], r["source"]) for r in rows} == {("caller", "batch")}
