"""The call-event vocabulary (hotline.events.CallEvent) is exactly what the database's CHECK allows."""

from __future__ import annotations

import re

import asyncpg
import pytest

from db import calls
from hotline.caller.phone import parse_caller
from hotline.caller.privacy import NumberKeys
from hotline.events import CallEvent


async def test_the_enum_is_the_check_constraint_of_call_events(conn: asyncpg.Connection) -> None:
    checks = [
        r["def"]
        for r in await conn.fetch(
            "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint "
            "WHERE conrelid = 'call_events'::regclass AND contype = 'c'"
        )
        if re.search(r"\bevent\b", r["def"])
    ]
    assert len(checks) == 1, checks
    # CHECK ((event = ANY (ARRAY['INCOMING'::text, 'ANSWER'::text, ...])))
    allowed = re.findall(r"'([^']*)'::text", checks[0])
    assert len(allowed) == len(set(allowed))
    assert sorted(allowed) == sorted(e.value for e in CallEvent)


async def test_an_event_outside_the_vocabulary_is_refused_before_the_database(conn: asyncpg.Connection) -> None:
    call_id = await calls.start(
        conn, sip_call_id="ev@1", caller=parse_caller("anonymous"), keys=NumberKeys.from_master(b"k" * 32)
    )
    with pytest.raises(ValueError, match="HOLDON"):
        await calls.add_event(conn, call_id, "HOLDON")  # type: ignore[arg-type]
    await calls.add_event(conn, call_id, CallEvent.HOLD)
    assert await calls.events(conn, call_id) == [CallEvent.INCOMING, CallEvent.HOLD]
