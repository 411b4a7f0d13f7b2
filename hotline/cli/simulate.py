"""``hotline simulate``: traffic through the running service (hotline/sim/run.py), and ``--purge`` of it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
from pathlib import Path
from typing import Any

from hotline.config import Settings
from hotline.errors import HotlineError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``5m`` or ``1h`` in seconds."""
    m = _DURATION.match(text)
    if m is None or float(m.group(1)) <= 0:
        raise HotlineError(f"--duration {text!r}: expected a length such as 90s, 5m or 1h")
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2) or "s"]


def register(sub: Any) -> None:
    """Add ``simulate`` to the ``hotline`` parser's subcommands."""
    sim = sub.add_parser(
        "simulate",
        help="simulated callers and agents through the running service (marked simulated; --purge removes them)",
        description="Callers dial the service number through the front from numbers of several prefectures, "
        "choose menu paths, wait, give up, ask for callbacks and answer the survey; agents register SIP phones, "
        "log in through the console, answer, talk, close work orders and pause. Everything is marked simulated: "
        "no report counts it. Run it against `hotline up` on the same host.",
    )
    sim.add_argument("--duration", default="5m", help="how long callers keep arriving (90s, 5m, 1h; default 5m)")
    sim.add_argument("--callers-per-minute", type=float, default=4.0, help="mean arrivals per minute (default 4)")
    sim.add_argument("--agents", type=int, default=3, help="simulated agents (default 3)")
    sim.add_argument("--seed", type=int, default=12348, help="the same seed gives the same script (default 12348)")
    sim.add_argument("--profile", type=Path, metavar="FILE.yaml", help="the proportions (hotline/sim/script.py)")
    sim.add_argument("--drain", default="10m", help="after the arrivals, how long calls may go on (default 10m)")
    sim.add_argument("--purge", action="store_true", help="delete every simulated call and agent, then stop")
    sim.set_defaults(run=_simulate)


def load_profile(path: Path | None) -> Any:
    from pydantic import ValidationError

    from hotline.sim.script import Profile
    from hotline.yamlfile import read_yaml

    if path is None:
        return Profile()
    data = read_yaml(path, "the simulation profile", HotlineError)
    try:
        return Profile.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise HotlineError(f"{path}: {problems}") from None


async def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from db import simulation
    from db.pool import connect_current as connect
    from hotline.caller.privacy import load_keys
    from hotline.clock import from_environment
    from hotline.sim.run import Simulation, print_progress

    if args.purge:
        conn = await connect(settings)
        try:
            purged = await simulation.purge(conn)
        finally:
            await conn.close()
        print(f"removed {purged.calls} simulated calls, {purged.tickets} work orders, {purged.agents} agents")
        if purged.kept_agents:
            print(f"deactivated, not removed (a real record names them): {', '.join(purged.kept_agents)}")
        return 0

    if args.callers_per_minute <= 0:
        raise HotlineError(f"--callers-per-minute {args.callers_per_minute}: expected a number above 0")
    profile = load_profile(args.profile)
    sim = Simulation(
        settings,
        load_keys(settings),
        profile,
        seed=args.seed,
        duration_s=parse_duration(args.duration),
        per_minute=args.callers_per_minute,
        agents=args.agents,
        clock=from_environment(),
        drain_s=parse_duration(args.drain),
        progress=print_progress,
    )
    conn = await connect(settings)
    try:
        accounts = await sim.prepare_agents(conn)
    finally:
        await conn.close()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, sim.stopping.set)
        loop.add_signal_handler(signal.SIGTERM, sim.stopping.set)
    print(f"simulation {sim.run_id}: {len(sim.script)} callers over {args.duration}, {len(accounts)} agents")
    tally = await sim.run(accounts)
    conn = await connect(settings)
    try:
        made = await simulation.counts(conn, sim.call_prefix)
    finally:
        await conn.close()
    print()
    print(
        f"placed {tally.placed} calls: {made['calls']} recorded, {made['answered']} answered, "
        f"{made['abandoned']} abandoned, {made['callbacks']} callbacks, {made['survey_answers']} survey answers, "
        f"{made['tickets']} work orders ({tally.work_orders} closed by the agents)"
    )
    if tally.failed:
        print(f"{tally.failed} calls ended at once (refused as busy, or sipp could not start)")
    for error in tally.agent_errors:
        print(f"agent error: {error}")
    print("everything is marked simulated: `hotline simulate --purge` removes it")
    return 1 if tally.agent_errors else 0
