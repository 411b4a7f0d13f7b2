"""Queue membership from the command line (`hotline queue ...`) and db.membership, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from db import agents, membership
from hotline.errors import HotlineError
from tests.support.cli import hotline

DEFAULT_QUEUES = (
    "complaints",
    "duty_lawyer",
    "guidance",
    "legal_aid",
    "legal_consult",
    "mediation",
    "minority_language",
    "operator",
)


@pytest.fixture
async def staffed(db: str) -> AsyncIterator[str]:
    """The database with two agents and no memberships."""
    conn = await asyncpg.connect(db)
    try:
        await agents.create(conn, "lawyer01", "张律师", "lawyer", "password-123")
        await agents.create(conn, "aid02", "李助理", "legal_aid", "password-456")
    finally:
        await conn.close()
    yield db


async def _audit(db: str) -> list[tuple[str, str, str, str, dict[str, object]]]:
    conn = await asyncpg.connect(db)
    try:
        rows = await conn.fetch(
            "SELECT actor, action, object_type, object_id, detail::text AS detail FROM audit_log "
            "WHERE object_type = 'queue_member' ORDER BY id"
        )
    finally:
        await conn.close()
    return [(r["actor"], r["action"], r["object_type"], r["object_id"], json.loads(r["detail"])) for r in rows]


def _ok(db: str, *args: str) -> str:
    out = hotline(db, "queue", *args)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    return out.stdout


def _refused(db: str, *args: str) -> str:
    """The command fails with exit status 1 and one line on stderr, no traceback, nothing on stdout."""
    out = hotline(db, "queue", *args)
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


async def test_add_update_remove_through_the_cli_with_audit_rows(staffed: str) -> None:
    db = staffed
    assert "legal_aid: no members" in _ok(db, "members", "legal_aid")

    added = _ok(db, "add-member", "legal_aid", "lawyer01", "--penalty", "10", "--tier", "2")
    assert "lawyer01" in added and "penalty 10" in added and "tier 2" in added
    _ok(db, "add-member", "legal_aid", "aid02")  # defaults: penalty 0, tier 1
    listed = _ok(db, "members", "legal_aid").splitlines()
    assert len(listed) == 2
    assert listed[0].split()[:5] == ["aid02", "tier", "1", "penalty", "0"]  # tier 1 before tier 2
    assert listed[1].split()[:5] == ["lawyer01", "tier", "2", "penalty", "10"]
    assert "张律师" in listed[1] and "logged_out" in listed[1]

    # adding again updates the member in place
    _ok(db, "add-member", "legal_aid", "lawyer01", "--penalty", "0", "--tier", "1")
    listed = _ok(db, "members", "legal_aid").splitlines()
    assert len(listed) == 2
    assert [line.split()[:5] for line in listed] == [
        ["aid02", "tier", "1", "penalty", "0"],
        ["lawyer01", "tier", "1", "penalty", "0"],
    ]

    assert "lawyer01 removed" in _ok(db, "remove-member", "legal_aid", "lawyer01")
    assert [line.split()[0] for line in _ok(db, "members", "legal_aid").splitlines()] == ["aid02"]
    assert "not a member" in _refused(db, "remove-member", "legal_aid", "lawyer01")

    actor = "cli:" + getpass.getuser()
    log = await _audit(db)
    assert [(a, act, t, o, d.get("change")) for a, act, t, o, d in log] == [
        (actor, "update", "queue_member", "legal_aid/lawyer01", "add"),
        (actor, "update", "queue_member", "legal_aid/aid02", "add"),
        (actor, "update", "queue_member", "legal_aid/lawyer01", "change"),
        (actor, "update", "queue_member", "legal_aid/lawyer01", "remove"),
    ]  # the refused removal wrote nothing
    assert log[0][4] == {"change": "add", "penalty": 10, "tier": 2, "previous": None}
    assert log[2][4]["previous"] == {"penalty": 10, "tier": 2}
    assert log[3][4]["previous"] == {"penalty": 0, "tier": 1}


async def test_unknown_queue_agent_and_out_of_range_values_are_refused(staffed: str) -> None:
    db = staffed
    line = _refused(db, "add-member", "legal_help", "lawyer01")
    assert "'legal_help'" in line and "legal_aid" in line and "operator" in line  # names it, lists the known ones
    line = _refused(db, "members", "legal_help")
    assert "'legal_help'" in line and "legal_consult" in line
    line = _refused(db, "add-member", "legal_aid", "nobody")
    assert "'nobody'" in line and "agent" in line
    line = _refused(db, "remove-member", "legal_aid", "nobody")
    assert "'nobody'" in line
    line = _refused(db, "add-member", "legal_aid", "lawyer01", "--penalty", "101")
    assert "penalty" in line and "101" in line and "0 to 100" in line
    line = _refused(db, "add-member", "legal_aid", "lawyer01", "--penalty", "-1")
    assert "penalty" in line and "0 to 100" in line
    line = _refused(db, "add-member", "legal_aid", "lawyer01", "--tier", "0")
    assert "tier" in line and "1 to 9" in line
    assert "no members" in _ok(db, "members", "legal_aid")
    assert await _audit(db) == []


def test_queue_list_shows_the_default_queues(db: str) -> None:
    lines = _ok(db, "list").splitlines()
    assert [line.split()[0] for line in lines] == list(DEFAULT_QUEUES)
    by_name = {line.split()[0]: line for line in lines}
    assert "skills_weighted" in by_name["legal_aid"] and "法律援助" in by_name["legal_aid"]
    assert "longest_idle" in by_name["operator"] and "0 member(s)" in by_name["operator"]


async def test_list_counts_members(staffed: str) -> None:
    _ok(staffed, "add-member", "mediation", "lawyer01")
    _ok(staffed, "add-member", "mediation", "aid02", "--tier", "3")
    by_name = {line.split()[0]: line for line in _ok(staffed, "list").splitlines()}
    assert "2 member(s)" in by_name["mediation"]


def test_queue_help_is_there_and_a_bad_number_is_an_argparse_error() -> None:
    out = hotline("postgresql://unused/none", "queue", "add-member", "--help")
    assert out.returncode == 0 and "--penalty" in out.stdout and "0 to 100" in out.stdout
    out = hotline("postgresql://unused/none", "queue", "add-member", "legal_aid", "lawyer01", "--tier", "two")
    assert out.returncode == 2 and "--tier" in out.stderr and "Traceback" not in out.stderr


async def test_membership_functions(staffed: str) -> None:
    conn = await asyncpg.connect(staffed)
    try:
        member = await membership.add(conn, "duty_lawyer", "lawyer01", penalty=5, actor="test")
        assert member == membership.Member("duty_lawyer", "lawyer01", "张律师", 5, 1, "logged_out")
        await membership.add(conn, "operator", "lawyer01", tier=2, actor="test")
        assert [m.queue for m in await membership.queues_of(conn, "lawyer01")] == ["duty_lawyer", "operator"]
        assert await membership.queues_of(conn, "aid02") == []
        with pytest.raises(agents.AgentNotFound, match="nobody"):
            await membership.queues_of(conn, "nobody")
        with pytest.raises(membership.QueueNotFound, match=r"nowhere.*complaints, duty_lawyer"):
            await membership.members(conn, "nowhere")
        for bad in (True, 1.5, 200):
            with pytest.raises(HotlineError, match="penalty"):
                await membership.add(conn, "operator", "aid02", penalty=bad, actor="test")  # type: ignore[arg-type]
        assert await membership.remove(conn, "operator", "aid02", actor="test") is False

        # the change and its audit row are one transaction: both or neither
        audited = "SELECT count(*) FROM audit_log WHERE object_type = 'queue_member'"
        before = await conn.fetchval(audited)
        tx = conn.transaction()
        await tx.start()
        await membership.add(conn, "mediation", "aid02", actor="test")
        await membership.remove(conn, "duty_lawyer", "lawyer01", actor="test")
        assert await conn.fetchval(audited) == before + 2
        await tx.rollback()
        assert await conn.fetchval(audited) == before
        assert await membership.members(conn, "mediation") == []
        assert [m.username for m in await membership.members(conn, "duty_lawyer")] == ["lawyer01"]
    finally:
        await conn.close()


async def test_a_change_wakes_the_dispatcher(staffed: str) -> None:
    from db.acd import CHANGES

    listener = await asyncpg.connect(staffed)
    conn = await asyncpg.connect(staffed)
    heard: list[str] = []
    try:
        await listener.add_listener(CHANGES, lambda *args: heard.append(args[-1]))
        await membership.add(conn, "operator", "aid02", actor="test")
        await membership.remove(conn, "operator", "aid02", actor="test")
        for _ in range(50):
            if len(heard) >= 2:
                break
            await asyncio.sleep(0.05)
        assert heard == ["queue_members", "queue_members"]
    finally:
        await conn.close()
        await listener.close()
