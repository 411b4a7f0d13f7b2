"""``hotline check-flows``, ``tag``, ``transcribe``: commands that set themselves up (no event loop here)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    """Add the self-contained tools to the ``hotline`` parser's subcommands."""
    sub.add_parser(
        "check-flows",
        add_help=False,
        help="check IVR flow files (schema, graph, prompts, queues, schedules); see check-flows --help",
    )
    tr = sub.add_parser(
        "transcribe",
        help="run the transcription service (Vosk websocket, post-call backlog) from the transcribe settings",
        description="Serves ws://HOST:PORT/asr (vosk-server style: a JSON config message, then 16-bit PCM frames; "
        "partial and final results back), stores final segments, raises the 人身安全风险 flag on callers' words "
        "(NOTIFY hotline_risk), and transcribes the post-call backlog from the recordings. A missing model path is "
        "a start-up error naming it. `hotline up` runs it itself when the model is there.",
    )
    tr.set_defaults(direct=_transcribe)
    tg = sub.add_parser(
        "tag",
        help='tag caller statements: JSON lines {"text": ...} in, legal area / service / flags out',
        description='Reads JSON lines {"text": "..."} on stdin and writes one JSON line per input, in order: '
        '{"legal_area": ..., "service": ..., "flags": [...]}. A bad line gives an {"error": ...} line '
        "and a message on stderr naming its line number; the exit code is then 1.",
    )
    tg.set_defaults(direct=_tag)


def check_flows(argv: list[str]) -> int:
    """``hotline check-flows ...`` has its own parser: files and options after the subcommand."""
    from hotline.flow import check_flows_main

    return check_flows_main(argv)


def _transcribe(args: argparse.Namespace) -> int:
    from hotline.cli import config_arguments, settings_of
    from hotline.transcribe.__main__ import main as transcribe_main

    settings_of(args)  # a bad setting is refused here, named, before the service starts
    return transcribe_main(config_arguments(args))


def _tag(_args: argparse.Namespace) -> int:  # no database, no event loop: a filter over stdin
    from hotline.tag import tag_main

    return tag_main(sys.stdin, sys.stdout, sys.stderr)
