"""Problems found in a flow or schedule file, each pointing at a file, a line, a node and a field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hotline.errors import HotlineError

PathPart = str | int
KeyPath = tuple[PathPart, ...]


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    node: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        parts = [f"{self.file}:{self.line}:"]
        if self.node is not None:
            parts.append(f"node {self.node}:")
        if self.field is not None:
            parts.append(f"field {self.field}:")
        parts.append(self.message)
        return " ".join(parts)


class FlowError(HotlineError):
    """A flow (or schedule) that was refused, with every problem found in it."""

    def __init__(self, what: str, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n  ".join(str(p) for p in self.problems)
        super().__init__(f"{what} refused ({len(self.problems)} problem(s)):\n  {lines}")


def field_text(path: Sequence[PathPart]) -> str | None:
    """``("cases", 0, "next")`` -> ``cases[0].next``; the empty path -> None."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or None
