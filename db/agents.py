"""Agents: credentials (argon2 for the console, a SIP digest HA1 for the phone) and logged state changes."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from hotline.acd.agent_state import AgentState, check_change
from hotline.errors import HotlineError

ROLES = ("lawyer", "legal_aid", "mediator", "notary_adviser", "appraisal_adviser", "operator", "supervisor", "admin")
PASSWORD_MIN = 8  # characters, for the console and the SIP phone alike
_hasher = PasswordHasher()


class AgentNotFound(HotlineError):
    pass


class AgentExists(HotlineError):
    pass


@dataclass(frozen=True)
class Agent:
    id: int
    username: str
    display_name: str
    role: str
    sip_realm: str
    active: bool
    state: AgentState
    state_reason: str | None
    state_changed_at: dt.datetime

    @classmethod
    def from_row(cls, row: Any) -> Agent:
        values = {name: row[name] for name in cls.__dataclass_fields__ if name != "state"}
        return cls(**values, state=AgentState(row["state"]))


_COLUMNS = ", ".join(Agent.__dataclass_fields__)


def sip_ha1(username: str, realm: str, password: str) -> str:
    """The digest HA1 that Kamailio's auth_db compares against (RFC 2617: MD5 is what SIP phones speak)."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode(), usedforsecurity=False).hexdigest()


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise HotlineError(f"agent role {role!r} is not one of {', '.join(ROLES)}")


def _check_password(username: str, password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise HotlineError(f"agent {username}: the password must have at least {PASSWORD_MIN} characters")


_INSERT = """INSERT INTO agents (username, display_name, role, password_hash, sip_realm, sip_ha1)
    VALUES ($1, $2, $3, $4, $5, $6)"""
_OVERWRITE = """ON CONFLICT (username) DO UPDATE SET display_name = EXCLUDED.display_name, role = EXCLUDED.role,
    password_hash = EXCLUDED.password_hash, sip_realm = EXCLUDED.sip_realm, sip_ha1 = EXCLUDED.sip_ha1"""


async def _insert(
    conn: Any, on_conflict: str, username: str, display_name: str, role: str, password: str, realm: str
) -> Any:
    _check_role(role)
    _check_password(username, password)
    return await conn.fetchrow(
        f"{_INSERT} {on_conflict} RETURNING {_COLUMNS}",
        username,
        display_name,
        role,
        _hasher.hash(password),
        realm,
        sip_ha1(username, realm, password),
    )


async def create(
    conn: Any, username: str, display_name: str, role: str, password: str, *, realm: str = "12348"
) -> Agent:
    """Create the agent, or overwrite the name, role and credentials of the one of that username."""
    return Agent.from_row(await _insert(conn, _OVERWRITE, username, display_name, role, password, realm))


async def insert(
    conn: Any, username: str, display_name: str, role: str, password: str, *, realm: str = "12348"
) -> Agent:
    """Create a new agent; AgentExists (and nothing changed) when the username is taken."""
    row = await _insert(conn, "ON CONFLICT (username) DO NOTHING", username, display_name, role, password, realm)
    if row is None:
        raise AgentExists(f"an agent named {username!r} exists already")
    return Agent.from_row(row)


async def list_all(conn: Any) -> list[Agent]:
    """Every agent, active ones first, by username."""
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM agents ORDER BY active DESC, username")
    return [Agent.from_row(r) for r in rows]


async def _update(conn: Any, username: str, assignments: str, *values: Any) -> Agent:
    row = await conn.fetchrow(
        f"UPDATE agents SET {assignments} WHERE username = $1 RETURNING {_COLUMNS}", username, *values
    )
    if row is None:
        raise AgentNotFound(f"no agent named {username!r}")
    return Agent.from_row(row)


async def set_active(conn: Any, username: str, active: bool) -> Agent:
    """Enable or disable the agent's account (a disabled agent cannot log in, register a phone or be offered
    calls); their state and sessions are the caller's to end."""
    return await _update(conn, username, "active = $2", active)


async def set_role(conn: Any, username: str, role: str) -> Agent:
    _check_role(role)
    return await _update(conn, username, "role = $2", role)


async def set_password(conn: Any, username: str, password: str) -> Agent:
    """Replace the console password (argon2) and the SIP digest HA1 together; sessions are the caller's to end."""
    _check_password(username, password)
    async with conn.transaction():
        realm: str | None = await conn.fetchval("SELECT sip_realm FROM agents WHERE username = $1 FOR UPDATE", username)
        if realm is None:
            raise AgentNotFound(f"no agent named {username!r}")
        hashed, ha1 = _hasher.hash(password), sip_ha1(username, realm, password)
        return await _update(conn, username, "password_hash = $2, sip_ha1 = $3", hashed, ha1)


async def verify_password(conn: Any, username: str, password: str) -> Agent | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS}, password_hash FROM agents WHERE username = $1 AND active", username)
    if row is None or row["password_hash"] is None:
        return None
    try:
        _hasher.verify(row["password_hash"], password)
    except VerificationError:
        return None
    return Agent.from_row(row)


