"""The ``hotline`` command: global options here, each package's commands registered by that package.

A command module has ``register(sub)``, which adds its parsers and sets ``run`` (``async (args, settings) ->
exit code``, run with the settings loaded, logging set up and asyncpg errors reported) or ``direct`` (``(args) ->
exit code`` for a tool that sets itself up). Adding a command adds a module to `COMMANDS`, not lines here.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import asyncpg

from hotline import __version__
from hotline.analysis import cli as analysis
from hotline.cli import agents, backup, demo, queues, registry, report, service, simulate, targets, tools
from hotline.config import Settings, load_settings
from hotline.errors import ConfigError, HotlineError
from hotline.logs import setup_logging

#: The modules whose ``register`` adds commands, in the order ``hotline --help`` lists them.
COMMANDS: tuple[ModuleType, ...] = (
    service,
    tools,
    analysis,
    agents,
    queues,
    registry,
    targets,
    report,
    simulate,
    demo,
    backup,
)


def _parse_set(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set http.port=8081")
        out[key.strip()] = value
    return out


def settings_of(args: argparse.Namespace) -> Settings:
    """The settings named by ``--config`` and ``--set`` (then the environment)."""
    return load_settings(args.config, overrides=_parse_set(args.set))


def config_arguments(args: argparse.Namespace, *, resolve: bool = False) -> list[str]:
    """``--config`` and ``--set`` again, for a child process that loads the same settings."""
    forwarded = ["--config", str(args.config.resolve() if resolve else args.config)] if args.config else []
    return [*forwarded, *(arg for item in args.set for arg in ("--set", item))]


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
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "check-flows" in argv:
        return tools.check_flows(argv[argv.index("check-flows") + 1 :])
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "direct", None) is not None:
            code: int = args.direct(args)
            return code
        settings = settings_of(args)
        setup_logging(settings.log_level)
        code = asyncio.run(args.run(args, settings))
        return code
    except HotlineError as exc:
        print(f"hotline: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except asyncpg.PostgresError as exc:
        print(f"hotline: database error: {exc}", file=sys.stderr)
        return 2
