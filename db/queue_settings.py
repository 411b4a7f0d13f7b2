"""A queue's settings (the `queues` row: strategy, times, waiting policies, the ACD rules of 0007), read and
changed by the admin page and `hotline queue set`.

Nothing caches them: the dispatcher reads strategy, priority aging, penalty steps and skills relaxation in every
matching pass and wrap-up time in every reconciliation (db.acd), a cell reads the ring timeout at every offer
and the waiting policies when a caller joins (db.queues). A change is therefore in force from the next decision;
it also NOTIFYs 'acd' so the dispatcher runs a pass at once (relaxed penalty steps or skills may make a waiting
caller offerable now). A caller already in line keeps the waiting policy (maximum wait, leave when empty) read
when they joined.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from db import audit
from db.acd import CHANGES
from db.membership import require_queue

# The columns a change may set, in the order the admin page shows them.
FIELDS = (
    "display_name",
    "strategy",
    "service_level_seconds",
    "wrapup_seconds",
    "ring_timeout_seconds",
    "max_wait_seconds",
    "max_length",
    "join_when_empty",
    "leave_when_empty",
    "priority_aging_per_minute",
    "penalty_steps",
    "skills_relax_after_seconds",
)


@dataclass(frozen=True)
class QueueSettings:
    name: str
    display_name: str
    strategy: str
    service_level_seconds: int
    wrapup_seconds: int
    ring_timeout_seconds: int
    max_wait_seconds: int | None  # None: the flow's max_wait, else 600 s
    max_length: int | None  # None: no limit
    join_when_empty: str
    leave_when_empty: bool
    priority_aging_per_minute: float
    penalty_steps: list[dict[str, int]]  # [{"after_seconds": 30, "max_penalty": 100}, ...]
    skills_relax_after_seconds: int | None  # None: required skills stay required
    members: int

    @classmethod
    def from_row(cls, row: Any) -> QueueSettings:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        values["penalty_steps"] = json.loads(row["penalty_steps"])
        return cls(**values)

    def settings(self) -> dict[str, Any]:
        """The settable fields (FIELDS) and their values."""
        values = asdict(self)
        return {name: values[name] for name in FIELDS}


def changed(before: QueueSettings, after: QueueSettings) -> list[str]:
    """The fields whose value differs, in the order of FIELDS."""
    was, now = before.settings(), after.settings()
    return [f for f in FIELDS if was[f] != now[f]]


_SELECT = f"""
SELECT q.name, {", ".join(f"q.{f}" for f in FIELDS if f != "penalty_steps")}, q.penalty_steps::text AS penalty_steps,
       (SELECT count(*)::int FROM queue_members m WHERE m.queue_id = q.id) AS members
FROM queues q
"""


async def list_all(conn: Any) -> list[QueueSettings]:
    """Every queue's settings, by name."""
    return [QueueSettings.from_row(r) for r in await conn.fetch(f"{_SELECT} ORDER BY q.name")]


async def get(conn: Any, name: str) -> QueueSettings:
    """One queue's settings; QueueNotFound when there is no such queue."""
    queue_id = await require_queue(conn, name)
    return QueueSettings.from_row(await conn.fetchrow(f"{_SELECT} WHERE q.id = $1", queue_id))


async def update(
    conn: Any, name: str, changes: Mapping[str, Any], *, actor: str
) -> tuple[QueueSettings, QueueSettings]:
    """Set the fields of `changes` (keys from FIELDS, values already checked: agents.admin.schemas) in one
    transaction with the audit row holding each changed field's value before and after, and wake the
    dispatcher. Answers the settings before and after; a change that changes nothing is neither written nor
    audited. QueueNotFound when there is no such queue."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise ValueError(f"not settable: {', '.join(sorted(unknown))}")
    async with conn.transaction():
        queue_id = await require_queue(conn, name)
        before = QueueSettings.from_row(await conn.fetchrow(f"{_SELECT} WHERE q.id = $1 FOR UPDATE OF q", queue_id))
        was = before.settings()
        changed = {field: value for field, value in changes.items() if was[field] != value}
        if not changed:
            return before, before
        columns = list(changed)
        assignments = ", ".join(
            f"{c} = ${i}::jsonb" if c == "penalty_steps" else f"{c} = ${i}" for i, c in enumerate(columns, start=2)
        )
        values = [json.dumps(changed[c]) if c == "penalty_steps" else changed[c] for c in columns]
        await conn.execute(f"UPDATE queues SET {assignments} WHERE id = $1", queue_id, *values)
        await conn.execute(f"SELECT pg_notify('{CHANGES}', 'queues')")
        after = QueueSettings.from_row(await conn.fetchrow(f"{_SELECT} WHERE q.id = $1", queue_id))
        now = after.settings()
        await audit.record(
            conn,
            actor,
            "update",
            "queue",
            name,
            before={c: was[c] for c in columns},
            after={c: now[c] for c in columns},
        )
    return before, after
