"""``hotline queue list|members|add-member|remove-member|set``: who takes which queue's calls, and the queue's
settings (the database).

Changes are written to the audit log as ``cli:<OS user>``; the console's admin page makes the same changes.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hotline.config import Settings
from hotline.errors import HotlineError


def _queue_argument(parser: Any) -> None:
    parser.add_argument("queue", metavar="QUEUE", help="queue name, e.g. legal_aid (see `hotline queue list`)")


def register(sub: Any) -> None:
    """Add ``queue ...`` to the ``hotline`` parser's subcommands."""
    qu = sub.add_parser("queue", help="queues and their members (database)")
    qu_sub = qu.add_subparsers(dest="queue_command", metavar="ACTION", required=True)
    ls = qu_sub.add_parser("list", help="every queue with its strategy and number of members")
    ls.set_defaults(run=_queue)
    members = qu_sub.add_parser(
        "members", help="a queue's members with penalty, tier and state (in the order they are offered callers)"
    )
    _queue_argument(members)
    members.set_defaults(run=_queue)
    add = qu_sub.add_parser(
        "add-member",
        help="make an agent a member of a queue, or change their penalty and tier there",
        description="Add the agent to the queue, or update the penalty and tier of an existing member (both are "
        "set: an omitted option means its default). The dispatcher uses the change from its next pass. Written "
        "to the audit log.",
    )
    _queue_argument(add)
    add.add_argument("username", metavar="USERNAME", help="an agent created with `hotline agent add`")
    add.add_argument(
        "--penalty",
        type=int,
        default=0,
        metavar="N",
        help="0 to 100 (default 0): 0 takes calls at once, a higher penalty only callers who have waited as "
        "long as the queue's penalty steps say, lower penalties first",
    )
    add.add_argument(
        "--tier",
        type=int,
        default=1,
        metavar="N",
        help="1 to 9 (default 1): tier 2 is offered a caller only when no eligible tier-1 member is free",
    )
    add.set_defaults(run=_queue)
    rm = qu_sub.add_parser(
        "remove-member",
        help="take an agent out of a queue",
        description="Take the agent out of the queue (a call already offered or connected is not affected). "
        "Written to the audit log; exit status 1 when the agent was not a member.",
    )
    rm.add_argument("queue", metavar="QUEUE", help="queue name (see `hotline queue list`)")
    rm.add_argument("username", metavar="USERNAME", help="the agent's username")
    rm.set_defaults(run=_queue)
    _register_set(qu_sub)


# `hotline queue set` options: (flag, db.queue_settings field, metavar, help); "none" unsets the optional ones.
SET_OPTIONS = (
    ("--display-name", "display_name", "TEXT", "the name the console and reports show, e.g. 法律援助"),
    (
        "--strategy",
        "strategy",
        "NAME",
        "longest_idle, round_robin, fewest_calls, least_talk_time, ring_all or skills_weighted",
    ),
    ("--service-level", "service_level_seconds", "S", "service-level target in seconds (1 to 3600)"),
    ("--wrapup", "wrapup_seconds", "S", "seconds of wrap-up after a call before the agent is available (0 to 3600)"),
    ("--ring-timeout", "ring_timeout_seconds", "S", "seconds an agent's phone rings for an offer (1 to 300)"),
    ("--max-wait", "max_wait_seconds", "S|none", "longest wait when the flow sets none (none: 600 s)"),
    ("--max-length", "max_length", "N|none", "callers in line at most (none: no limit)"),
    ("--join-when-empty", "join_when_empty", "POLICY", "paused_ok, no or yes: who must be logged in to join"),
    ("--leave-when-empty", "leave_when_empty", "yes|no", "callers leave once no member is logged in"),
    ("--aging", "priority_aging_per_minute", "X", "priority points a caller gains per minute waited (0 to 60)"),
    ("--penalty-steps", "penalty_steps", "S:P,...", "after S seconds members with penalty up to P, e.g. 0:0,30:100"),
    ("--skills-relax", "skills_relax_after_seconds", "S|none", "after S seconds required skills are not required"),
)


