"""``hotline registry import|lookup``: the vulnerable-household registry (建档立卡, 低保, 特困...)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hotline.config import Settings
from hotline.errors import HotlineError


def register(sub: Any) -> None:
    """Add ``registry ...`` to the ``hotline`` parser's subcommands."""
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
    imp.set_defaults(run=_registry)
    look = reg_sub.add_parser("lookup", help="tell whether a number is registered (logged in the audit log)")
    look.add_argument("number")
    look.add_argument("--actor", default="cli", help="who asks, for the audit log (default: cli)")
    look.set_defaults(run=_registry)


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
            result = await households.import_file(conn, args.kind, parsed, keys, actor=args.actor)
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
