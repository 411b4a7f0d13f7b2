"""``hotline agent add`` (the database) and ``agent login|available|pause|logout`` (the running service's API).

The state commands speak HTTP Basic to the agents' REST API with the agent's console password, as a script or an
operator would; the console's session login is for browsers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hotline.config import Settings
from hotline.errors import HotlineError


def register(sub: Any) -> None:
    """Add ``agent ...`` to the ``hotline`` parser's subcommands."""
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
    add.set_defaults(run=_add)
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
        p.set_defaults(run=_agent_state)
    locks = ag_sub.add_parser(
        "locks",
        help="list the SIP authentication locks in force (through the running front)",
        description="Accounts locked from a source and sources banned after too many wrong SIP passwords "
        "(sip.auth_* settings), read from the running front's Kamailio.",
    )
    locks.set_defaults(run=_locks)
    unlock = ag_sub.add_parser(
        "unlock",
        help="lift a SIP authentication lock before it expires (supervisors; audited)",
        description="Lift the locks of USER (from every source, or from --source only), or with --source alone the "
        "ban of that source, in the running front; their failure counts are forgotten and the audit log says who "
        "lifted what. Exit status 1 when nothing was locked.",
    )
    unlock.add_argument("username", nargs="?", help="the agent whose SIP account is locked")
    unlock.add_argument("--source", help="an IP address: only its lock of USER, or without USER its ban")
    unlock.add_argument("--actor", help="who lifts it, for the audit log (default: cli:<login name>)")
    unlock.set_defaults(run=_unlock)


async def _add(args: argparse.Namespace, settings: Settings) -> int:
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


def _front(settings: Settings) -> Any:
    from hotline.front.process import KamailioProcess
    from hotline.supervisor.front import front_params

    return KamailioProcess(front_params(settings, []), kamailio_bin=settings.sip.kamailio_bin)


def _describe(lock: Any) -> str:
    if lock.kind == "source":
        return f"source {lock.source} banned from every account"
    return f"account {lock.username} locked from {lock.source}"


async def _front_call(settings: Settings, call: Any) -> Any:
    from hotline.front.process import KamailioError

    front = _front(settings)
    try:
        return await call(front)
    except KamailioError as exc:
        raise HotlineError(
            f"the SIP front cannot be reached at {front.params.rpc_socket} ({exc}); `hotline up` must be running "
            "with these settings (state_dir)"
        ) from None


async def _locks(_args: argparse.Namespace, settings: Settings) -> int:
    found = await _front_call(settings, lambda front: front.auth_locks())
    for lock in found:
        print(_describe(lock))
    if not found:
        print("no SIP authentication locks")
    return 0


async def _unlock(args: argparse.Namespace, settings: Settings) -> int:
    import getpass
    import ipaddress

    from db import audit
    from db.pool import connect_current

    if args.username is None and args.source is None:
        raise HotlineError("agent unlock: name the agent (USER), or a source address with --source")
    if args.source is not None:
        try:
            args.source = str(ipaddress.ip_address(args.source))
        except ValueError:
            raise HotlineError(f"--source {args.source!r}: expected an IP address, e.g. 192.0.2.7") from None
    lifted = await _front_call(settings, lambda front: front.unlock(args.username, args.source))
    if not lifted:
        who = f"account {args.username}" if args.username else f"source {args.source}"
        print(
            f"hotline: error: {who} has no lock in force"
            + (f" from {args.source}" if args.username and args.source else ""),
            file=sys.stderr,
        )
        return 1
    actor = args.actor or "cli:" + getpass.getuser()
    conn = await connect_current(settings)
    try:
        for lock in lifted:
            await audit.record(
                conn,
                actor,
                "update",
                "sip_account",
                lock.username,
                result="unlocked",
                lock=lock.kind,
                source=lock.source,
            )
    finally:
        await conn.close()
    for lock in lifted:
        print(f"lifted: {_describe(lock)}")
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
