"""The console's server-side sessions (`web_sessions`) and failed logins (`login_failures`).

A session row is keyed by the SHA-256 of the cookie's token; it ends when unused for ``idle`` seconds, when
older than ``absolute`` seconds, at logout, or when the agent is disabled. Ages are PostgreSQL's clock (the
clock of the stamps), so two console processes agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from db.agents import Agent

SEEN_EVERY_S = 30  # seen_at is refreshed at most this often (one write per page burst, not per request)


@dataclass(frozen=True)
class Session:
    id: str
    csrf: str
    agent: Agent


async def create(conn: Any, session_id: str, agent_id: int, csrf: str, address: str | None) -> None:
    await conn.execute(
        "INSERT INTO web_sessions (id, agent_id, csrf, address) VALUES ($1, $2, $3, $4)",
        session_id,
        agent_id,
        csrf,
        address,
    )


async def live(conn: Any, session_id: str, idle_s: float, absolute_s: float) -> Session | None:
    """The session if it is still alive (its agent active), marking it seen; None otherwise."""
    row = await conn.fetchrow(
        """WITH s AS (
                SELECT id, agent_id, csrf FROM web_sessions
                WHERE id = $1 AND seen_at > now() - make_interval(secs => $2)
                  AND created_at > now() - make_interval(secs => $3)),
            seen AS (
                UPDATE web_sessions w SET seen_at = now() FROM s
                WHERE w.id = s.id AND w.seen_at < now() - make_interval(secs => $4))
            SELECT s.id AS session_id, s.csrf, a.*
            FROM s JOIN agents a ON a.id = s.agent_id WHERE a.active""",
        session_id,
        idle_s,
        absolute_s,
        SEEN_EVERY_S,
    )
    if row is None:
        return None
    return Session(row["session_id"], row["csrf"], Agent.from_row(row))


async def end(conn: Any, session_id: str) -> None:
    await conn.execute("DELETE FROM web_sessions WHERE id = $1", session_id)


async def end_all(conn: Any, agent_id: int) -> int:
    """End every session of an agent (logout everywhere, a disabled account, a reset password)."""
    done: str = await conn.execute("DELETE FROM web_sessions WHERE agent_id = $1", agent_id)
    return int(done.split()[-1])


async def count(conn: Any, agent_id: int) -> int:
    n: int = await conn.fetchval("SELECT count(*) FROM web_sessions WHERE agent_id = $1", agent_id)
    return n


async def prune(conn: Any, idle_s: float, absolute_s: float) -> None:
    """Forget sessions that are over and failures older than a day."""
    await conn.execute(
        """DELETE FROM web_sessions WHERE seen_at <= now() - make_interval(secs => $1)
               OR created_at <= now() - make_interval(secs => $2)""",
        idle_s,
        absolute_s,
    )
    await conn.execute("DELETE FROM login_failures WHERE at < now() - interval '1 day'")


@dataclass(frozen=True)
class Failures:
    by_username: int
    by_address: int
    retry_after_s: float  # until the oldest failure that counts leaves the window


async def failures(conn: Any, username: str, address: str, window_s: float) -> Failures:
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE username = $1) AS by_username,
                  count(*) FILTER (WHERE address = $2) AS by_address,
                  coalesce(extract(epoch FROM min(at) + make_interval(secs => $3) - now()), 0)::float8 AS retry
           FROM login_failures
           WHERE (username = $1 OR address = $2) AND at > now() - make_interval(secs => $3)""",
        username,
        address,
        window_s,
    )
    return Failures(row["by_username"], row["by_address"], max(0.0, row["retry"]))


async def record_failure(conn: Any, username: str, address: str) -> None:
    await conn.execute("INSERT INTO login_failures (username, address) VALUES ($1, $2)", username[:64], address)


async def clear_failures(conn: Any, username: str) -> None:
    """A successful login forgets the account's failures (the address's stay: another account may be guessed)."""
    await conn.execute("DELETE FROM login_failures WHERE username = $1", username)
