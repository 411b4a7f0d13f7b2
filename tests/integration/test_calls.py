import asyncpg

from db import calls
from hotline.caller.phone import parse_caller
from hotline.caller.privacy import NumberKeys

KEYS = NumberKeys.from_master(b"k" * 32)


async def test_call_record_keeps_no_plaintext_number(conn: asyncpg.Connection) -> None:
    caller = parse_caller("13908712345")
    call_id = await calls.start(conn, sip_call_id="abc@1", caller=caller, keys=KEYS, cell="cell1")
    row = await conn.fetchrow("SELECT * FROM calls WHERE id=$1", call_id)
    for value in row.values():
        assert "13908712345" not in str(value)
        if isinstance(value, bytes):
            assert b"13908712345" not in value
    assert row["caller_masked"] == "139****2345"
    assert row["prefecture_code"] == "530100"
    assert KEYS.decrypt(row["caller_enc"]) == "+8613908712345"
    assert row["caller_hmac"] == KEYS.digest("+8613908712345")


async def test_call_lifecycle_and_events(conn: asyncpg.Connection) -> None:
    call_id = await calls.start(conn, sip_call_id="abc@2", caller=parse_caller("anonymous"), keys=KEYS)
    await calls.answered(conn, call_id)
    await calls.record_path(conn, call_id, "yunnan_12348", 3, ["welcome"], "")
    await calls.record_path(conn, call_id, "yunnan_12348", 3, ["welcome", "main_menu"], "1")  # the path so far
    assert await calls.end(conn, call_id, "ivr_only")
    assert not await calls.end(conn, call_id, "failed")  # closing twice changes nothing
    rec = await calls.get(conn, call_id)
    assert rec is not None
    assert rec.outcome == "ivr_only" and rec.answered_at is not None and rec.ended_at is not None
    assert rec.node_path == ["welcome", "main_menu"] and rec.digits == "1"
    assert await calls.events(conn, call_id) == ["INCOMING", "ANSWER", "HANGUP"]


async def test_calls_of_a_dead_cell_are_closed_as_failed(conn: asyncpg.Connection) -> None:
    caller = parse_caller("0871-65551234")
    a = await calls.start(conn, sip_call_id="a", caller=caller, keys=KEYS, cell="cell2")
    b = await calls.start(conn, sip_call_id="b", caller=caller, keys=KEYS, cell="cell2")
    other = await calls.start(conn, sip_call_id="c", caller=caller, keys=KEYS, cell="cell3")
    await calls.end(conn, b, "abandoned")
    assert await calls.fail_open_calls_of_cell(conn, "cell2", "cell exited") == 1
    ra, rb, rc = [await calls.get(conn, i) for i in (a, b, other)]
    assert ra is not None and ra.outcome == "failed"
    assert rb is not None and rb.outcome == "abandoned"
    assert rc is not None and rc.outcome is None


async def test_a_simulated_call_and_its_callback_are_marked(conn: asyncpg.Connection) -> None:
    caller = parse_caller("13908712345")
    real = await calls.start(conn, sip_call_id="real@1", caller=caller, keys=KEYS, cell="cell1")
    placed = await calls.start(conn, sip_call_id="sim@1", caller=caller, keys=KEYS, cell="cell1", simulated=True)
    queue_id = await conn.fetchval("SELECT id FROM queues ORDER BY id LIMIT 1")
    agent_id = await conn.fetchval(
        "INSERT INTO agents (username, display_name, role, password_hash) VALUES ('cb', 'cb', 'lawyer', 'x') "
        "RETURNING id"
    )
    for parent in (real, placed):
        back = await calls.start(conn, sip_call_id=f"back-{parent}", caller=caller, keys=KEYS, cell="cell1")
        await calls.link_callback(conn, back, parent, queue_id, agent_id)
    marked = await conn.fetch("SELECT coalesce(parent_call_id, id) AS family, simulated FROM calls")
    assert {(r["family"], r["simulated"]) for r in marked} == {(real, False), (placed, True)}
