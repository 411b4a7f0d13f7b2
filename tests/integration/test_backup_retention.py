"""Retention deletes each data class after its period and audits it; `hotline backup` and `hotline restore` make a
round trip (database and recordings), refuse a damaged backup and a database that is not empty."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import uuid
import wave
from pathlib import Path

import asyncpg

from db import calls
from tests.support.cli import hotline
from tests.support.database import create_database, drop_database

NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
RETENTION = {
    "HOTLINE_RETENTION_RECORDINGS_DAYS": "30",
    "HOTLINE_RETENTION_TRANSCRIPTS_DAYS": "30",
    "HOTLINE_RETENTION_CALL_RECORDS_DAYS": "365",
    "HOTLINE_RETENTION_AUDIT_DAYS": "365",
    "HOTLINE_CLOCK": NOW.isoformat(),
}


def wav(path: Path, seconds: float = 1.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(4 * int(8000 * seconds)))
    return path


async def a_call(
    conn: asyncpg.Connection, started: dt.datetime, recording: Path | None, *, hold: bool = False
) -> uuid.UUID:
    call_id = uuid.uuid4()
    columns = calls.CallerColumns("139****2345", "mobile", b"\x01" * 32, b"\x02" * 40, "530100", "云南省")
    await calls.open_call(conn, columns, sip_call_id=f"ret-{call_id}", cell="cell1", call_id=call_id, at=started)
    ended = started + dt.timedelta(minutes=3)
    if recording is not None:
        data = await asyncio.to_thread(recording.read_bytes)
        await calls.add_recording(
            conn, call_id, str(recording), 2, 8000, 1.0, len(data), hashlib.sha256(data).hexdigest(), at=ended
        )
        if hold:
            await conn.execute("UPDATE recordings SET retain_until = '2027-12-31' WHERE call_id = $1", call_id)
        await conn.execute(
            "INSERT INTO transcripts (call_id, channel, start_ms, end_ms, text, source, created_at) "
            "VALUES ($1, 'caller', 0, 900, '我想咨询工资的事', 'batch', $2)",
            call_id,
            ended,
        )
    await calls.end(conn, call_id, "answered", at=ended)
    await conn.execute(
        "INSERT INTO tickets (number, call_id, caller_masked, facts, created_at, updated_at) "
        "VALUES ($1, $2, '139****2345', 'x', $3, $3)",
        f"YN-{started:%Y%m%d}-{uuid.uuid4().int % 1000000:06d}",
        call_id,
        started,
    )
    return call_id


async def test_retention_deletes_each_class_after_its_period_and_audits_it(db: str, tmp_path: Path) -> None:
    conn = await asyncpg.connect(db)
    try:
        recent = await a_call(conn, NOW - dt.timedelta(days=2), wav(tmp_path / "rec" / "recent.wav"))
        middle = await a_call(conn, NOW - dt.timedelta(days=90), wav(tmp_path / "rec" / "middle.wav"))
        ancient = await a_call(conn, NOW - dt.timedelta(days=800), wav(tmp_path / "rec" / "ancient.wav"))
        held = await a_call(conn, NOW - dt.timedelta(days=800), wav(tmp_path / "rec" / "held.wav"), hold=True)
        await conn.execute(
            "INSERT INTO audit_log (at, actor, action, object_type) VALUES ($1, 'x', 'read', 'call')",
            NOW - dt.timedelta(days=400),
        )
    finally:
        await conn.close()

    result = await asyncio.to_thread(hotline, db, "retention", "run", **RETENTION)

    assert result.returncode == 0, result.stderr
    assert "recordings 2 (files 2)" in result.stdout and "call records 1" in result.stdout, result.stdout
    conn = await asyncpg.connect(db)
    try:
        kept_calls = {r["id"] for r in await conn.fetch("SELECT id FROM calls")}
        assert kept_calls == {recent, middle, held}
        assert {r["call_id"] for r in await conn.fetch("SELECT call_id FROM recordings")} == {recent, held}
        assert {r["call_id"] for r in await conn.fetch("SELECT call_id FROM transcripts")} == {recent, held}
        orphan = await conn.fetchval("SELECT count(*) FROM tickets WHERE call_id IS NULL")
        assert orphan == 1, "the deleted call's work order stays, without its call"
        assert await conn.fetchval("SELECT count(*) FROM call_events WHERE call_id = $1", ancient) == 0
        audit = await conn.fetch("SELECT object_type, detail FROM audit_log WHERE actor = 'retention' ORDER BY id")
        assert {r["object_type"]: json.loads(r["detail"])["count"] for r in audit} == {
            "recordings": 2,
            "transcripts": 2,
            "call_records": 1,
            "audit_log": 1,
        }
    finally:
        await conn.close()
    assert not (tmp_path / "rec" / "middle.wav").exists() and not (tmp_path / "rec" / "ancient.wav").exists()
    assert (tmp_path / "rec" / "recent.wav").exists() and (tmp_path / "rec" / "held.wav").exists()

    again = await asyncio.to_thread(hotline, db, "retention", "run", **RETENTION)
    assert again.returncode == 0 and "recordings 0 (files 0)" in again.stdout, again.stdout


async def test_backup_and_restore_round_trip(db: str, tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    conn = await asyncpg.connect(db)
    try:
        call_id = await a_call(conn, NOW - dt.timedelta(days=1), wav(recordings / "2026-12-06" / "a.wav", 2.0))
        before = await conn.fetchval("SELECT count(*) FROM call_events")
    finally:
        await conn.close()
    env = {"HOTLINE_SIP_RECORDINGS_DIR": str(recordings), "HOTLINE_CLOCK": NOW.isoformat()}

    made = await asyncio.to_thread(hotline, db, "backup", "--out", str(tmp_path / "backups"), **env)

    assert made.returncode == 0, made.stderr
    (folder,) = list((tmp_path / "backups").iterdir())
    assert folder.name == "hotline-backup-20261207T100000Z"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["recordings"] == 1 and set(manifest["files"]) == {"database.dump", "recordings.tar"}
    assert "password" not in (folder / "manifest.json").read_text() and "hotline:hotline" not in str(manifest)

    name = f"hotline_restore_{uuid.uuid4().hex[:10]}"
    target = await create_database(name)
    try:
        restored_dir = tmp_path / "restored"
        env_restore = {"HOTLINE_SIP_RECORDINGS_DIR": str(restored_dir)}
        done = await asyncio.to_thread(hotline, target, "restore", str(folder), **env_restore)
        assert done.returncode == 0, done.stderr
        conn = await asyncpg.connect(target)
        try:
            assert await conn.fetchval("SELECT count(*) FROM call_events") == before
            assert await conn.fetchval("SELECT count(*) FROM calls WHERE id = $1", call_id) == 1
        finally:
            await conn.close()
        original = (recordings / "2026-12-06" / "a.wav").read_bytes()
        assert (restored_dir / "2026-12-06" / "a.wav").read_bytes() == original
        status = await asyncio.to_thread(hotline, target, "migrate", "--status")
        assert "pending: none" in status.stdout or status.returncode == 0, status.stdout

        again = await asyncio.to_thread(hotline, target, "restore", str(folder), **env_restore)
        assert again.returncode != 0 and "already has" in again.stderr and "--replace" in again.stderr
        assert "Traceback" not in again.stderr
        replaced = await asyncio.to_thread(hotline, target, "restore", str(folder), "--replace", **env_restore)
        assert replaced.returncode == 0, replaced.stderr

        with (folder / "recordings.tar").open("r+b") as f:  # one flipped byte
            f.seek(600)
            byte = f.read(1)
            f.seek(600)
            f.write(bytes([byte[0] ^ 0xFF]))
        damaged = await asyncio.to_thread(hotline, target, "restore", str(folder), "--replace", **env_restore)
        assert damaged.returncode != 0 and "recordings.tar does not match its checksum" in damaged.stderr
        missing = await asyncio.to_thread(hotline, target, "restore", str(tmp_path / "nowhere"))
        assert missing.returncode != 0 and "has no manifest.json" in missing.stderr
    finally:
        await drop_database(name)
