"""``hotline report``: the monthly report (上报表) per prefecture and the province total, as CSV, XLSX or HTML."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from hotline.config import Settings
from hotline.errors import HotlineError


def register(sub: Any) -> None:
    """Add ``report`` to the ``hotline`` parser's subcommands."""
    rep = sub.add_parser(
        "report",
        help="the monthly report per prefecture against targets (上报表), CSV, XLSX or HTML",
        description="KPIs of a month (Asia/Shanghai) per prefecture, 云南省外, 未知 and the province total, with "
        "the year to date, the stored targets (hotline targets import) and the completion ratio.",
    )
    rep.add_argument("--month", required=True, metavar="YYYY-MM", help="the month, e.g. 2026-11")
    rep.add_argument(
        "--prefecture", metavar="CODE", help="one row only: a code (530100), a name, outside_yunnan or unknown"
    )
    rep.add_argument(
        "--format", default="xlsx", metavar="csv|xlsx|html", help="csv (UTF-8 with BOM), html or xlsx (default)"
    )
    rep.add_argument("--out", type=Path, metavar="FILE", help="default: hotline-report-YYYY-MM[-CODE].FORMAT here")
    rep.set_defaults(run=_report)


async def _report(args: argparse.Namespace, settings: Settings) -> int:
    from db.pool import connect_current as connect
    from hotline.clock import from_environment
    from hotline.report import service
    from hotline.report.table import parse_month, parse_report_prefecture

    month = parse_month(args.month)  # every input is checked before touching the database
    only = parse_report_prefecture(args.prefecture) if args.prefecture is not None else None
    fmt = args.format.strip().lower()
    if fmt not in service.FORMATS:
        raise HotlineError(f"--format {args.format!r}: expected csv, xlsx or html")
    out: Path = args.out or Path(f"hotline-report-{month.text}{'-' + only if only else ''}.{fmt}")
    conn = await connect(settings)
    try:
        data = await service.render(conn, month, fmt, from_environment(), only=only)
    finally:
        await conn.close()
    try:
        await asyncio.to_thread(out.write_bytes, data)
    except OSError as exc:
        raise HotlineError(f"--out {out}: cannot write: {exc.strerror}") from None
    print(f"{out}: {month.text} report ({fmt}, {len(data)} bytes)")
    return 0
