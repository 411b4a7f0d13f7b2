"""What agents do with a work order: its assignee and supervisors may read it and decide on its suggested
values; every read and every decision is written to the audit log, in the transaction that reads or changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from agents.api import Forbidden
from agents.auth import holds, refusal
from agents.tickets.schemas import Decision, ticket_view
from db import agents, audit, suggestions, tickets


def may_handle(agent: agents.Agent, ticket: tickets.Ticket) -> bool:
    return holds(agent, "supervisor") or ticket.assignee_id == agent.id


@asynccontextmanager
async def handled_ticket(
    pool: Any, agent: agents.Agent, number: str, action: str
) -> AsyncIterator[tuple[Any, tickets.Ticket]]:
    """A transaction and the work order ``number``, if ``agent`` may ``action`` it (TicketNotFound, Forbidden)."""
    async with pool.acquire() as conn, conn.transaction():
        ticket = await tickets.get(conn, number)
        if not may_handle(agent, ticket):
            raise Forbidden(
                refusal(agent, f"{action} work order {ticket.number}: only its assignee and supervisors may")
            )
        yield conn, ticket


async def view(conn: Any, ticket: tickets.Ticket) -> dict[str, Any]:
    assignee = await agents.username_of(conn, ticket.assignee_id) if ticket.assignee_id else None
    return ticket_view(ticket, assignee, await suggestions.for_ticket(conn, ticket.id))


async def read(conn: Any, agent: agents.Agent, ticket: tickets.Ticket) -> dict[str, Any]:
    shown = await view(conn, ticket)
    await audit.record(conn, agent.username, "read", "ticket", ticket.number)
    return shown


async def decide(conn: Any, agent: agents.Agent, ticket: tickets.Ticket, decision: Decision) -> dict[str, Any]:
    """Apply the decision (TicketClosed on a closed work order) and answer the work order as it is now."""
    field, value, present = decision.field, decision.value, decision.present
    decided = await suggestions.decide(conn, ticket.number, field, value, agent.id, present=present)
    await audit.record(
        conn,
        agent.username,
        "update",
        "ticket",
        ticket.number,
        field=field,
        value=value,
        present=present,
        suggestion=decided.status if decided else None,
    )
    return await view(conn, await tickets.get(conn, ticket.number))
