"""What the tagger's result changes on a work order: pure, no IO.

The rule: a suggestion only fills what is empty, and only a field the same source filled earlier and nobody has
touched since may be changed again (a re-analysis after new rules or a new transcript). What an agent or the
flow set, and any value an agent has decided on, is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

URGENT_FLAGS = ("人身安全风险",)


class Suggestion(Protocol):
    """A suggestion recorded on the work order earlier (db.suggestions.Suggestion is one): what was suggested
    where, by which source, and what became of it (suggested, confirmed, corrected, rejected)."""

    @property
    def id(self) -> int: ...
    @property
    def field(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def status(self) -> str: ...


@dataclass(frozen=True)
class Proposal:
    field: str  # legal_area, service, flag
    value: str
    score: float | None = None
    rule: str | None = None


@dataclass(frozen=True)
class TicketFields:
    legal_area: str | None
    service: str | None
    flags: tuple[str, ...]
    priority: str


@dataclass(frozen=True)
class TicketPlan:
    fields: dict[str, str | None] = field(default_factory=dict)  # legal_area / service -> new value (None clears)
    add_flags: tuple[str, ...] = ()
    remove_flags: tuple[str, ...] = ()
    priority: str | None = None
    add: tuple[Proposal, ...] = ()  # suggestions to record
    withdraw: tuple[int, ...] = ()  # ids of open suggestions no longer proposed

    @property
    def empty(self) -> bool:
        return not (self.fields or self.add_flags or self.remove_flags or self.priority or self.add or self.withdraw)


def plan_ticket(
    current: TicketFields, existing: Sequence[Suggestion], proposals: Sequence[Proposal], source: str = "tagger"
) -> TicketPlan:
    """The changes that bring a work order in line with ``proposals`` without overriding anybody."""
    mine = [s for s in existing if s.source == source]
    fields: dict[str, str | None] = {}
    add: list[Proposal] = []
    withdraw: list[int] = []
    for name in ("legal_area", "service"):
        prop = next((p for p in proposals if p.field == name), None)
        history = [s for s in mine if s.field == name]
        if prop is not None and any(s.value == prop.value and s.status != "suggested" for s in history):
            prop = None  # an agent already decided on this value: never suggest it again
        pending = next((s for s in history if s.status == "suggested"), None)
        value: str | None = getattr(current, name)
        if pending is not None and value == pending.value:
            if prop is not None and prop.value == pending.value:
                continue
            withdraw.append(pending.id)
            fields[name] = prop.value if prop is not None else None
            if prop is not None:
                add.append(prop)
        elif value is None and prop is not None:
            fields[name] = prop.value
            add.append(prop)

    flag_props = {p.value: p for p in proposals if p.field == "flag"}
    flag_history = {s.value: s for s in mine if s.field == "flag"}
    remove: list[str] = []
    for value, s in flag_history.items():
        if s.status == "suggested" and value not in flag_props:
            withdraw.append(s.id)
            if value in current.flags:
                remove.append(value)
    add_flags: list[str] = []
    for value, prop in flag_props.items():
        if value in flag_history or value in current.flags:
            continue
        add_flags.append(value)
        add.append(prop)
    urgent = any(v in URGENT_FLAGS for v in flag_props) and current.priority != "urgent"
    return TicketPlan(
        fields=fields,
        add_flags=tuple(add_flags),
        remove_flags=tuple(remove),
        priority="urgent" if urgent else None,
        add=tuple(add),
        withdraw=tuple(withdraw),
    )
