"""The `hotline` command. Errors meant for users are printed as one message, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from hotline import __version__
from hotline.config import Settings, load_settings
from hotline.errors import ConfigError, HotlineError
from hotline.logs import setup_logging


def _parse_set(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set http.port=8081")
        out[key.strip()] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hotline",
        description="12348 public legal-service hotline: engine, queues, work orders and reports.",
    )
    parser.add_argument("--version", action="version", version=f"hotline {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="YAML config file (see hotline.example.yaml); env HOTLINE_* and --set override it",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set http.port=8081 (repeatable)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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

    p = sub.add_parser(
        "migrate",
        help="apply pending database migrations",
        description="Apply db/migrations/*.sql in order, each in a transaction. Safe to run "
        "twice or concurrently; refuses if an applied file was edited.",
    )
    p.add_argument("--status", action="store_true", help="only list applied and pending migrations")

    sub.add_parser(
        "status",
        help="show the running service's health and the schema state",
        description="Ask the running service's /healthz and list pending migrations. "
        "Exits 1 when the service is not running or not healthy.",
    )

    pr = sub.add_parser("prompts", help="build prompt audio from the texts (espeak-ng) and recordings")
    pr_sub = pr.add_subparsers(dest="prompts_command", metavar="ACTION", required=True)
    pr_sub.add_parser(
        "build",
        help="render missing or changed prompts to 8 kHz WAV",
        description="Render every NAME.txt of the locale with espeak-ng, or convert an operator's "
        "NAME.wav (which wins), into the build directory. Unchanged prompts are kept.",
    )

    sub.add_parser(
        "check-flows",
        add_help=False,
        help="check IVR flow files (schema, graph, prompts, queues, schedules); see check-flows --help",
    )
    sub.add_parser(
        "reload",
        help="make the running service reload its flows (SIGHUP); calls in progress keep their revision",
        description="Sends SIGHUP to the running `hotline up` (pid in <state_dir>/hotline.pid). Each cell checks the "
        "flow files again and swaps in valid new revisions; an invalid file keeps the running flow and the "
        "reason is logged. Run `hotline check-flows` first to see problems.",
    )
    dispatch = sub.add_parser(
        "dispatch",
        help="run the ACD dispatcher alone (hotline up runs one too; one leads, the others stand by)",
        description="Matches waiting callers with available agents in PostgreSQL. Any number may run, on any "
        "machine: an advisory lock picks the leader, a fencing term guards every offer, and a standby takes over "
        "when the leader's database session ends. Stops on SIGTERM or Ctrl-C.",
    )
    dispatch.add_argument("--name", help="how this dispatcher is named in logs and acd_leader (default host-pid)")
    sub.add_parser(
        "transcribe",
        help="run the transcription service (Vosk websocket, post-call backlog) from the transcribe settings",
        description="Serves ws://HOST:PORT/asr (vosk-server style: a JSON config message, then 16-bit PCM frames; "
        "partial and final results back), stores final segments, raises the 人身安全风险 flag on callers' words "
        "(NOTIFY hotline_risk), and transcribes the post-call backlog from the recordings. A missing model path is "
        "a start-up error naming it. `hotline up` runs it itself when the model is there.",
    )
    sub.add_parser(
        "tag",
        help='tag caller statements: JSON lines {"text": ...} in, legal area / service / flags out',
        description='Reads JSON lines {"text": "..."} on stdin and writes one JSON line per input, in order: '
        '{"legal_area": ..., "service": ..., "flags": [...]}. A bad line gives an {"error": ...} line '
        "and a message on stderr naming its line number; the exit code is then 1.",
    )

    from hotline.analysis.cli import add_parsers as add_analysis_parsers

    add_analysis_parsers(sub)  # analyse, qa report

    ag = sub.add_parser("agent", help="agents: create (database), change state (through the running service)")
    ag_sub = ag.add_subparsers(dest="agent_command", metavar="ACTION", required=True)
    add = ag_sub.add_parser(
        "add",
        help="create or update an agent (console password and SIP credentials)",
        description="The password is read from standard input (one line) and serves both "
        "the web console (argon2) and the SIP phone (digest HA1).",
    )
    add.add_argument("username")
    add.add_argument("--name", required=True, help="display name, e.g. 张律师")
    from db.agents import ROLES

    add.add_argument("--role", required=True, choices=ROLES)
    for action, helptext in (
        ("login", "log in as available"),
        ("available", "become available"),
        ("pause", "pause with a reason"),
        ("logout", "log out"),
    ):
        p = ag_sub.add_parser(
            action,
            allow_abbrev=False,  # "--password" must not pass for --password-file
            help=helptext + " (through the running service's REST API)",
            description=f"{helptext[0].upper()}{helptext[1:]} through the agents' REST API of the running `hotline "
            "up` (http.host and http.port of the settings), as the agent with their console password: from "
            "--password-file, else the environment variable HOTLINE_AGENT_PASSWORD, else a prompt. The change is "
            "logged in agent_state_log with its cause. Exit status 1 when the service refuses (wrong password, a "
            "change the state rules forbid), 2 when it cannot be reached.",
        )
        p.add_argument("username")
        p.add_argument("--reason", required=action == "pause", help="why (required for pause)")
        p.add_argument(
            "--password-file",
            type=Path,
            metavar="FILE",
            help="read the password from the first line of FILE ('-': standard input)",
        )
        p.add_argument("--password", dest="password_argument", help=argparse.SUPPRESS)  # refused, see _agent_state
        p.add_argument(
            "--as",
            dest="supervisor",
            metavar="SUPERVISOR",
            help="a supervisor forces the change with their own password (needs --reason; written to the audit log)",
        )

    reg = sub.add_parser("registry", help="vulnerable-household registry (建档立卡, 低保, 特困...)")
    reg_sub = reg.add_subparsers(dest="registry_command", metavar="ACTION", required=True)
    from hotline.caller.households import KINDS

    imp = reg_sub.add_parser(
        "import",
        help="import a CSV of numbers (all rows or none)",
        description="Import a CSV with a number column (号码/电话/手机/phone...) or one "
        "number per line. A file with any bad row is rejected with every "
        "bad line; re-importing adds nothing twice. Only keyed HMACs are "
        "stored.",
    )
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    imp.add_argument("--kind", required=True, choices=KINDS, help="which registry the file belongs to")
    imp.add_argument("--actor", default="cli", help="who imports, for the audit log (default: cli)")
    look = reg_sub.add_parser("lookup", help="tell whether a number is registered (logged in the audit log)")
    look.add_argument("number")
    look.add_argument("--actor", default="cli", help="who asks, for the audit log (default: cli)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "check-flows" in argv:  # its own parser: files and options after the subcommand
        from hotline.flow import check_flows_main

        return check_flows_main(argv[argv.index("check-flows") + 1 :])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "transcribe":
        from hotline.transcribe.__main__ import main as transcribe_main

        try:
            load_settings(args.config, overrides=_parse_set(args.set))
        except HotlineError as exc:
            print(f"hotline: error: {exc}", file=sys.stderr)
            return 2
        forwarded = ["--config", str(args.config)] if args.config else []
        return transcribe_main([*forwarded, *(arg for item in args.set for arg in ("--set", item))])
    if args.command == "tag":  # no database, no event loop: a filter over stdin
        from hotline.tag import tag_main

        return tag_main(sys.stdin, sys.stdout, sys.stderr)
    try:
        settings = load_settings(args.config, overrides=_parse_set(args.set))
        setup_logging(settings.log_level)
        return asyncio.run(_dispatch(args, settings))
    except HotlineError as exc:
        print(f"hotline: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except asyncpg.PostgresError as exc:
        print(f"hotline: database error: {exc}", file=sys.stderr)
        return 2


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "up":
        from hotline.supervisor.service import run

        config_args: list[str] = ["--config", str(args.config.resolve())] if args.config else []
        for item in args.set:
            config_args += ["--set", item]
        await run(settings, config_args=config_args, engine=not args.no_engine)
        return 0
    if args.command == "migrate":
        return await _migrate(settings, status_only=args.status)
    if args.command == "status":
        return await _status(settings)
    if args.command == "registry":
        return await _registry(args, settings)
    if args.command == "agent":
        return await _agent(args, settings)
    if args.command == "reload":
        return _reload(settings)
    if args.command == "prompts":
        return await asyncio.to_thread(_prompts_build, settings)
    if args.command == "dispatch":
        from hotline.acd.standalone import run as run_dispatcher

        return await run_dispatcher(settings, args.name)
    if args.command in ("analyse", "qa"):
        from hotline.analysis.cli import run as run_analysis

        return await run_analysis(args, settings)
    raise AssertionError(args.command)


async def _migrate(settings: Settings, *, status_only: bool) -> int:
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


async def _status(settings: Settings) -> int:
    from db import migrate
    from db.pool import connect

    url = f"http://{settings.http.host}:{settings.http.port}/healthz"
    code = 0
    try:
        body = await asyncio.to_thread(_get, url)
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


async def _agent(args: argparse.Namespace, settings: Settings) -> int:
    if args.agent_command != "add":
        return await _agent_state(args, settings)
    from db import agents
    from db.pool import connect_current

    conn = await connect_current(settings)
    try:
        password = sys.stdin.readline().rstrip("\n")
        agent = await agents.create(conn, args.username, args.name, args.role, password)
        print(f"agent {agent.username} ({agent.display_name}, {agent.role}) saved; SIP realm {agent.sip_realm}")
        return 0
    finally:
        await conn.close()


_AGENT_STATES = {"login": "available", "available": "available", "pause": "paused", "logout": "logged_out"}


async def _agent_state(args: argparse.Namespace, settings: Settings) -> int:
    """An agent state change as the console makes it: POST to the running service's REST API."""
    import os

    import aiohttp

    if args.password_argument is not None:  # named without echoing it: others can read a command line
        raise HotlineError(
            "--password: a password on the command line is visible to other users; use --password-file FILE, "
            "HOTLINE_AGENT_PASSWORD or the prompt"
        )
    user = args.supervisor or args.username
    password = _agent_password(args.password_file, user)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.http.host, settings.http.host)
    base = f"http://[{host}]:{settings.http.port}" if ":" in host else f"http://{host}:{settings.http.port}"
    path = f"/api/agents/{args.username}/state" if args.supervisor else "/api/agents/me/state"
    body = {"state": _AGENT_STATES[args.agent_command]}
    if args.reason:
        body["reason"] = args.reason
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.post(base + path, json=body, auth=aiohttp.BasicAuth(user, password, "utf-8")) as resp,
        ):
            status, text = resp.status, await resp.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        if isinstance(exc, TimeoutError):
            reason = "no answer within 10 s"
        elif isinstance(exc, aiohttp.ClientConnectorError):  # refused, or a name that does not resolve
            errno = exc.os_error.errno
            reason = (os.strerror(errno) if errno and errno > 0 else exc.os_error.strerror or str(exc)).lower()
        else:
            reason = str(exc) or type(exc).__name__
        raise HotlineError(
            f"the agents' API at {base} cannot be reached ({reason}); `hotline up` must be running there "
            "(http.host and http.port, e.g. HOTLINE_HTTP_PORT)"
        ) from None
    try:
        answer = json.loads(text)
    except ValueError:
        answer = {"error": text.strip()}
    if not isinstance(answer, dict):
        answer = {"error": text.strip()}
    if status == 401:
        print(f"hotline: error: {user}: wrong username or password ({base})", file=sys.stderr)
        return 1
    if status in (400, 403, 404, 409):
        print(f"hotline: error: the service refused: {answer.get('error', text.strip())}", file=sys.stderr)
        return 1
    if status != 200:
        raise HotlineError(f"the agents' API at {base} answered HTTP {status}: {text.strip()[:200]}")
    reason = f" ({answer['reason']})" if answer.get("reason") else ""
    print(f"agent {answer.get('username', args.username)}: {answer.get('state')}{reason}")
    return 0


