"""``hotline targets import|list``: targets (目标值) per prefecture or province, period and measure."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hotline.config import Settings
from hotline.errors import HotlineError


def register(sub: Any) -> None:
    """Add ``targets ...`` to the ``hotline`` parser's subcommands."""
    tgt = sub.add_parser("targets", help="targets per prefecture and period (目标值), for the monthly report")
    tgt_sub = tgt.add_subparsers(dest="targets_command", metavar="ACTION", required=True)
    imp = tgt_sub.add_parser(
        "import",
        help="import a CSV of targets (all rows or none; re-import changes nothing)",
        description="Import a CSV with the columns prefecture (州市), period (期间), measure (指标) and target "
        "(目标值); see hotline/kpi/targets.py and examples/targets-2026.csv. A file with any problem is "
        "refused whole, with every problem as FILE:LINE: column: problem, and nothing is stored. A target "
        "already stored for the same prefecture, period and measure is replaced.",
    )
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    imp.add_argument("--actor", default="cli", help="who imports, for the audit log (default: cli)")
    imp.set_defaults(run=_targets)
    show = tgt_sub.add_parser("list", help="print the stored targets")
    show.add_argument("--period", metavar="P", help="one period only: 2026-11, 2026Q2 or 2026")
    show.set_defaults(run=_targets)


async def _targets(args: argparse.Namespace, settings: Settings) -> int:
    from db import targets
    from db.pool import connect_current as connect
    from hotline.kpi.targets import read_targets_file

    if args.targets_command == "import":
        parsed = read_targets_file(args.file)  # raises before touching the database
        conn = await connect(settings)
        try:
            result = await targets.import_file(conn, parsed, actor=args.actor)
        finally:
            await conn.close()
        print(
            f"{args.file}: {len(parsed.targets)} target(s): {result.added} added, {result.changed} changed, "
            f"{result.unchanged} unchanged"
        )
        return 0
    period = _period(args.period)
    conn = await connect(settings)
    try:
        rows = await targets.list_targets(conn, period)
    finally:
        await conn.close()
    for line in format_targets(rows):
        print(line)
    return 0


def _period(text: str | None) -> str | None:
    from hotline.kpi.targets import parse_period

    if text is None:
        return None
    try:
        return parse_period(text).text
    except ValueError as exc:
        raise HotlineError(f"--period: {exc}") from None


def format_targets(rows: list[dict[str, Any]]) -> list[str]:
    """One line per target: period, prefecture (code and name), measure (id and name), the target as written."""
    from hotline.caller.prefectures import BY_CODE
    from hotline.kpi.targets import BY_ID, MEASURES, MeasureUnit

    if not rows:
        return ["(no targets stored)"]
    order = {m.id: i for i, m in enumerate(MEASURES)}
    rows = sorted(
        rows,
        key=lambda r: (
            r["starts"],
            -r["ends"].toordinal(),
            r["prefecture"] != "province",
            r["prefecture"],
            order[r["measure"]],
        ),
    )
    out = []
    for r in rows:
        measure = BY_ID[r["measure"]]
        where = (
            "province 全省" if r["prefecture"] == "province" else f"{r['prefecture']} {BY_CODE[r['prefecture']].name}"
        )
        value = r["target"]
        shown = (
            f"{float(value) * 100:g}%"
            if measure.unit is MeasureUnit.RATIO
            else f"{value:,.0f}"
            if measure.unit is MeasureUnit.COUNT
            else f"{value:g} s"
        )
        out.append(f"{r['period']:<8} {where:<24} {measure.id:<24} {measure.name:<10} {shown:>12}")
    return out
