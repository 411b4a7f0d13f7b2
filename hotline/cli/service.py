"""``hotline up``, ``migrate``, ``status``, ``prompts build``, ``reload``, ``dispatch``: running the service."""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from hotline.config import Settings
from hotline.errors import HotlineError


def register(sub: Any) -> None:
    """Add the service's commands to the ``hotline`` parser's subcommands."""
    up = sub.add_parser(
        "up",
        help="run the service in the foreground until Ctrl-C or SIGTERM",
        description="Check the schema, start the engine cells, the Kamailio front and the transcription service "
        "(when transcribe.model_path holds a model; else a warning, and calls wait for the backlog), serve /healthz "
        "and /metrics. Refuses to start when migrations are pending or prompts are missing (run `hotline prompts "
        "build`). SIGTERM drains calls, then stops everything in order.",
    )
    up.add_argument(
        "--no-engine", action="store_true", help="serve health and metrics only, without SIP (cells and Kamailio)"
    )

    up.add_argument(
        "--no-prometheus",
        action="store_true",
        help="do not start the embedded Prometheus (a site with its own; same as prometheus.enabled: false)",
    )
    up.set_defaults(run=_up)

    p = sub.add_parser(
        "migrate",
        help="apply pending database migrations",
        description="Apply db/migrations/*.sql in order, each in a transaction. Safe to run "
        "twice or concurrently; refuses if an applied file was edited.",
    )
    p.add_argument("--status", action="store_true", help="only list applied and pending migrations")
    p.set_defaults(run=_migrate)

    st = sub.add_parser(
        "status",
        help="show the running service's health and the schema state",
        description="Ask the running service's /healthz and list pending migrations. "
        "Exits 1 when the service is not running or not healthy.",
    )
    st.set_defaults(run=_status)

    pr = sub.add_parser("prompts", help="build prompt audio from the texts (espeak-ng) and recordings")
    pr_sub = pr.add_subparsers(dest="prompts_command", metavar="ACTION", required=True)
    build = pr_sub.add_parser(
        "build",
        help="render missing or changed prompts to 8 kHz WAV",
        description="Render every NAME.txt of the locale with espeak-ng, or convert an operator's "
        "NAME.wav (which wins), into the build directory. Unchanged prompts are kept.",
    )
    build.set_defaults(run=_prompts_build)

    rl = sub.add_parser(
        "reload",
        help="make the running service reload its flows (SIGHUP); calls in progress keep their revision",
        description="Sends SIGHUP to the running `hotline up` (pid in <state_dir>/hotline.pid). Each cell checks the "
        "flow files again and swaps in valid new revisions; an invalid file keeps the running flow and the "
        "reason is logged. Run `hotline check-flows` first to see problems.",
    )
    rl.set_defaults(run=_reload)

    dispatch = sub.add_parser(
        "dispatch",
        help="run the ACD dispatcher alone (hotline up runs one too; one leads, the others stand by)",
        description="Matches waiting callers with available agents in PostgreSQL. Any number may run, on any "
        "machine: an advisory lock picks the leader, a fencing term guards every offer, and a standby takes over "
        "when the leader's database session ends. Stops on SIGTERM or Ctrl-C.",
    )
    dispatch.add_argument("--name", help="how this dispatcher is named in logs and acd_leader (default host-pid)")
    dispatch.set_defaults(run=_dispatch)


async def _up(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.cli import config_arguments
    from hotline.supervisor.service import run

    if args.no_prometheus:
        off = settings.prometheus.model_copy(update={"enabled": False})
        settings = settings.model_copy(update={"prometheus": off})
    await run(settings, config_args=config_arguments(args, resolve=True), engine=not args.no_engine)
    return 0


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.acd.standalone import run as run_dispatcher

    return await run_dispatcher(settings, args.name)


async def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    status_only = args.status
    from db import migrate
    from db.pool import connect

    conn = await connect(settings)
    try:
        if status_only:
            current = await migrate.plan(conn)
            for m in current.applied:
                edited = " (EDITED since applied)" if m in current.edited else ""
                print(f"applied  {m.filename}{edited}")
            for m in current.pending:
                print(f"pending  {m.filename}")
            for name in current.unknown:
                print(f"unknown  {name} (recorded in the database, not on disk)")
            return 1 if current.edited else 0
        done = await migrate.migrate(conn)
    finally:
        await conn.close()
    if done:
        for m in done:
            print(f"applied {m.filename}")
    else:
        print("database schema is up to date")
    return 0


async def _status(_args: argparse.Namespace, settings: Settings) -> int:
    from db import migrate
    from db.pool import connect

    base = f"http://{settings.http.host}:{settings.http.port}"
    url = f"{base}/healthz"
    code = 0
    try:
        alive = await asyncio.to_thread(_get, f"{base}/livez")
        print(f"process: {alive.get('status')} (pid {alive.get('pid')}, up {alive.get('uptime_s')} s)")
        body = await asyncio.to_thread(_get, url)
        print(f"ready: {'yes' if body.get('status') == 'ok' else 'no (' + str(body.get('status')) + ')'}")
        print(json.dumps(body, ensure_ascii=False, indent=2))
        code = 0 if body.get("status") == "ok" else 1
    except OSError as exc:
        print(f"service: not running ({url}: {getattr(exc, 'reason', exc)})")
        code = 1
    conn = await connect(settings)
    try:
        current = await migrate.plan(conn)
    finally:
        await conn.close()
    pending = ", ".join(m.filename for m in current.pending) or "none"
    print(f"schema: {len(current.applied)} migration(s) applied, pending: {pending}")
    return code


def _get(url: str) -> dict[str, object]:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            data: dict[str, object] = json.load(resp)
            return data
    except urllib.error.HTTPError as err:
        data = json.load(err)
        return data


async def _reload(_args: argparse.Namespace, settings: Settings) -> int:
    import os
    import signal

    pid_file = Path(settings.state_dir) / "hotline.pid"
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError):
        raise HotlineError(f"no running `hotline up` found (pid file {pid_file})") from None
    print(f"asked hotline up (pid {pid}) to reload its flows; see its log for the result")
    return 0


async def _prompts_build(_args: argparse.Namespace, settings: Settings) -> int:
    return await asyncio.to_thread(_build_prompts, settings)


def _build_prompts(settings: Settings) -> int:
    from hotline import prompts

    p = settings.prompts
    report = prompts.build(p.sources, p.built, p.locale)
    print(
        f"prompts {p.locale} -> {p.built}: {len(report.rendered)} rendered, {len(report.converted)} converted "
        f"from recordings, {len(report.unchanged)} unchanged"
    )
    return 0
