"""The ``hotline`` parser is assembled from each package's ``register``: every command reaches a handler."""

from __future__ import annotations

import argparse

import pytest

from hotline.cli import COMMANDS, build_parser


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [(path, parser)]
    found: list[tuple[tuple[str, ...], object]] = []
    for name, child in subs[0].choices.items():
        found += _leaves(child, (*path, name))
    return found


def test_every_command_of_every_package_has_a_handler() -> None:
    leaves = _leaves(build_parser())
    names = {" ".join(path) for path, _ in leaves}
    assert {"up", "migrate", "agent add", "agent pause", "registry import", "qa report", "tag"} <= names
    assert {"queue list", "queue members", "queue add-member", "queue remove-member"} <= names
    missing = [
        " ".join(path)
        for path, parser in leaves
        if path != ("check-flows",)  # its own parser, handed the rest of the line
        and not ({"run", "direct"} & set(vars(parser)["_defaults"]))
    ]
    assert not missing, f"commands without run/direct: {missing}"


def test_each_registering_module_adds_commands_of_its_own() -> None:
    seen: set[str] = set()
    for module in COMMANDS:
        parser = argparse.ArgumentParser()
        module.register(parser.add_subparsers(dest="command"))
        (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        added = set(sub.choices)
        assert added, f"{module.__name__} registers nothing"
        assert not added & seen, f"{module.__name__} registers {added & seen} again"
        seen |= added


@pytest.mark.parametrize(
    ("argv", "handler"),
    [
        (["agent", "pause", "lawyer01", "--reason", "午休"], "_agent_state"),
        (["agent", "add", "lawyer01", "--name", "张律师", "--role", "lawyer"], "_add"),
        (["migrate", "--status"], "_migrate"),
        (["queue", "add-member", "legal_aid", "lawyer01", "--penalty", "10"], "_queue"),
        (["qa", "report"], "_report"),
    ],
)
def test_a_command_line_selects_its_packages_handler(argv: list[str], handler: str) -> None:
    assert build_parser().parse_args(argv).run.__name__ == handler