def _agent_password(path: Path | None, user: str) -> str:
    """The password of `user` from a file (or stdin for '-'), else HOTLINE_AGENT_PASSWORD, else a prompt."""
    import getpass
    import os

    if path is not None:
        try:
            text = sys.stdin.readline() if str(path) == "-" else path.read_text(encoding="utf-8")
        except OSError as exc:
            raise HotlineError(f"--password-file {path}: cannot read it: {exc.strerror}") from None
        password = text.splitlines()[0] if text.strip() else ""
        if not password:
            raise HotlineError(f"--password-file {path}: the first line is empty; expected the password of {user}")
        return password
    if os.environ.get("HOTLINE_AGENT_PASSWORD"):
        return os.environ["HOTLINE_AGENT_PASSWORD"]
    if not sys.stdin.isatty():
        raise HotlineError(
            f"no password for {user}: use --password-file FILE, set HOTLINE_AGENT_PASSWORD, or run in a terminal "
            "to be asked"
        )
    password = getpass.getpass(f"password for {user}: ")
    if not password:
        raise HotlineError(f"no password given for {user}")
    return password


def _reload(settings: Settings) -> int:
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


def _prompts_build(settings: Settings) -> int:
    from hotline import prompts

    p = settings.prompts
    report = prompts.build(p.sources, p.built, p.locale)
    print(
        f"prompts {p.locale} -> {p.built}: {len(report.rendered)} rendered, {len(report.converted)} converted "
        f"from recordings, {len(report.unchanged)} unchanged"
    )
    return 0


