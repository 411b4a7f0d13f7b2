"""Blind transfers asked for from the console (`transfers`): the agent's request, the cell's claim, the result.

The agent connected with the caller asks; the cell holding the call is told by NOTIFY 'acd_transfer' (payload:
the call id), claims the pending transfer (one at a time per call), hangs up the agent's leg and puts the caller
in the target queue, or rings the target agent. The work order follows the call: it is the call's, and whoever
answers next takes it (agents/desk/services.ensure_ticket).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

CHANNEL = "acd_transfer"


@dataclass(frozen=True)
class Transfer:
    id: int
    call_id: UUID
    from_agent_id: int
    from_username: str
    queue_id: int | None  # to a queue...
    queue_name: str | None
    agent_id: int | None  # ...or to one agent
    username: str | None
    call_queue: str | None  # the queue the call came through (where a failed transfer to an agent goes back)


_SELECT = """
SELECT t.id, t.call_id, t.from_agent_id, f.username AS from_username, t.to_queue_id AS queue_id,
       q.name AS queue_name, t.to_agent_id AS agent_id, a.username, cq.name AS call_queue
FROM transfers t JOIN agents f ON f.id = t.from_agent_id JOIN calls c ON c.id = t.call_id
LEFT JOIN queues q ON q.id = t.to_queue_id LEFT JOIN agents a ON a.id = t.to_agent_id
LEFT JOIN queues cq ON cq.id = c.queue_id"""


async def connected_call(conn: Any, agent_id: int) -> UUID | None:
    """The call the agent is connected with now (bridged by a cell, not ended), if any."""
    found: UUID | None = await conn.fetchval(
        """SELECT e.call_id FROM queue_entries e JOIN calls c ON c.id = e.call_id
           WHERE e.agent_id = $1 AND e.state = 'connected' AND c.ended_at IS NULL
           ORDER BY e.offered_at DESC LIMIT 1""",
        agent_id,
    )
    return found


async def request(
    conn: Any, call_id: UUID, from_agent_id: int, *, queue_id: int | None = None, agent_id: int | None = None
) -> int | None:
    """Ask the call's cell to transfer it; None when a transfer of the call is already pending."""
    async with conn.transaction():
        transfer_id: int | None = await conn.fetchval(
            """INSERT INTO transfers (call_id, from_agent_id, to_queue_id, to_agent_id) VALUES ($1, $2, $3, $4)
               ON CONFLICT (call_id) WHERE status = 'pending' DO NOTHING RETURNING id""",
            call_id,
            from_agent_id,
            queue_id,
            agent_id,
        )
        if transfer_id is not None:
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(call_id))
    return transfer_id


async def claim(conn: Any, call_id: UUID) -> Transfer | None:
    """The call's pending transfer, taken by the cell that will carry it out (done from now on)."""
    row = await conn.fetchrow(
        f"""WITH taken AS (UPDATE transfers SET status = 'done', done_at = now()
                           WHERE call_id = $1 AND status = 'pending' RETURNING id)
            {_SELECT} WHERE t.id = (SELECT id FROM taken)""",
        call_id,
    )
    return None if row is None else Transfer(**dict(row))


async def pending(conn: Any, call_id: UUID) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM transfers WHERE call_id = $1 AND status = 'pending')", call_id
    )
    return found


async def failed(conn: Any, transfer_id: int, result: str) -> None:
    await conn.execute("UPDATE transfers SET status = 'failed', result = $2 WHERE id = $1", transfer_id, result)


async def of_call(conn: Any, call_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""SELECT x.*, t.status, t.result, t.requested_at FROM ({_SELECT}) x JOIN transfers t ON t.id = x.id
            WHERE x.call_id = $1 ORDER BY x.id""",
        call_id,
    )
    return [dict(r) for r in rows]
