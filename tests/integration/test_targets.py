"""`hotline targets import|list` against a real PostgreSQL: the example file, re-import, a bad file, the table."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import asyncpg

from hotline.kpi.targets import MEASURES
from tests.support.cli import ROOT, hotline

EXAMPLE = ROOT / "examples" / "targets-2026.csv"


async def _stored(conn: asyncpg.Connection) -> list[tuple[str, str, str, Decimal]]:
    rows = await conn.fetch("SELECT prefecture, period, measure, target FROM targets ORDER BY 1, 2, 3")
    return [(r["prefecture"], r["period"], r["measure"], r["target"]) for r in rows]


async def test_the_example_imports_and_a_second_import_changes_nothing(db: str, conn: asyncpg.Connection) -> None:
    first = hotline(db, "targets", "import", str(EXAMPLE))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"{EXAMPLE}: 23 target(s): 23 added, 0 changed, 0 unchanged"
    stored = await _stored(conn)
    assert len(stored) == 23
    assert ("province", "2026", "matters", Decimal(100000)) in stored
    assert ("province", "2026Q2", "consultations", Decimal(500000)) in stored
    assert ("province", "2026Q3", "mediation_success_rate", Decimal("0.98")) in stored
    stamps = await conn.fetch("SELECT period, measure, updated_at FROM targets ORDER BY 1, 2")

    again = hotline(db, "targets", "import", str(EXAMPLE))
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"{EXAMPLE}: 23 target(s): 0 added, 0 changed, 23 unchanged"
    assert await _stored(conn) == stored
    assert await conn.fetch("SELECT period, measure, updated_at FROM targets ORDER BY 1, 2") == stamps  # not rewritten
    audits = await conn.fetch("SELECT action, object_type, object_id FROM audit_log ORDER BY id")
    assert [tuple(a) for a in audits] == [("import", "targets", EXAMPLE.name)] * 2

    listed = hotline(db, "targets", "list", "--period", "2026q2")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 5 and all(line.startswith("2026Q2 ") for line in lines)
    assert all("province 全省" in line for line in lines)
    assert lines[0].split()[3:5] == ["response_rate", "回应率"]  # in the vocabulary's order: rates, then counts
    assert lines[-1].split()[3:] == ["matters", "法律服务事项件数", "50,000"]
    assert any("mediation_success_rate" in line and "98%" in line for line in lines)
    everything = hotline(db, "targets", "list").stdout.splitlines()
    assert len(everything) == 23 and everything[0].startswith("2026 ")


async def test_a_changed_file_reports_added_changed_and_unchanged(
    db: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    one = tmp_path / "one.csv"
    one.write_text("州市,期间,指标,目标值\n昆明,2026-11,接通率,95%\n530100,2026-11,matters,1200\n", encoding="utf-8")
    assert hotline(db, "targets", "import", str(one)).returncode == 0
    two = tmp_path / "two.csv"
    two.write_text(
        "州市,期间,指标,目标值\n昆明,2026-11,接通率,0.950\n530100,2026-11,matters,1300\n大理,2026-11,matters,800\n",
        encoding="utf-8",
    )
    out = hotline(db, "targets", "import", str(two))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("3 target(s): 1 added, 1 changed, 1 unchanged")
    assert await _stored(conn) == [
        ("530100", "2026-11", "answer_rate", Decimal("0.95")),
        ("530100", "2026-11", "matters", Decimal(1300)),
        ("532900", "2026-11", "matters", Decimal(800)),
    ]


async def test_a_bad_file_stores_nothing_and_names_every_problem(
    db: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "prefecture,period,measure,target\n"
        "530100,2026-11,answer_rate,95%\n"
        "530199,2026-11,answer_rate,95%\n"
        "530100,2026-13,matters,10\n"
        "530100,2026-11,satisfaction,98\n"
        "province,2026,legal_aid,1.5\n"
        "530100,2026-11,answer_rate,0.9\n",
        encoding="utf-8",
    )
    out = hotline(db, "targets", "import", str(bad))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stdout == ""
    assert f"targets file {bad} rejected, nothing stored (5 problem(s))" in out.stderr
    for line, column in ((3, "prefecture"), (4, "period"), (5, "target"), (6, "target"), (7, "measure")):
        assert re.search(rf"^{re.escape(str(bad))}:{line}: {column}: ", out.stderr, re.M), (line, out.stderr)
    assert await conn.fetchval("SELECT count(*) FROM targets") == 0
    assert await conn.fetchval("SELECT count(*) FROM audit_log") == 0

    missing = hotline(db, "targets", "import", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "nope.csv:1: file: cannot read the file" in missing.stderr
    period = hotline(db, "targets", "list", "--period", "2026-13")
    assert period.returncode == 2 and "--period: '2026-13': month 13" in period.stderr


async def test_the_vocabulary_is_the_tables_check_and_the_checks_hold(conn: asyncpg.Connection) -> None:
    (check,) = [
        r["def"]
        for r in await conn.fetch(
            "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint "
            "WHERE conrelid = 'targets'::regclass AND contype = 'c'"
        )
        if re.search(r"\bmeasure\b", r["def"])
    ]
    assert sorted(re.findall(r"'([^']*)'::text", check)) == sorted(m.id for m in MEASURES)
    insert = (
        "INSERT INTO targets (prefecture, period, period_kind, starts, ends, measure, unit, target, source) "
        "VALUES ($1, $2, $3, $4::text::date, $5::text::date, $6, $7, $8, 'test')"
    )
    good = ["530100", "2026Q2", "quarter", "2026-04-01", "2026-07-01", "matters", "count", 5]
    await conn.execute(insert, *good)
    bad_rows = [
        ["530199", *good[1:]],  # no such prefecture (the foreign key)
        ["530100", "2026Q2", "quarter", "2026-04-01", "2026-06-01", "notary", "count", 5],  # wrong end
        ["530100", "2026-11", "quarter", "2026-11-01", "2026-12-01", "notary", "count", 5],  # wrong kind
        ["530100", "2026", "year", "2026-01-01", "2027-01-01", "satisfaction", "ratio", 1.5],  # rate above 1
        ["530100", "2026", "year", "2026-01-01", "2027-01-01", "notary", "count", 2.5],  # a fraction of a count
        ["530100", "2026", "year", "2026-01-01", "2027-01-01", "talk_time", "seconds", 5],  # no such measure
    ]
    for row in bad_rows:
        try:
            await conn.execute(insert, *row)
        except (asyncpg.CheckViolationError, asyncpg.ForeignKeyViolationError):
            continue
        raise AssertionError(f"stored: {row}")
    assert await conn.fetchval("SELECT count(*) FROM targets") == 1
