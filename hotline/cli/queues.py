"""``hotline queue list|members|add-member|remove-member``: who takes which queue's calls (the database).

Changes are written to the audit log as ``cli:<OS user>``; the console's admin page makes the same changes.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hotline.config import Settings
from hotline.errors import HotlineError


def register(sub: Any) -> None:
    """Add ``queue ...`` to the ``hotline`` parser's subcommands."""
    qu = sub.add_parser("queue", help="queues and their members (database)")
    qu_sub = qu.add_subparsers(dest="queue_command", metavar="ACTION", required=True)
    ls = qu_sub.add_parser("list", help="every queue with its strategy and number of members")
    ls.set_defaults(run=_queue)
    members = qu_sub.add_parser(
        "members", help="a queue's members with penalty, tier and state (in the order they are offered callers)"
    )
    members.add_argument("queue", metavar="QUEUE", help="queue name, e.g. legal_aid (see `hotline queue list`)")
    members.set_defaults(run=_queue)
    add = qu_sub.add_parser(
        "add-member",
        help="make an agent a member of a queue, or change their penalty and tier there",
        description="Add the agent to the queue, or update the penalty and tier of an existing member (both are "
        "set: an omitted option means its default). The dispatcher uses the change from its next pass. Written "
        "to the audit log.",
    )
    add.add_argument("queue", metavar="QUEUE", help="queue name, e.g. legal_aid (see `hotline queue list`)")
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
