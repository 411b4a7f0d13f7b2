import asyncio
import datetime as dt

import asyncpg
import pytest

from db import tickets
from db.tickets import Status, TransitionError

TZ = "Asia/Shanghai"


async def _new(conn: asyncpg.Connection, **kw: object) -> tickets.Ticket:
    return await tickets.create(conn, prefix="YN", tz=TZ, actor="test", **kw)  # type: ignore[arg-type]


async def test_numbers_are_readable_sequential_per_local_day(conn: asyncpg.Connection) -> None:
    # 2026-11-27 17:00 UTC is already 2026-11-28 01:00 in Yunnan.
    late = dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.UTC)
    a = await _new(conn, now=late)
    b = await _new(conn, now=late)
    c = await _new(conn, now=dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC))
    assert (a.number, b.number) == ("YN-20261128-000001", "YN-20261128-000002")
    assert c.number == "YN-20261127-000001"


async def test_concurrent_creation_never_reuses_a_number(db: str) -> None:
    pool = await asyncpg.create_pool(db, min_size=8, max_size=8)
    try:

        async def one() -> str:
            async with pool.acquire() as c:
                return (await _new(c)).number

        numbers = await asyncio.gather(*(one() for _ in range(60)))
    finally:
        await pool.close()
    assert len(set(numbers)) == 60
    assert sorted(int(n[-6:]) for n in numbers) == list(range(1, 61))


async def test_lifecycle_in_the_database_with_log(conn: asyncpg.Connection) -> None:
    t = await _new(conn, facts="拖欠工资三个月")
    assert t.status is Status.NEW
    for step in ("in_progress", "answered", "follow_up", "closed"):
        t = await tickets.transition(conn, t.number, step, actor="lawyer01")
    assert t.status is Status.CLOSED and t.closed_at is not None
    log = await conn.fetch("SELECT from_status, to_status FROM ticket_status_log WHERE ticket_id=$1 ORDER BY id", t.id)
    assert [(r["from_status"], r["to_status"]) for r in log] == [
        (None, "new"),
        ("new", "in_progress"),
        ("in_progress", "answered"),
        ("answered", "follow_up"),
        ("follow_up", "closed"),
    ]
    t = await tickets.transition(conn, t.number, "reopened", actor="supervisor", reason="回访不满意")
    assert t.status is Status.REOPENED and t.closed_at is None


async def test_disallowed_transition_changes_nothing(conn: asyncpg.Connection) -> None:
    t = await _new(conn)
    with pytest.raises(TransitionError, match=r"'new' to 'closed'"):
        await tickets.transition(conn, t.number, "closed", actor="x")
    again = await tickets.get(conn, t.number)
    assert again.status is Status.NEW
    assert await conn.fetchval("SELECT count(*) FROM ticket_status_log WHERE ticket_id=$1", t.id) == 1


async def test_referral_must_name_a_destination(conn: asyncpg.Connection) -> None:
    t = await _new(conn)
    await tickets.transition(conn, t.number, "in_progress", actor="x")
    with pytest.raises(Exception, match="referral must name"):
        await tickets.transition(conn, t.number, "referred", actor="x")
    t = await tickets.transition(conn, t.number, "referred", actor="x", referral="法律援助")
    assert t.referral == "法律援助"


async def test_open_tickets_by_assignee(conn: asyncpg.Connection) -> None:
    agent = await conn.fetchval(
        "INSERT INTO agents (username, display_name, role) VALUES ('l1', '甲', 'lawyer') RETURNING id"
    )
    keep = await _new(conn, assignee_id=agent)
    done = await _new(conn, assignee_id=agent)
    for step in ("in_progress", "answered", "closed"):
        await tickets.transition(conn, done.number, step, actor="l1")
    assert [t.number for t in await tickets.open_for_assignee(conn, agent)] == [keep.number]


async def test_unknown_ticket_is_named(conn: asyncpg.Connection) -> None:
    with pytest.raises(tickets.TicketNotFound, match="YN-20990101-000001"):
        await tickets.transition(conn, "YN-20990101-000001", "in_progress", actor="x")
