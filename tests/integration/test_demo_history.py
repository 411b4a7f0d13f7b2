"""`hotline demo-history` against a real PostgreSQL: a month of records in the shape the engine writes (every call
opened by INCOMING and ANSWER and closed by HANGUP, a queue visit ending in CONNECT or ABANDON, work orders for the
answered calls, survey answers with their SURVEY labels), the same seed giving the same month, the report reading
it, and the configured database refused unless asked for."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg

from tests.support.cli import hotline
from tests.support.database import db_url, drop_database

MONTH = ["--month", "2026-11", "--calls-per-day", "20", "--seed", "7"]
SHAPE = """SELECT c.outcome, count(*) AS calls, sum(extract(epoch FROM c.started_at))::bigint AS starts,
                  sum(extract(epoch FROM c.ended_at - c.started_at))::bigint AS lengths,
                  count(DISTINCT c.prefecture_code) AS prefectures
           FROM calls c GROUP BY c.outcome ORDER BY c.outcome"""


async def test_a_month_in_the_engines_shape_the_same_for_the_same_seed(db: str, tmp_path: Path) -> None:
    refused = hotline(db, "demo-history", *MONTH, "--database", db.rpartition("/")[2])
    assert refused.returncode == 2 and "is the configured database" in refused.stderr, refused.stderr
    made = hotline(db, "demo-history", *MONTH, "--database", db.rpartition("/")[2], "--into-configured-database")
    assert made.returncode == 0, made.stderr
    assert "2026-11: 600 calls" in made.stdout, made.stdout

    conn = await asyncpg.connect(db)
    try:
        calls = await conn.fetch("SELECT id, outcome, started_at, ended_at FROM calls")
        assert len(calls) == 600
        assert all(c["started_at"].astimezone().year == 2026 for c in calls)
        first_last = await conn.fetch(
            """SELECT c.outcome,
                      (SELECT e.event FROM call_events e WHERE e.call_id = c.id ORDER BY e.id LIMIT 1) AS first,
                      (SELECT e.event FROM call_events e WHERE e.call_id = c.id ORDER BY e.id DESC LIMIT 1) AS last,
                      ARRAY(SELECT e.event FROM call_events e WHERE e.call_id = c.id AND e.event IN
                            ('ENTERQUEUE', 'CONNECT', 'ABANDON', 'COMPLETECALLER') ORDER BY e.id) AS queue,
                      (SELECT count(*) FROM tickets t WHERE t.call_id = c.id) AS tickets
               FROM calls c GROUP BY c.id"""
        )
        expected = {
            "answered": ["ENTERQUEUE", "CONNECT", "COMPLETECALLER"],
            "abandoned": ["ENTERQUEUE", "ABANDON"],
            "ivr_only": [],
        }
        for row in first_last:
            assert (row["first"], row["last"]) == ("INCOMING", "HANGUP"), dict(row)
            assert row["queue"] == expected[row["outcome"]], dict(row)
            assert row["tickets"] == (1 if row["outcome"] == "answered" else 0), dict(row)
        outcomes = [r["outcome"] for r in first_last]
        assert outcomes.count("answered") > 400 and outcomes.count("abandoned") > 20 and "ivr_only" in outcomes
        unlabelled = await conn.fetchval(
            """SELECT count(*) FROM surveys s WHERE NOT EXISTS (SELECT 1 FROM call_events e WHERE e.call_id = s.call_id
               AND e.event = 'SURVEY' AND e.data->>'question' = s.question AND e.data->>'label' IS NOT NULL)"""
        )
        assert unlabelled == 0 and await conn.fetchval("SELECT count(*) FROM surveys") > 500
        numbers = await conn.fetchval("SELECT count(DISTINCT number) = count(*) FROM tickets")
        counter = await conn.fetchval("SELECT sum(last_value) FROM ticket_counters")
        assert numbers and counter == await conn.fetchval("SELECT count(*) FROM tickets")
        shape = [dict(r) for r in await conn.fetch(SHAPE)]
    finally:
        await conn.close()

    again = hotline(db, "demo-history", *MONTH, "--database", db.rpartition("/")[2], "--into-configured-database")
    assert again.returncode == 2 and "already holds 600 demo calls" in again.stderr, again.stderr

    other = f"hotline_t_{uuid.uuid4().hex[:12]}"  # created and migrated by the command itself
    try:
        second = hotline(db, "demo-history", *MONTH, "--database", other)
        assert second.returncode == 0 and f"created database {other}" in second.stdout, second.stderr
        conn = await asyncpg.connect(db_url(other))
        try:
            assert [dict(r) for r in await conn.fetch(SHAPE)] == shape  # the same seed: the same month
        finally:
            await conn.close()
    finally:
        await drop_database(other)

    report = tmp_path / "r.csv"
    done = hotline(db, "report", "--month", "2026-11", "--format", "csv", "--out", str(report))
    assert done.returncode == 0, done.stderr
    total = [line for line in report.read_text(encoding="utf-8-sig").splitlines() if line.startswith("total,")]
    assert total and total[0].split(",")[2] == "600", total