def _register_set(qu_sub: Any) -> None:
    st = qu_sub.add_parser(
        "set",
        help="change a queue's settings (strategy, wrap-up, ring timeout, waiting policies, ACD rules)",
        description="Change the given settings of the queue; the others stay as they are. The ACD uses them "
        "from its next decision, without a restart (a caller already in line keeps the waiting policy read when "
        "they joined). Written to the audit log with the values before and after.",
    )
    _queue_argument(st)
    for flag, field, metavar, text in SET_OPTIONS:
        st.add_argument(flag, dest=field, metavar=metavar, help=text)
    st.set_defaults(run=_queue)


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    """The options given, as the admin page's body (the values are checked by its schema)."""
    changes: dict[str, Any] = {}
    for _flag, field, _metavar, _text in SET_OPTIONS:
        value = getattr(args, field)
        if value is None:
            continue
        if field == "leave_when_empty":
            value = {"yes": True, "no": False}.get(value.lower(), value)
        elif value.lower() == "none":
            value = None
        changes[field] = value
    return changes


async def _set(conn: Any, args: argparse.Namespace) -> int:
    from agents.admin.schemas import queue_changes
    from agents.desk.schemas import Invalid
    from db import queue_settings

    flags = {field: flag for flag, field, _metavar, _text in SET_OPTIONS}
    try:
        changes = queue_changes(_changes(args), queue_settings.FIELDS)
    except Invalid as exc:
        for field, message in exc.fields.items():
            where = flags.get(field, "options")
            print(f"hotline: error: {where}: {message}", file=sys.stderr)
        print(f"hotline: queue {args.queue} not changed", file=sys.stderr)
        return 2
    before, after = await queue_settings.update(conn, args.queue, changes, actor=_actor())
    was, now = before.settings(), after.settings()
    changed = queue_settings.changed(before, after)
    if not changed:
        print(f"queue {args.queue}: nothing changed")
    for field in changed:
        print(f"queue {args.queue}: {flags[field][2:]} {was[field]!r} -> {now[field]!r}")
    return 0


def _actor() -> str:
    import getpass

    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment nor in the password database
        return "cli:unknown"


async def _queue(args: argparse.Namespace, settings: Settings) -> int:
    from db.agents import AgentNotFound
    from db.pool import connect_current

    conn = await connect_current(settings)
    try:
        return await _run(conn, args)
    except AgentNotFound as exc:
        print(f"hotline: error: {exc}; expected the username of an agent (see `hotline agent add`)", file=sys.stderr)
        return 1
    except HotlineError as exc:  # an unknown queue, a penalty or tier out of range
        print(f"hotline: error: {exc}", file=sys.stderr)
        return 1
    finally:
        await conn.close()


async def _run(conn: Any, args: argparse.Namespace) -> int:
    from db import membership

    command = args.queue_command
    if command == "set":
        return await _set(conn, args)
    if command == "list":
        queues = await membership.list_queues(conn)
        width = max((len(q.name) for q in queues), default=0)
        for q in queues:
            print(f"{q.name:<{width}}  {q.strategy:<15}  {q.members:>3} member(s)  {q.display_name}")
        return 0
    if command == "members":
        found = await membership.members(conn, args.queue)
        if not found:
            print(f"queue {args.queue}: no members")
            return 0
        width = max(len(m.username) for m in found)
        for m in found:
            print(f"{m.username:<{width}}  tier {m.tier}  penalty {m.penalty:>3}  {m.state:<10}  {m.display_name}")
        return 0
    if command == "add-member":
        member = await membership.add(
            conn, args.queue, args.username, penalty=args.penalty, tier=args.tier, actor=_actor()
        )
        print(
            f"queue {member.queue}: {member.username} ({member.display_name}) is a member with penalty "
            f"{member.penalty}, tier {member.tier}"
        )
        return 0
    if await membership.remove(conn, args.queue, args.username, actor=_actor()):
        print(f"queue {args.queue}: {args.username} removed")
        return 0
    print(f"hotline: error: {args.username} is not a member of queue {args.queue}; nothing removed", file=sys.stderr)
    return 1
