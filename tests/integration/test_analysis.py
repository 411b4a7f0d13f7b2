"""Post-call analysis against the real PostgreSQL: tags, the pre-filled work order, the QA score, the worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from db import qa as qa_db
from db import suggestions, tickets
from hotline.analysis import AnalysisWorker, analyse_call
from hotline.qa import QaRules, load_rules
from hotline.tag import Taxonomy, load_taxonomy
from tests.support.calls import CALLER, WAGES, answered_call
from tests.support.cli import hotline


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="module")
def rules() -> QaRules:
    return load_rules()


async def agent(conn: asyncpg.Connection, username: str = "lawyer01") -> int:
    agent_id: int = await conn.fetchval(
        "INSERT INTO agents (username, display_name, role) VALUES ($1, '张律师', 'lawyer') RETURNING id", username
    )
    return agent_id


async def snapshot(conn: asyncpg.Connection, call_id: UUID) -> dict[str, list[Any]]:
    """Every row the analysis may write for a call, as plain tuples."""
    queries = {
        "tags": "SELECT id, kind, value, score, source, rule, created_at FROM tags WHERE call_id = $1 ORDER BY id",
        "tickets": "SELECT * FROM tickets WHERE call_id = $1 ORDER BY id",
        "suggestions": """SELECT s.* FROM ticket_suggestions s JOIN tickets t ON t.id = s.ticket_id
                          WHERE t.call_id = $1 ORDER BY s.id""",
        "status_log": """SELECT l.* FROM ticket_status_log l JOIN tickets t ON t.id = l.ticket_id
                         WHERE t.call_id = $1 ORDER BY l.id""",
        "qa": "SELECT * FROM qa_results WHERE call_id = $1",
        "state": "SELECT call_id, transcribed_at, error FROM analysis_state WHERE call_id = $1",
    }
    return {name: [tuple(r) for r in await conn.fetch(sql, call_id)] for name, sql in queries.items()}


async def test_answered_call_gets_tags_a_prefilled_work_order_and_a_qa_score(
    conn: asyncpg.Connection, taxonomy: Taxonomy, rules: QaRules
) -> None:
    agent_id = await agent(conn)
    call_id = await answered_call(conn, agent_id, WAGES)

    outcome = await analyse_call(conn, call_id, taxonomy, rules)

    assert outcome.status == "done" and outcome.ticket_created
    tags = await conn.fetch("SELECT kind, value, rule FROM tags WHERE call_id = $1 AND source = 'tagger'", call_id)
    assert {(t["kind"], t["value"]) for t in tags} == {
        ("legal_area", "劳动争议"),
        ("service", "法律援助"),
        ("flag", "农民工欠薪"),
    }
    assert all(t["rule"] for t in tags)  # each tag says which rules matched

    [ticket] = await conn.fetch("SELECT * FROM tickets WHERE call_id = $1", call_id)
    assert (ticket["legal_area"], ticket["service"], ticket["flags"]) == ("劳动争议", "法律援助", ["农民工欠薪"])
    assert ticket["assignee_id"] == agent_id and ticket["status"] == "new" and ticket["priority"] == "normal"
    assert ticket["caller_masked"] == "139****2345" and ticket["prefecture_code"] == "530100"
    rows = await suggestions.for_ticket(conn, ticket["id"])
    assert {(s.field, s.value, s.status, s.source) for s in rows} == {
        ("legal_area", "劳动争议", "suggested", "tagger"),
        ("service", "法律援助", "suggested", "tagger"),
        ("flag", "农民工欠薪", "suggested", "tagger"),
    }

    record = await qa_db.get(conn, call_id)
    assert record is not None and record.agent_id == agent_id and record.score == 100
    assert record.queue_id == await conn.fetchval("SELECT id FROM queues WHERE name = 'legal_consult'")
    assert [i["name"] for i in record.items] == [
        "greeting",
        "closing",
        "forbidden_words",
        "long_silence",
        "talk_ratio",
    ]
    assert record.rules_checksum == rules.checksum
    state = await conn.fetchrow("SELECT * FROM analysis_state WHERE call_id = $1", call_id)
    assert state["error"] is None and state["transcribed_at"] is not None
    assert "2345" not in outcome.summary() and CALLER not in outcome.summary()


async def test_running_twice_changes_nothing(conn: asyncpg.Connection, taxonomy: Taxonomy, rules: QaRules) -> None:
    call_id = await answered_call(conn, await agent(conn), WAGES)
    await analyse_call(conn, call_id, taxonomy, rules)
    before = await snapshot(conn, call_id)

    again = await analyse_call(conn, call_id, taxonomy, rules)
    assert again.status == "skipped"
    assert await snapshot(conn, call_id) == before

    forced = await analyse_call(conn, call_id, taxonomy, rules, force=True)
    assert forced.status == "done" and not forced.ticket_created and forced.suggested == ()
    assert await snapshot(conn, call_id) == before


async def test_a_failure_midway_leaves_nothing_half_written(
    conn: asyncpg.Connection, taxonomy: Taxonomy, rules: QaRules
) -> None:
    call_id = await answered_call(conn, await agent(conn), WAGES)
    await conn.execute("ALTER TABLE qa_results ADD CONSTRAINT no_scores CHECK (false) NOT VALID")
    with pytest.raises(asyncpg.CheckViolationError):
        await analyse_call(conn, call_id, taxonomy, rules)
    after = await snapshot(conn, call_id)
    assert after == {name: [] for name in after}


async def test_agent_decisions_update_the_work_order_and_measure_accuracy(
    conn: asyncpg.Connection, taxonomy: Taxonomy, rules: QaRules
) -> None:
    agent_id = await agent(conn)
    outcome = await analyse_call(conn, await answered_call(conn, agent_id, WAGES), taxonomy, rules)
    assert outcome.ticket_number is not None
    number = outcome.ticket_number

    corrected = await suggestions.decide(conn, number, "service", "法律咨询", agent_id)
    confirmed = await suggestions.decide(conn, number, "legal_area", "劳动争议", agent_id)
    rejected = await suggestions.decide(conn, number, "flag", "农民工欠薪", agent_id, present=False)
    assert corrected is not None and (corrected.status, corrected.final_value) == ("corrected", "法律咨询")
    assert corrected.decided_by == agent_id and corrected.decided_at is not None
    assert confirmed is not None and confirmed.status == "confirmed"
    assert rejected is not None and rejected.status == "rejected"
    ticket = await tickets.get(conn, number)
    assert (ticket.legal_area, ticket.service, ticket.flags) == ("劳动争议", "法律咨询", [])

    accuracy = {a.field: a for a in await suggestions.accuracy(conn)}
    assert (accuracy["legal_area"].decided, accuracy["legal_area"].rate) == (1, 1.0)
    assert (accuracy["service"].corrected, accuracy["service"].rate) == (1, 0.0)
    assert (accuracy["flag"].rejected, accuracy["flag"].rate) == (1, 0.0)

    # A forced re-analysis neither re-suggests the rejected flag nor touches the decided fields.
    await analyse_call(conn, ticket.call_id, taxonomy, rules, force=True)  # type: ignore[arg-type]
    again = await tickets.get(conn, number)
    assert (again.legal_area, again.service, again.flags) == ("劳动争议", "法律咨询", [])


async def test_decision_on_a_field_nobody_suggested_only_updates_the_work_order(conn: asyncpg.Connection) -> None:
    agent_id = await agent(conn)
    ticket = await tickets.create(conn, prefix="YN", tz="Asia/Shanghai", actor="test")
    assert await suggestions.decide(conn, ticket.number, "flag", "老年人", agent_id) is None
    assert (await tickets.get(conn, ticket.number)).flags == ["老年人"]
    with pytest.raises(Exception, match="not a known label"):
        await suggestions.decide(conn, ticket.number, "legal_area", "婚姻", agent_id)
    with pytest.raises(tickets.TicketNotFound):
        await suggestions.decide(conn, "YN-20000101-000001", "flag", "老年人", agent_id)


async def test_work_order_fields_set_by_the_agent_are_kept(
    conn: asyncpg.Connection, taxonomy: Taxonomy, rules: QaRules
) -> None:
    agent_id = await agent(conn)
    call_id = await answered_call(conn, agent_id, WAGES)
    own = await tickets.create(
        conn, prefix="YN", tz="Asia/Shanghai", actor="lawyer01", call_id=call_id, legal_area="合同纠纷"
    )

    outcome = await analyse_call(conn, call_id, taxonomy, rules)

    assert outcome.ticket_number == own.number and not outcome.ticket_created
    ticket = await tickets.get(conn, own.number)
    assert (ticket.legal_area, ticket.service, ticket.flags) == ("合同纠纷", "法律援助", ["农民工欠薪"])
    fields = {s.field for s in await suggestions.for_ticket(conn, own.id)}
    assert fields == {"service", "flag"}
    assert await conn.fetchval("SELECT count(*) FROM tickets WHERE call_id = $1", call_id) == 1


async def test_personal_safety_risk_found_after_the_call_makes_the_work_order_urgent(
    conn: asyncpg.Connection, taxonomy: Taxonomy, rules: QaRules
) -> None:
    agent_id = await agent(conn)
    flow_ticket_call = await answered_call(
        conn,
        agent_id,
        [("caller", 0, 5_000, "我 老公 喝 了 酒 就 打 我"), ("caller", 5_000, 9_000, "他 说 要 杀 了 我")],
    )
    existing = await tickets.create(conn, prefix="YN", tz="Asia/Shanghai", actor="ivr", call_id=flow_ticket_call)
    await analyse_call(conn, flow_ticket_call, taxonomy, rules)
    ticket = await tickets.get(conn, existing.number)
    assert ticket.priority == "urgent" and "人身安全风险" in ticket.flags and "家庭暴力" in ticket.flags


async def test_a_risk_heard_live_survives_the_post_call_analysis_and_reaches_the_work_order(
    conn: asyncpg.Connection, taxonomy: Taxonomy, rules: QaRules
) -> None:
    agent_id = await agent(conn)
    call_id = await answered_call(conn, agent_id, WAGES)  # the whole transcript reads as a wage claim only
    await conn.execute(
        "INSERT INTO tags (call_id, kind, value, score, source, rule) "
        "VALUES ($1, 'flag', '人身安全风险', 3, 'live', 'threat_to_kill')",
        call_id,
    )
    outcome = await analyse_call(conn, call_id, taxonomy, rules)
    live = await conn.fetch("SELECT value FROM tags WHERE call_id = $1 AND source = 'live'", call_id)
    assert [r["value"] for r in live] == ["人身安全风险"]
    assert outcome.ticket_number is not None
    ticket = await tickets.get(conn, outcome.ticket_number)
    assert ticket.priority == "urgent" and "人身安全风险" in ticket.flags and "农民工欠薪" in ticket.flags


async def test_what_the_caller_chose_in_the_ivr_seeds_the_work_order_before_the_tagger(
    conn: asyncpg.Connection, taxonomy: Taxonomy, rules: QaRules
) -> None:
    agent_id = await agent(conn)
    call_id = await answered_call(conn, agent_id, WAGES)
    await conn.executemany(
        "INSERT INTO tags (call_id, kind, value, source) VALUES ($1, $2, $3, 'flow')",
        [(call_id, "service", "法律援助"), (call_id, "legal_area", "合同与借贷")],  # a menu category, not a label
    )
    outcome = await analyse_call(conn, call_id, taxonomy, rules)
    assert outcome.ticket_number is not None
    ticket = await tickets.get(conn, outcome.ticket_number)
    assert (ticket.service, ticket.legal_area) == ("法律援助", "劳动争议")
    suggested = {s.field: s.value for s in await suggestions.for_ticket(conn, ticket.id)}
    assert suggested.get("legal_area") == "劳动争议" and "service" not in suggested


async def test_call_without_transcript_is_marked_not_crashed(
    conn: asyncpg.Connection, taxonomy: Taxonomy, rules: QaRules
) -> None:
    agent_id = await agent(conn)
    call_id = await answered_call(conn, agent_id, [])

    outcome = await analyse_call(conn, call_id, taxonomy, rules)

    assert (outcome.status, outcome.error) == ("error", "no transcript")
    assert await conn.fetchval("SELECT error FROM analysis_state WHERE call_id = $1", call_id) == "no transcript"
    assert await qa_db.get(conn, call_id) is None
    assert await conn.fetchval("SELECT count(*) FROM tags WHERE call_id = $1", call_id) == 0
    ticket = await conn.fetchrow("SELECT legal_area, assignee_id FROM tickets WHERE call_id = $1", call_id)
    assert ticket["legal_area"] is None and ticket["assignee_id"] == agent_id  # the work order still exists


async def test_call_without_agent_is_tagged_but_gets_no_work_order_or_score(
    conn: asyncpg.Connection, taxonomy: Taxonomy, rules: QaRules
) -> None:
    call_id = await answered_call(conn, None, [("caller", 0, 4_000, "我 想 咨询 一下 离婚 的 事情")])
    outcome = await analyse_call(conn, call_id, taxonomy, rules)
    assert outcome.status == "done" and outcome.ticket_number is None and outcome.qa is None
    assert (
        await conn.fetchval(
            "SELECT value FROM tags WHERE call_id = $1 AND kind = 'legal_area' AND source = 'tagger'", call_id
        )
        == "婚姻家庭"
    )
    assert await conn.fetchval("SELECT count(*) FROM tickets WHERE call_id = $1", call_id) == 0


async def test_failed_quality_items_are_tagged_and_summarised_per_agent_and_queue(
    conn: asyncpg.Connection, taxonomy: Taxonomy, rules: QaRules
) -> None:
    good, rude = await agent(conn, "lawyer01"), await agent(conn, "lawyer02")
    await analyse_call(conn, await answered_call(conn, good, WAGES), taxonomy, rules)
    rude_call = await answered_call(
        conn,
        rude,
        [
            ("agent", 0, 2_000, "喂"),
            ("caller", 2_000, 9_000, "我 想 问 工伤 的 事"),
            ("agent", 9_000, 11_000, "不 知道 你 自己 去 查"),
        ],
        queue="legal_aid",
    )
    outcome = await analyse_call(conn, rude_call, taxonomy, rules)
    assert outcome.qa is not None and set(outcome.qa.failed) == {"greeting", "closing", "forbidden_words"}
    quality = await conn.fetch("SELECT value FROM tags WHERE call_id = $1 AND kind = 'quality'", rude_call)
    assert {r["value"] for r in quality} == {"greeting", "closing", "forbidden_words"}

    stamped = await conn.fetchval("SELECT now()")  # QA rows carry PostgreSQL's stamp, not this process's clock
    since, until = stamped - dt.timedelta(hours=1), stamped + dt.timedelta(hours=1)
    by_agent = await qa_db.summary(conn, "agent", since=since, until=until)
    assert [(s.key, s.calls) for s in by_agent] == [("lawyer02", 1), ("lawyer01", 1)]  # lowest mean first
    assert by_agent[0].failures == {"greeting": 1, "closing": 1, "forbidden_words": 1}
    assert by_agent[0].mean_score == 100 - 10 - 10 - 15 and by_agent[1].failures == {}
    by_queue = await qa_db.summary(conn, "queue", since=since, until=until, name="legal_aid")
    assert [(s.key, s.name, s.calls) for s in by_queue] == [("legal_aid", "法律援助", 1)]
    assert await qa_db.summary(conn, "agent", since=until, until=until + dt.timedelta(days=1)) == []


async def test_worker_analyses_a_call_within_seconds_of_its_batch_transcript(
    db: str, taxonomy: Taxonomy, rules: QaRules
) -> None:
    pool = await asyncpg.create_pool(db, min_size=1, max_size=4)
    worker = AnalysisWorker(pool, taxonomy, rules, poll_interval=120)  # only NOTIFY can make it quick
    task = asyncio.create_task(worker.run())
    try:
        async with pool.acquire() as conn:
            call_id = await answered_call(conn, await agent(conn), WAGES, transcribed=False)
            for _ in range(200):  # until the worker's LISTEN is in place
                listening = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND query LIKE 'LISTEN %transcribed%'"
                )
                if listening:
                    break
                await asyncio.sleep(0.05)
            assert listening, "the worker never listened"
            assert await conn.fetchval("SELECT count(*) FROM analysis_state") == 0

            started = time.monotonic()
            await conn.execute("INSERT INTO transcription_state (call_id, batch_done_at) VALUES ($1, now())", call_id)
            while time.monotonic() - started < 5:
                if await conn.fetchval("SELECT done_at FROM analysis_state WHERE call_id = $1", call_id):
                    break
                await asyncio.sleep(0.05)
            assert await qa_db.get(conn, call_id) is not None, "not analysed within 5 s of NOTIFY"
            assert await conn.fetchval("SELECT legal_area FROM tickets WHERE call_id = $1", call_id) == "劳动争议"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await pool.close()


async def test_worker_catches_up_on_calls_transcribed_while_it_was_down(
    db: str, taxonomy: Taxonomy, rules: QaRules
) -> None:
    pool = await asyncpg.create_pool(db, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            agent_id = await agent(conn)
            first = await answered_call(conn, agent_id, WAGES)
            second = await answered_call(conn, agent_id, [])
            untranscribed = await answered_call(conn, agent_id, WAGES, transcribed=False)
        outcomes = await AnalysisWorker(pool, taxonomy, rules).run_pending()
        assert [(o.call_id, o.status) for o in outcomes] == [(first, "done"), (second, "error")]
        assert await AnalysisWorker(pool, taxonomy, rules).run_pending() == []
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM analysis_state WHERE call_id = $1", untranscribed) == 0
            # a newer transcript (the backlog redid the call) is analysed again
            await conn.execute("UPDATE transcription_state SET batch_done_at = now() WHERE call_id = $1", second)
        again = await AnalysisWorker(pool, taxonomy, rules).run_pending()
        assert [(o.call_id, o.error) for o in again] == [(second, "no transcript")]
    finally:
        await pool.close()


def test_cli_analyses_pending_calls_and_reports_scores_without_caller_numbers(db: str) -> None:
    async def setup() -> tuple[UUID, dt.datetime]:
        conn = await asyncpg.connect(db)
        try:
            return await answered_call(conn, await agent(conn), WAGES), await conn.fetchval("SELECT now()")
        finally:
            await conn.close()

    call_id, stamps = asyncio.run(setup())
    done = hotline(db, "analyse")
    assert done.returncode == 0, done.stderr
    assert f"call {call_id}: 劳动争议 / 法律援助 / 农民工欠薪;" in done.stdout
    assert "QA 100" in done.stdout and "1 call(s) analysed, 0 with an error" in done.stdout

    again = hotline(db, "analyse", "--call", str(call_id))
    assert again.returncode == 0 and "QA 100" in again.stdout, again.stderr

    # The default period ends "today" by the service's clock: pin it to PostgreSQL's, which stamped the calls
    # (under faketime the test process's clock is elsewhere).
    report = hotline(db, "qa", "report", "--agent", "lawyer01", HOTLINE_CLOCK=stamps.isoformat())
    assert report.returncode == 0, report.stderr
    lines = report.stdout.splitlines()
    assert any(line.split()[:4] == ["lawyer01", "张律师", "1", "100.0"] for line in lines), report.stdout
    assert "开头问候未通过" in report.stdout and "按队列" not in report.stdout
    for out in (done.stdout, done.stderr, again.stdout, report.stdout, report.stderr):
        assert "2345" not in out and CALLER not in out

    unknown = hotline(db, "analyse", "--call", "00000000-0000-0000-0000-000000000000")
    assert unknown.returncode == 2 and "no call with id" in unknown.stderr
    bad = hotline(db, "qa", "report", "--since", "2026-13-01")
    assert bad.returncode == 2 and "--since '2026-13-01': expected a date YYYY-MM-DD" in bad.stderr
