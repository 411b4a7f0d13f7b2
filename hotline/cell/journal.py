"""The durable write path of a process: call records reach PostgreSQL, or a local journal until they can.

Every write a cell must not lose (a call opened, its events, its path through the IVR, the answer, survey answers,
the recording, the close) goes through `DurableWriter.write`. While the database answers, the write is applied at
once. When it does not (connection refused or lost, no answer within `journal.write_timeout_s`), the write is
appended to the process's journal, `<journal.dir>/<process>.jsonl`: one JSON line per write, fsync'd before
`write` returns, carrying its own id (`w`) and its true time (`at`, the wall clock when it happened). From then
on, later writes queue behind it in the same file, so the order of a call's writes never changes; a background
task replays the journal in order once the database is back, each write in its own transaction, and truncates
the file when it is drained. Replaying a write twice changes nothing (db.calls keys every write: the call's id,
the event's write id, the recording's path, the survey's question), so a crash between applying a write and
recording that it was applied is harmless. A process that restarts replays what it left.

The journal is bounded (`journal.max_mb`): past it, writes are refused, logged and counted. The alarm metric
`hotline_journal_bytes` rises long before that. Nothing here reads a caller's number: calls are opened with the
columns db.calls derives (HMAC, ciphertext, masked form).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
from prometheus_client import Counter, Gauge

from db import agents, callbacks, calls, queues, tickets
from db.pool import UNREACHABLE
from hotline.clock import SYSTEM, Clock
from hotline.events import CallEvent
from hotline.metrics import guarded

log = logging.getLogger(__name__)

PENDING = Gauge(
    "hotline_journal_pending",
    "Writes waiting in the journal for the database",
    ["process"],
    multiprocess_mode="livesum",
)
BYTES = Gauge("hotline_journal_bytes", "Size of the journal file", ["process"], multiprocess_mode="livesum")
OLDEST = Gauge(
    "hotline_journal_oldest_seconds",
    "Age of the oldest write waiting in the journal (0 when empty)",
    ["process"],
    multiprocess_mode="livemax",
)
JOURNALED = Counter("hotline_journal_writes_total", "Writes that went to the journal", ["process"])
REPLAYED = Counter("hotline_journal_replayed_total", "Journaled writes applied to the database", ["process"])
REFUSED = Counter("hotline_journal_refused_total", "Writes lost: the journal was full", ["process"])


class JournalFull(Exception):
    """The journal reached journal.max_mb; the write was not kept."""


@dataclass(frozen=True)
class Write:
    """One write: what (`op`), its id, when it happened, and its arguments (JSON values). `at` is None for a write
    applied at once (PostgreSQL stamps it, as every other writer's rows); a journaled write keeps its true time."""

    op: str
    id: UUID
    at: dt.datetime | None
    args: dict[str, Any]

    def line(self) -> bytes:
        assert self.at is not None
        record = {"w": str(self.id), "op": self.op, "at": self.at.isoformat(), "args": self.args}
        return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()

    @classmethod
    def parse(cls, line: bytes) -> Write:
        record = json.loads(line)
        return cls(record["op"], UUID(record["w"]), dt.datetime.fromisoformat(record["at"]), record["args"])


def _b64(value: bytes | None) -> str | None:
    return base64.b64encode(value).decode() if value is not None else None


def _unb64(value: str | None) -> bytes | None:
    return base64.b64decode(value) if value is not None else None


# ---- applying a write: one function per op, each idempotent given the write's id and time


async def _open(conn: Any, w: Write) -> None:
    a = w.args
    await calls.open_call(
        conn,
        calls.CallerColumns(
            a["caller_masked"],
            a["caller_kind"],
            _unb64(a["caller_hmac"]),
            _unb64(a["caller_enc"]),
            a["prefecture_code"],
            a["province"],
        ),
        call_id=UUID(a["call_id"]),
        sip_call_id=a["sip_call_id"],
        cell=a["cell"],
        trunk=a["trunk"],
        simulated=a["simulated"],
        at=w.at,
        write_id=w.id,
    )


async def _event(conn: Any, w: Write) -> None:
    a = w.args
    await calls.add_event(
        conn,
        UUID(a["call_id"]),
        CallEvent(a["event"]),
        queue_id=a.get("queue_id"),
        agent_id=a.get("agent_id"),
        data=a.get("data") or {},
        at=w.at,
        write_id=w.id,
    )


async def _answered(conn: Any, w: Write) -> None:
    await calls.answered(conn, UUID(w.args["call_id"]), at=w.at, write_id=w.id)


async def _path(conn: Any, w: Write) -> None:
    a = w.args
    await calls.record_path(conn, UUID(a["call_id"]), a["flow_id"], a["revision"], a["node_path"], a["digits"])


async def _recording_path(conn: Any, w: Write) -> None:
    await calls.set_recording_path(conn, UUID(w.args["call_id"]), w.args["path"])


async def _survey(conn: Any, w: Write) -> None:
    a = w.args
    await calls.save_survey_answer(
        conn, UUID(a["call_id"]), a["question"], a["answer"], a["label"], at=w.at, write_id=w.id
    )


async def _recording(conn: Any, w: Write) -> None:
    a = w.args
    await calls.add_recording(
        conn,
        UUID(a["call_id"]),
        a["path"],
        a["channels"],
        a["sample_rate"],
        a["seconds"],
        a["size_bytes"],
        a["sha256"],
        partial=a.get("partial", False),
        at=w.at,
        write_id=w.id,
    )


async def _end(conn: Any, w: Write) -> None:
    a = w.args
    await calls.end(conn, UUID(a["call_id"]), a["outcome"], reason=a.get("reason"), at=w.at, write_id=w.id)


async def _agent_done(conn: Any, w: Write) -> None:
    """The conversation ended: the agent to wrap-up (only from on_call: a supervisor may have moved them since),
    and who hung up."""
    a = w.args
    call_id = UUID(a["call_id"])
    async with conn.transaction():
        await agents.move(conn, a["agent_id"], "on_call", "wrap_up", cause="system", actor="cell", call_id=call_id)
        await calls.add_event(
            conn,
            call_id,
            CallEvent(a["event"]),
            queue_id=a.get("queue_id"),
            agent_id=a["agent_id"],
            data=a.get("data"),
            at=w.at,
            write_id=w.id,
        )


async def _ticket(conn: Any, w: Write) -> None:
    """A work order the IVR opens (and, for a message left during an outage, a callback in line for it), once."""
    a = w.args
    call_id = UUID(a["call_id"])
    async with conn.transaction():
        if await tickets.of_call_with_facts(conn, call_id, a["facts"]) is None:
            ticket = await tickets.create(
                conn,
                prefix=a["prefix"],
                tz=a["tz"],
                actor="ivr",
                call_id=call_id,
                caller_masked=a["caller_masked"],
                prefecture_code=a["prefecture_code"],
                legal_area=a.get("legal_area"),
                service=a.get("service"),
                flags=a.get("flags") or [],
                facts=a["facts"],
                priority=a["priority"],
                now=w.at,
            )
            await calls.add_event(
                conn,
                call_id,
                CallEvent.IVR,
                data={"ticket": ticket.number, "kind": a["kind"]},
                at=w.at,
                write_id=w.id,
            )
        callback = a.get("callback")
        if callback and not await callbacks.of_call(conn, call_id):
            queue_id = await queues.id_of(conn, callback["queue"])
            if queue_id is not None:
                await callbacks.request(
                    conn,
                    call_id,
                    queue_id,
                    number_hmac=_unb64(callback["number_hmac"]) or b"",
                    number_enc=_unb64(callback["number_enc"]) or b"",
                    number_masked=callback["number_masked"],
                    keep_place=False,
                    reason=callback["reason"],
                )


APPLY: dict[str, Callable[[Any, Write], Awaitable[None]]] = {
    "agent_done": _agent_done,
    "ticket": _ticket,
    "open": _open,
    "event": _event,
    "answered": _answered,
    "path": _path,
    "recording_path": _recording_path,
    "survey": _survey,
    "recording": _recording,
    "end": _end,
}


class Journal:
    """The append-only file of one process, and how far it has been replayed (`<name>.offset`, fsync'd)."""

    def __init__(self, directory: Path, process: str, max_bytes: int, *, owner: bool = True) -> None:
        """`owner`: the process that appends to it (which repairs a torn tail at start); another process (the
        supervisor's health check) only reads sizes and offsets."""
        self.path = directory / f"{process}.jsonl"
        self.offset_path = directory / f"{process}.offset"
        self.max_bytes = max_bytes
        if owner:
            directory.mkdir(parents=True, exist_ok=True)
            self._cut_torn_tail()

    def _cut_torn_tail(self) -> None:
        """A crash in the middle of an append leaves a last line without its newline (never acknowledged): cut it,
        so that the next append starts a line of its own."""
        with contextlib.suppress(FileNotFoundError), self.path.open("rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
                log.warning(
                    "journal %s: a torn last line (%d bytes) was cut", self.path, len(data) - data.rfind(b"\n") - 1
                )

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def offset(self) -> int:
        try:
            return int(self.offset_path.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def pending(self) -> bool:
        return self.offset() < self.size()

    def complete_pending(self) -> bool:
        """Whether a whole line waits after the offset; a torn tail alone (an append a crash cut short, never
        acknowledged) does not count. Only meaningful while no append is running."""
        with contextlib.suppress(FileNotFoundError), self.path.open("rb") as f:
            f.seek(self.offset())
            return b"\n" in f.read()
        return False

    def append(self, write: Write) -> None:
        line = write.line()
        if self.size() + len(line) > self.max_bytes:
            raise JournalFull(f"journal {self.path} is full ({self.max_bytes} bytes, journal.max_mb)")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def unreplayed(self) -> list[tuple[int, Write]]:
        """The writes after the offset, each with the offset just past it. A torn last line (a crash in the
        middle of an append, before its fsync returned) was never acknowledged and is skipped."""
        start = self.offset()
        with contextlib.suppress(FileNotFoundError), self.path.open("rb") as f:
            f.seek(start)
            out: list[tuple[int, Write]] = []
            position = start
            for line in f:
                position += len(line)
                if not line.endswith(b"\n"):
                    break
                try:
                    out.append((position, Write.parse(line)))
                except (ValueError, KeyError) as exc:
                    log.error("journal %s: unreadable line at byte %d skipped: %s", self.path, position, exc)
            return out
        return []

    def advance(self, offset: int) -> None:
        tmp = self.offset_path.with_suffix(".tmp")
        with tmp.open("w") as f:
            f.write(str(offset))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.offset_path)

    def clear(self) -> None:
        """Everything was replayed: start again from an empty file."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.offset_path.unlink()


class DurableWriter:
    """The one write path of a process for call records; see the module's docstring."""

    def __init__(
        self,
        pool: Any,
        journal: Journal,
        *,
        process: str,
        timeout_s: float = 2.0,
        retry_s: float = 1.0,
        clock: Clock = SYSTEM,
    ) -> None:
        self.pool, self.journal, self.process = pool, journal, process
        self.timeout_s, self.retry_s, self.clock = timeout_s, retry_s, clock
        self._lock = asyncio.Lock()  # appends, and the replay's last check before clearing
        self._replay: asyncio.Task[None] | None = None
        self._journaling = journal.pending()
        left = journal.unreplayed() if self._journaling else []
        self._pending = len(left)
        self._oldest: dt.datetime | None = left[0][1].at if left else None

    @property
    def journaling(self) -> bool:
        """Writes go to the journal (the database was unreachable, and the journal is not drained yet)."""
        return self._journaling

    def status(self) -> dict[str, Any]:
        """For /healthz: ok while nothing is lost; `journaling` with the backlog's depth and age."""
        age = (SYSTEM.now() - self._oldest).total_seconds() if self._oldest is not None else 0.0
        return {
            "ok": True,
            "state": "journaling" if self._journaling else "direct",
            "pending": self._pending,
            "oldest_s": round(max(age, 0.0), 1),
            "bytes": self.journal.size(),
        }

    async def start(self) -> None:
        """Replay what an earlier run of this process left, in the background."""
        if self._journaling:
            log.warning("journal %s: %d write(s) left by an earlier run; replaying", self.journal.path, self._pending)
            self._kick()
        self._publish()

    async def stop(self, grace_s: float = 5.0) -> None:
        """Try to drain the journal for up to `grace_s`; what is left stays on disk for the next start."""
        if self._replay is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._replay), grace_s)
            self._replay.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._replay

    async def write(self, op: str, **args: Any) -> None:
        """Apply one write now, or journal it; raises only for a write that is itself wrong, or a full journal."""
        if op not in APPLY:
            raise ValueError(f"unknown journal op {op!r}")
        happened = SYSTEM.now()
        write = Write(op, uuid.uuid4(), None, _jsonable(args))
        if not self._journaling:
            try:
                async with asyncio.timeout(self.timeout_s), self.pool.acquire() as conn:
                    await APPLY[op](conn, write)
                return
            except UNREACHABLE as exc:
                log.error("database unreachable (%s); journaling to %s", type(exc).__name__, self.journal.path)
        await self._append(replace(write, at=happened))

    async def _append(self, write: Write) -> None:
        async with self._lock:
            try:
                await asyncio.to_thread(self.journal.append, write)
            except JournalFull:
                with guarded("hotline_journal_refused_total"):
                    REFUSED.labels(self.process).inc()
                log.critical("journal full: %s write of call %s lost", write.op, write.args.get("call_id"))
                raise
            if not self._journaling:
                self._oldest = write.at
            self._journaling = True
            self._pending += 1
        with guarded("hotline_journal_writes_total"):
            JOURNALED.labels(self.process).inc()
        self._publish()
        self._kick()

    def _kick(self) -> None:
        if self._replay is None or self._replay.done():
            self._replay = asyncio.create_task(self._replay_loop(), name=f"journal-replay-{self.process}")

    async def _replay_loop(self) -> None:
        while True:
            try:
                if await self._replay_once():
                    return
            except UNREACHABLE:
                pass
            except Exception:  # a write the database refuses for itself: logged, skipped, never retried forever
                log.exception("journal %s: replay error", self.journal.path)
            await self.clock.sleep(self.retry_s)

    async def _replay_once(self) -> bool:
        """Apply the unreplayed writes in order; True once the journal is drained and cleared."""
        todo = await asyncio.to_thread(self.journal.unreplayed)
        for index, (offset, write) in enumerate(todo):
            async with asyncio.timeout(self.timeout_s * 5), self.pool.acquire() as conn:
                try:
                    await APPLY[write.op](conn, write)
                except UNREACHABLE:
                    raise
                except (asyncpg.PostgresError, ValueError, KeyError) as exc:
                    log.error(
                        "journal %s: %s write %s refused, skipped: %s", self.journal.path, write.op, write.id, exc
                    )
            await asyncio.to_thread(self.journal.advance, offset)
            self._pending = max(self._pending - 1, 0)
            self._oldest = todo[index + 1][1].at if index + 1 < len(todo) else None
            with guarded("hotline_journal_replayed_total"):
                REPLAYED.labels(self.process).inc()
            self._publish()
        async with self._lock:
            if await asyncio.to_thread(self.journal.complete_pending):
                return False  # written while we replayed: go round again
            await asyncio.to_thread(self.journal.clear)
            self._journaling, self._pending, self._oldest = False, 0, None
        log.warning("journal %s drained: writes go to the database again", self.journal.path)
        self._publish()
        return True

    def _publish(self) -> None:
        with guarded("hotline_journal"):
            PENDING.labels(self.process).set(self._pending)
            BYTES.labels(self.process).set(self.journal.size())
            age = (SYSTEM.now() - self._oldest).total_seconds() if self._oldest is not None else 0.0
            OLDEST.labels(self.process).set(max(age, 0.0))


def journals_status(directory: Path) -> dict[str, Any]:
    """For the supervisor's /healthz: the journals under `directory` with writes still to replay (the cells keep
    them; this reads only their sizes and offsets). ok: nothing is lost by journaling."""
    waiting: dict[str, int] = {}
    for path in sorted(directory.glob("*.jsonl")):
        journal = Journal(directory, path.stem, 0, owner=False)
        behind = journal.size() - journal.offset()
        if behind > 0:
            waiting[path.stem] = behind
    return {"ok": True, "state": "journaling" if waiting else "direct", "bytes_to_replay": waiting}


async def apply_now(pool: Any, op: str, **args: Any) -> None:
    """A write applied at once, with no journal behind it (a process without one, e.g. a test's cell)."""
    async with pool.acquire() as conn:
        await APPLY[op](conn, Write(op, uuid.uuid4(), None, _jsonable(args)))


def _jsonable(value: Any) -> Any:
    """A write's arguments as JSON values: UUIDs as text, bytes (an HMAC, a ciphertext) as base64."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes):
        return _b64(value)
    return value
