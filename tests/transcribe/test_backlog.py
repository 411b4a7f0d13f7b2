"""Post-call transcription of stereo recordings (left = caller, right = agent), oldest first."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import asyncpg

from hotline.transcribe import backlog
from hotline.transcribe.models import ModelPool
from tests.support.audio import silence, speak, stereo
from tests.support.transcribe import new_call


async def add_recording(pg: asyncpg.Pool, call_id: object, path: Path, ended_ago: float) -> int:
    ended = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=ended_ago)
    rid: int = await pg.fetchval(
        "INSERT INTO recordings (call_id, path, channels, sample_rate, started_at, ended_at)"
        " VALUES ($1, $2, 2, 8000, $3, $4) RETURNING id",
        call_id,
        str(path),
        ended - dt.timedelta(seconds=30),
        ended,
    )
    return rid


async def test_backlog_transcribes_both_channels_oldest_first_and_reports_its_size(
    models: ModelPool, pg: asyncpg.Pool, tmp_path: Path
) -> None:
    caller = speak("안녕하세요", tmp_path / "caller.wav", 8000)
    agent = speak("감사합니다 네", tmp_path / "agent.wav", 8000, lead_silence=0.5)
    old_wav = stereo(caller, agent, tmp_path / "old.wav")
    new_wav = stereo(silence(tmp_path / "silence.wav", 1.0), agent, tmp_path / "new.wav")

    new_call_id = await new_call(pg)
    old_call_id = await new_call(pg)
    await add_recording(pg, new_call_id, new_wav, ended_ago=60)
    old_rec = await add_recording(pg, old_call_id, old_wav, ended_ago=600)

    before = await backlog.stats(pg)
    assert before.calls == 2
    assert 590 < before.oldest_seconds < 700

    done = await backlog.run_once(pg, models)

    assert [i.call_id for i in done] == [old_call_id, new_call_id]
    rows = await pg.fetch("SELECT * FROM transcripts WHERE call_id = $1 ORDER BY channel, start_ms", old_call_id)
    by_channel = {ch: [r for r in rows if r["channel"] == ch] for ch in ("caller", "agent")}
    assert by_channel["caller"] and by_channel["agent"]
    assert {r["source"] for r in rows} == {"batch"}
    assert {r["recording_id"] for r in rows} == {old_rec}
    assert by_channel["agent"][0]["start_ms"] >= 350  # the agent leg starts after half a second of silence
    new_rows = await pg.fetch("SELECT channel FROM transcripts WHERE call_id = $1", new_call_id)
    assert {r["channel"] for r in new_rows} == {"agent"}  # the caller leg was silent
    after = await backlog.stats(pg)
    assert (after.calls, after.oldest_seconds) == (0, 0.0)


async def test_call_with_a_failed_live_stream_is_retranscribed_and_its_live_rows_replaced(
    models: ModelPool, pg: asyncpg.Pool, tmp_path: Path
) -> None:
    caller = speak("안녕하세요", tmp_path / "caller.wav", 8000)
    wav = stereo(caller, caller, tmp_path / "call.wav")
    call_id = await new_call(pg)
    await pg.execute(
        "INSERT INTO transcripts (call_id, channel, start_ms, end_ms, text, source)"
        " VALUES ($1, 'caller', 0, 1, 'x', 'live')",
        call_id,
    )
    await add_recording(pg, call_id, wav, ended_ago=5)
    assert (await backlog.stats(pg)).calls == 0  # a live transcript exists and nothing failed
    await pg.execute(
        "INSERT INTO transcription_state (call_id, live_failed, live_failed_at)"
        " VALUES ($1, 'agent stream failed', now())",
        call_id,
    )
    assert (await backlog.stats(pg)).calls == 1

    await backlog.run_once(pg, models)

    rows = await pg.fetch("SELECT channel, source FROM transcripts WHERE call_id = $1", call_id)
    assert {(r["channel"], r["source"]) for r in rows} == {("caller", "batch"), ("agent", "batch")}


async def test_unreadable_recording_is_marked_failed_and_does_not_block_the_backlog(
    models: ModelPool, pg: asyncpg.Pool, tmp_path: Path
) -> None:
    call_id = await new_call(pg)
    await add_recording(pg, call_id, tmp_path / "gone.wav", ended_ago=5)
    await backlog.run_once(pg, models)
    error = await pg.fetchval("SELECT batch_error FROM transcription_state WHERE call_id = $1", call_id)
    assert "gone.wav" in error
    assert (await backlog.stats(pg)).calls == 0
