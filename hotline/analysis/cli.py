"""``hotline analyse`` and ``hotline qa report``: the post-call analysis from the command line."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import unicodedata
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from hotline.clock import from_environment
from hotline.config import Settings
from hotline.errors import HotlineError
from hotline.qa import ITEM_NAMES, load_rules


def register(sub: Any) -> None:
    """Add the ``analyse`` and ``qa`` commands to the ``hotline`` parser's subcommands."""
    an = sub.add_parser(
        "analyse",
        help="post-call analysis: tag calls, pre-fill their work orders, quality-check the agent",
        description="Without options: analyse every call whose transcript is complete and that was not analysed "
        "on that transcript yet, oldest first, then exit. Each call is tagged from the caller's words, an answered "
        "call gets a work order whose empty legal area / service / flags are filled (recorded as suggestions), and "
        "the agent's side is scored with the quality-check rules (qa.rules_path). `hotline transcribe` runs this "
        "continuously.",
    )
    an.add_argument("--call", type=UUID, metavar="ID", help="analyse this call now, even if it was analysed before")
    an.add_argument("--follow", action="store_true", help="keep running: analyse each call as its transcript completes")
    an.set_defaults(run=_analyse)

    qa = sub.add_parser("qa", help="quality-check (质检) results")
    qa_sub = qa.add_subparsers(dest="qa_command", metavar="ACTION", required=True)
    rep = qa_sub.add_parser(
        "report",
        help="per-agent and per-queue scores and failures over a period, and the accuracy of suggestions",
        description="Calls scored, mean score and the number of calls that failed each quality item, per agent "
        "and per queue, for calls that started in the period (days in the configured timezone); then how "
        "often agents confirmed the tagger's work-order suggestions.",
    )
    rep.add_argument("--agent", metavar="NAME", help="only this agent (username)")
    rep.add_argument("--queue", metavar="NAME", help="only this queue (e.g. legal_consult)")
    rep.add_argument("--since", metavar="DATE", help="first day, YYYY-MM-DD (default: 30 days ago)")
    rep.add_argument("--until", metavar="DATE", help="last day, YYYY-MM-DD (default: today)")
    rep.set_defaults(run=_report)


async def _analyse(args: argparse.Namespace, settings: Settings) -> int:
    from db.pool import connect_current, create_pool
    from hotline.analysis.worker import AnalysisWorker

    conn = await connect_current(settings)  # refuses a schema with pending migrations
    await conn.close()
    pool = await create_pool(settings)
    try:
        worker = AnalysisWorker.from_settings(pool, settings)
        if args.follow:
            print(f"analysing calls as their transcripts complete (polling every {worker.poll_interval:g} s)")
            await worker.run()
            return 0
        logging.getLogger("hotline.analysis.worker").setLevel(logging.WARNING)  # the lines are printed below
        outcomes = [await worker.analyse(args.call, force=True)] if args.call else await worker.run_pending()
    finally:
        await asyncio.wait_for(pool.close(), 10)
    for outcome in outcomes:
        print(outcome.summary())
    errors = sum(o.status == "error" for o in outcomes)
    if not args.call:
        print(f"{len(outcomes)} call(s) analysed, {errors} with an error")
    return 0


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c + " " * (w - _width(c)) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(header), *(line(r) for r in rows)]


def _day(value: str | None, default: dt.date, flag: str) -> dt.date:
    if value is None:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise HotlineError(f"{flag} {value!r}: expected a date YYYY-MM-DD") from None


async def _report(args: argparse.Namespace, settings: Settings) -> int:
    from db import qa as qa_db
    from db import suggestions
    from db.pool import connect_current

    tz = ZoneInfo(settings.timezone)
    today = from_environment().today(tz)
    first = _day(args.since, today - dt.timedelta(days=30), "--since")
    last = _day(args.until, today, "--until")
    if last < first:
        raise HotlineError(f"--until {last} is before --since {first}")
    since = dt.datetime.combine(first, dt.time(), tz)
    until = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz)
    rules = load_rules(settings.qa.rules_path)
    labels = [rules.label(n) for n in ITEM_NAMES]

    groups = [("agent", args.agent, "坐席"), ("queue", args.queue, "队列")]
    if args.agent and not args.queue:
        groups = groups[:1]
    elif args.queue and not args.agent:
        groups = groups[1:]
    conn = await connect_current(settings)
    try:
        out = [f"质检报告 {first} 至 {last}（按通话开始日期，{settings.timezone}）"]
        for by, name, title in groups:
            summaries = await qa_db.summary(conn, by, since=since, until=until, name=name)
            header = [title, "名称", "质检通话", "平均分", *(f"{label}未通过" for label in labels)]
            rows = [
                [s.key or "-", s.name or "-", str(s.calls), f"{s.mean_score:.1f}"]
                + [str(s.failures.get(n, 0)) for n in ITEM_NAMES]
                for s in summaries
            ]
            out += ["", f"按{title}:"]
            out += _table(header, rows) if rows else ["（没有质检结果）"]
        accuracy = await suggestions.accuracy(conn, since=since, until=until)
    finally:
        await conn.close()
    names = {"legal_area": "法律领域", "service": "服务类型", "flag": "标记"}
    out += ["", "工单标注建议（按坐席确认日期）:"]
    out += _table(
        ["字段", "已处理", "确认", "更正", "驳回", "准确率"],
        [
            [
                names[a.field],
                str(a.decided),
                str(a.confirmed),
                str(a.corrected),
                str(a.rejected),
                f"{a.rate:.0%}" if a.rate is not None else "-",
            ]
            for a in accuracy
        ],
    )
    print("\n".join(out))
    return 0
