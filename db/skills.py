"""Skills (`skills`) and the agents' levels in them (`agent_skills`), named ``kind:name`` as queue entries and flows
name them (``language:彝语``). A change wakes the ACD dispatcher (NOTIFY 'acd'): the skills decide who is offered
a waiting caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from db.acd import CHANGES

KINDS = ("legal_area", "service", "language", "prefecture")  # skills.kind CHECK (0001)
LEVELS = range(1, 11)  # agent_skills.level CHECK (0001)


@dataclass(frozen=True)
class Skill:
    kind: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


async def all_skills(conn: Any) -> list[Skill]:
    rows = await conn.fetch("SELECT kind, name FROM skills ORDER BY kind, name")
    return [Skill(r["kind"], r["name"]) for r in rows]


async def add(conn: Any, kind: str, name: str) -> bool:
    """Define a skill; False when it exists already."""
    done: str = await conn.execute(
        "INSERT INTO skills (kind, name) VALUES ($1, $2) ON CONFLICT (kind, name) DO NOTHING", kind, name
    )
    return done.endswith(" 1")


async def ids(conn: Any, keys: list[str]) -> dict[str, int]:
    """The ids of the skills named ``kind:name`` among ``keys`` (a key missing from the answer is unknown)."""
    rows = await conn.fetch(
        "SELECT kind || ':' || name AS key, id FROM skills WHERE kind || ':' || name = ANY($1)", keys
    )
    return {r["key"]: r["id"] for r in rows}


async def levels(conn: Any) -> dict[int, dict[str, int]]:
    """Every agent's skills: agent id -> {"kind:name": level}."""
    rows = await conn.fetch(
        """SELECT k.agent_id, s.kind || ':' || s.name AS key, k.level
           FROM agent_skills k JOIN skills s ON s.id = k.skill_id ORDER BY k.agent_id, s.kind, s.name"""
    )
    found: dict[int, dict[str, int]] = {}
    for r in rows:
        found.setdefault(r["agent_id"], {})[r["key"]] = r["level"]
    return found


async def of_agent(conn: Any, agent_id: int) -> dict[str, int]:
    rows = await conn.fetch(
        """SELECT s.kind || ':' || s.name AS key, k.level
           FROM agent_skills k JOIN skills s ON s.id = k.skill_id WHERE k.agent_id = $1 ORDER BY s.kind, s.name""",
        agent_id,
    )
    return {r["key"]: r["level"] for r in rows}


async def replace(conn: Any, agent_id: int, by_skill_id: dict[int, int]) -> None:
    """The agent's skills become exactly these (skill id -> level), in one transaction."""
    async with conn.transaction():
        await conn.execute("DELETE FROM agent_skills WHERE agent_id = $1", agent_id)
        await conn.executemany(
            "INSERT INTO agent_skills (agent_id, skill_id, level) VALUES ($1, $2, $3)",
            [(agent_id, skill_id, level) for skill_id, level in by_skill_id.items()],
        )
        await conn.execute(f"SELECT pg_notify('{CHANGES}', 'agent_skills')")