async def get(conn: Any, username: str) -> Agent:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM agents WHERE username = $1", username)
    if row is None:
        raise AgentNotFound(f"no agent named {username!r}")
    return Agent.from_row(row)


async def username_of(conn: Any, agent_id: int) -> str | None:
    name: str | None = await conn.fetchval("SELECT username FROM agents WHERE id = $1", agent_id)
    return name


async def change_state(
    conn: Any,
    username: str,
    wanted: str,
    *,
    cause: str,
    actor: str,
    reason: str | None = None,
    call_id: UUID | None = None,
) -> Agent:
    """Change an agent's state under a row lock and log it with its cause."""
    async with conn.transaction():
        row = await conn.fetchrow("SELECT id, state FROM agents WHERE username = $1 FOR UPDATE", username)
        if row is None:
            raise AgentNotFound(f"no agent named {username!r}")
        if row["state"] == wanted and wanted != "paused":
            return await get(conn, username)  # already there: nothing to change or log
        dst = check_change(username, row["state"], wanted, cause=cause, reason=reason)
        await move(conn, row["id"], row["state"], dst.value, cause=cause, actor=actor, reason=reason, call_id=call_id)
        updated = await conn.fetchrow(f"SELECT {_COLUMNS} FROM agents WHERE id = $1", row["id"])
    return Agent.from_row(updated)


async def move(
    conn: Any,
    agent_id: int,
    expected: str,
    state: str,
    *,
    cause: str,
    actor: str,
    reason: str | None = None,
    call_id: UUID | None = None,
) -> bool:
    """Move an agent from `expected` to `state` and log it; nothing (False) if the agent is no longer in
    `expected` (a supervisor or another process moved it first). Callers check the rules, or are the system."""
    changed = await conn.fetchval(
        """UPDATE agents SET state = $3, state_reason = $4, state_changed_at = now()
           WHERE id = $1 AND state = $2 RETURNING true""",
        agent_id,
        expected,
        state,
        reason,
    )
    if changed:
        await conn.execute(
            """INSERT INTO agent_state_log (agent_id, from_state, to_state, reason, cause, actor, call_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            agent_id,
            expected,
            state,
            reason,
            cause,
            actor,
            call_id,
        )
    return bool(changed)


async def unanswered_in_a_row(conn: Any, agent_id: int) -> int:
    """Offers the agent left unanswered (RINGNOANSWER) since their last connected call."""
    missed: int = await conn.fetchval(
        """SELECT count(*) FROM call_events WHERE agent_id = $1 AND event = 'RINGNOANSWER'
           AND at > coalesce((SELECT max(at) FROM call_events WHERE agent_id = $1 AND event = 'CONNECT'),
                             '-infinity')""",
        agent_id,
    )
    return missed
