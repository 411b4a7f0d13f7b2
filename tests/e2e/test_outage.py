"""PostgreSQL stopped under live calls, with the whole service running on a throw-away cluster (never the shared
server): callers notice nothing, every record is closed with its true end and every recording registered once
the database is back; a caller who arrives during the outage hears an apology and leaves a message, which becomes
a callback work order when the cells' journals are replayed. /healthz says `degraded: journaling` meanwhile."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator

import pytest

from tests.support.pgcluster import Cluster, pg_cluster
from tests.support.stack import Stack, select, select_until, wait_answered

__all__ = ["pg_cluster"]  # the fixture, imported for pytest

pytestmark = [pytest.mark.sip, pytest.mark.timeout(300)]


@pytest.fixture
def db(pg_cluster: Cluster) -> Iterator[str]:
    """The stack's database lives in the throw-away cluster, so the test may stop it."""
    yield pg_cluster.url


@pytest.fixture
def stack_env() -> dict[str, str]:
    return {"HOTLINE_SIP_OUTAGE_VOICEMAIL_S": "10", "HOTLINE_JOURNAL_RETRY_S": "0.5"}


def api_during_outage(stack: Stack) -> tuple[int, str | None, str]:
    """What the agents' API answers while PostgreSQL is down: status, Retry-After, the error."""
    import base64
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{stack.http_port}/api/agents/me",
        headers={"Authorization": "Basic " + base64.b64encode(b"lawyer01:secret").decode()},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.headers.get("Retry-After"), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Retry-After"), json.load(err).get("error", "")


def wait_status(stack: Stack, wanted: str, limit: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + limit
    while True:
        health = stack.health()
        if health.get("status") == wanted:
            return health
        assert time.monotonic() < deadline, f"/healthz never said {wanted!r}: {health}"
        time.sleep(0.5)


async def test_a_database_outage_under_live_calls_loses_nothing(stack: Stack, pg_cluster: Cluster) -> None:
    callers = stack.callers_in_background(3, hold_ms=12000)
    try:
        await wait_answered(stack.db, 3)
        await asyncio.to_thread(pg_cluster.stop)
        stopped = dt.datetime.now(dt.UTC)

        # A new caller during the outage: Mandarin, 法律援助, then (no registry to read, no answer to the group
        # menu) the queue, which lives in the database. The cell hangs up after the message.
        during = await asyncio.to_thread(stack.sipp, "caller_menu_until_bye", 1, timeout=170)
        assert during.returncode == 0, during.stdout[-2000:]
        assert await asyncio.to_thread(callers.wait, 60) == 0, "a caller noticed the outage"
        health = stack.health()
        assert health["status"] == "degraded: journaling", health
        console = await asyncio.to_thread(api_during_outage, stack)
        assert console == (503, "10", "数据库暂时无法访问，本次操作未保存，请稍后重试"), console
        assert health["journal"]["state"] == "journaling", health  # type: ignore[index]
        restarted = dt.datetime.now(dt.UTC)
        await asyncio.to_thread(pg_cluster.start)
    finally:
        if callers.poll() is None:
            callers.kill()
            callers.wait()

    await asyncio.to_thread(wait_status, stack, "ok")
    found = await select_until(
        stack.db,
        "SELECT id, outcome, started_at, ended_at, node_path FROM calls WHERE (SELECT count(*) FROM calls "
        "WHERE ended_at IS NOT NULL) = 4 ORDER BY started_at",
        what="4 closed calls",
        limit=30,
    )
    live, outage_call = found[:3], found[3]
    for call in live:
        assert stopped <= call["ended_at"] <= restarted, "a live call's close must keep its true time"
        assert call["outcome"] == "ivr_only"
    assert stopped <= outage_call["started_at"] <= restarted
    assert outage_call["node_path"][-1] == "aid_queue", outage_call
    assert outage_call["outcome"] == "voicemail"
    recordings = await select(stack.db, "SELECT call_id FROM recordings")
    assert sorted(str(r["call_id"]) for r in recordings) == sorted(str(c["id"]) for c in found)
    events = await select(
        stack.db, "SELECT event, data FROM call_events WHERE call_id = $1 ORDER BY id", outage_call["id"]
    )
    names = [e["event"] for e in events]
    assert names[:2] == ["INCOMING", "ANSWER"] and names[-2:] == ["RECORDING", "HANGUP"], names
    assert any(e["event"] == "VOICEMAIL" and '"outage": true' in e["data"] for e in events), events
    tickets = await select(
        stack.db, "SELECT facts, priority, caller_masked FROM tickets WHERE call_id = $1", outage_call["id"]
    )
    assert len(tickets) == 1 and tickets[0]["facts"].startswith("[callback] 系统故障期间来电留言"), tickets
    assert tickets[0]["priority"] == "urgent" and tickets[0]["caller_masked"] == "139****2345"
    callbacks = await select(stack.db, "SELECT status FROM callbacks WHERE call_id = $1", outage_call["id"])
    assert len(callbacks) == 1, "the message must put a callback in line"
    assert list((stack.tmp / "state" / "journal").glob("*.jsonl")) == []