async def _registry(args: argparse.Namespace, settings: Settings) -> int:
    from db import audit, households
    from db.pool import connect_current as connect
    from hotline.caller.households import read_registry_file
    from hotline.caller.phone import parse_caller
    from hotline.caller.privacy import load_keys

    keys = load_keys(settings)
    if args.registry_command == "import":
        parsed = read_registry_file(args.file)  # raises before touching the database
        conn = await connect(settings)
        try:
            async with conn.transaction():
                result = await households.import_digests(
                    conn, args.kind, [keys.digest(n) for n in parsed.numbers], source=args.file.name
                )
                await audit.record(
                    conn,
                    args.actor,
                    "import",
                    "vulnerable_registry",
                    args.kind,
                    file=args.file.name,
                    rows=parsed.rows,
                    added=result.added,
                )
        finally:
            await conn.close()
        print(
            f"{args.file}: {parsed.rows} row(s), {result.total} distinct number(s), "
            f"{result.added} newly registered as {args.kind}"
        )
        return 0
    number = parse_caller(args.number)
    if number.e164 is None:
        raise HotlineError("a withheld number cannot be looked up")
    conn = await connect(settings)
    try:
        kinds = await households.lookup(conn, keys.digest(number.e164))
        await audit.record(conn, args.actor, "read", "vulnerable_registry", number.masked, found=bool(kinds))
    finally:
        await conn.close()
    print(f"{number.masked}: {', '.join(kinds) if kinds else '未登记 (not registered)'}")
    return 0
