import asyncpg
import pytest

from db import agents
from hotline.acd.agent_state import AgentStateError


async def test_create_agent_sets_console_and_sip_credentials(conn: asyncpg.Connection) -> None:
    a = await agents.create(conn, "lawyer01", "张律师", "lawyer", "correct horse")
    assert a.state.value == "logged_out"
    ha1 = await conn.fetchval("SELECT ha1 FROM sip_subscribers WHERE username = 'lawyer01'")
    assert ha1 == agents.sip_ha1("lawyer01", "12348", "correct horse")
    stored = await conn.fetchval("SELECT password_hash FROM agents WHERE username='lawyer01'")
    assert stored.startswith("$argon2") and "correct horse" not in stored
    assert await agents.verify_password(conn, "lawyer01", "correct horse") is not None
    assert await agents.verify_password(conn, "lawyer01", "wrong") is None


async def test_state_changes_are_logged_and_refused_ones_change_nothing(conn: asyncpg.Connection) -> None:
    await agents.create(conn, "mediator1", "李调解员", "mediator", "password1")
    await agents.change_state(conn, "mediator1", "available", cause="agent", actor="mediator1")
    await agents.change_state(conn, "mediator1", "available", cause="agent", actor="mediator1")  # no-op
    with pytest.raises(AgentStateError):
        await agents.change_state(conn, "mediator1", "wrap_up", cause="agent", actor="mediator1")
    a = await agents.change_state(conn, "mediator1", "paused", cause="agent", actor="mediator1", reason="培训")
    assert (a.state.value, a.state_reason) == ("paused", "培训")
    log = await conn.fetch("SELECT from_state, to_state, cause FROM agent_state_log ORDER BY id")
    assert [tuple(r) for r in log] == [("logged_out", "available", "agent"), ("available", "paused", "agent")]


async def test_short_password_and_bad_role_are_refused(conn: asyncpg.Connection) -> None:
    with pytest.raises(Exception, match="at least 8"):
        await agents.create(conn, "x1", "甲", "lawyer", "short")
    with pytest.raises(Exception, match="role 'judge'"):
        await agents.create(conn, "x1", "甲", "judge", "longenough")
