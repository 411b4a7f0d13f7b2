import asyncpg
import pytest

from hotline.caller.prefectures import PREFECTURES


async def test_prefecture_table_matches_the_code(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch("SELECT code, name, area_code FROM prefectures ORDER BY code")
    assert [tuple(r) for r in rows] == sorted((p.code, p.name, p.area_code) for p in PREFECTURES)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO agents (username, display_name, role, state) VALUES ('a1', '甲', 'lawyer', 'dancing')",
        "INSERT INTO agents (username, display_name, role, state) VALUES ('a1', '甲', 'lawyer', 'paused')",
        "INSERT INTO agents (username, display_name, role) VALUES ('A B', '甲', 'lawyer')",
        "INSERT INTO calls (sip_call_id, caller_masked, caller_kind) VALUES ('x', '139****2345', 'mobile')",
        "INSERT INTO calls (sip_call_id, caller_masked, caller_kind, outcome) "
        "VALUES ('x', '未显示号码', 'withheld', 'answered')",
        "INSERT INTO tickets (number) VALUES ('123')",
        "INSERT INTO tickets (number, status) VALUES ('YN-20261127-000001', 'closed')",
        "INSERT INTO tickets (number, status) VALUES ('YN-20261127-000001', 'referred')",
        "INSERT INTO kpi_targets VALUES ('530100', '2026-11-15', 'answer_rate', 0.95)",
        "INSERT INTO vulnerable_registry (number_hmac, kind, source) VALUES ('\\x00', '低保', 'f')",
    ],
)
async def test_constraints_refuse_inconsistent_rows(conn: asyncpg.Connection, sql: str) -> None:
    with pytest.raises(asyncpg.IntegrityConstraintViolationError):
        await conn.execute(sql)


async def test_indexes_exist_for_the_main_queries(conn: asyncpg.Connection) -> None:
    names = {r["indexname"] for r in await conn.fetch("SELECT indexname FROM pg_indexes WHERE schemaname='public'")}
    assert {
        "tickets_open_by_assignee",
        "call_events_call",
        "calls_prefecture_started",
        "calls_started",
    } <= names


async def test_sip_subscribers_lists_only_active_agents_with_credentials(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """INSERT INTO agents (username, display_name, role, sip_ha1, active) VALUES
           ('l1', '甲', 'lawyer', md5('l1:12348:pw'), true),
           ('l2', '乙', 'lawyer', md5('l2:12348:pw'), false),
           ('l3', '丙', 'mediator', NULL, true)"""
    )
    rows = await conn.fetch("SELECT username, domain FROM sip_subscribers")
    assert [tuple(r) for r in rows] == [("l1", "12348")]
