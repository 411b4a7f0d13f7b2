"""Post-call analysis of one call: tags from the caller's words, a pre-filled work order, a quality score.

Everything for one call happens in one transaction under a per-call advisory lock, so a call is never half
analysed and two workers never analyse it at once. Running it again on the same transcript changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from db import analysis as analysis_db
from db import calls, suggestions, tickets
from db import qa as qa_db
from db import tags as tags_db
from db import transcription as transcripts
from db.analysis import CallFacts
from db.tags import TagRow
from db.tickets import Ticket
from db.transcription import StoredSegment
from hotline.analysis.plan import URGENT_FLAGS, Proposal, TicketFields, plan_ticket
from hotline.errors import HotlineError
from hotline.qa import QaResult, QaRules, Segment, evaluate, normalise
from hotline.tag import LEGAL_AREAS, SERVICES, Tags, Taxonomy, tag

log = logging.getLogger(__name__)

NO_TRANSCRIPT = "no transcript"
ACTOR = "analysis"


class CallNotFound(HotlineError):
    pass


@dataclass(frozen=True)
class AnalysisOutcome:
    call_id: UUID
    status: str  # "done", "skipped" (already analysed on this transcript), "error"
    error: str | None = None
    tags: Tags | None = None
    ticket_number: str | None = None
    ticket_created: bool = False
    suggested: tuple[str, ...] = ()  # "field=value" filled into the work order by this run
    qa: QaResult | None = None

    def summary(self) -> str:
        """One line for logs and the CLI; never a caller number."""
        if self.status == "skipped":
            return f"call {self.call_id}: already analysed"
        parts = [f"call {self.call_id}:"]
        if self.error:
            parts.append(f"error: {self.error};")
        if self.tags is not None:
            flags = ", ".join(self.tags.flags) or "-"
            parts.append(f"{self.tags.legal_area} / {self.tags.service} / {flags};")
        if self.ticket_number:
            created = " (new)" if self.ticket_created else ""
            filled = ", ".join(self.suggested) or "nothing filled"
            parts.append(f"work order {self.ticket_number}{created}: {filled};")
        parts.append(f"QA {self.qa.score}" if self.qa is not None else "no QA")
        return " ".join(parts)


def caller_text(segments: list[Segment]) -> str:
    """The caller's words in time order, spaces removed, one sentence per segment (clause breaks stop the
    tagger's negation from reaching into the next utterance)."""
    said = [normalise(s.text) for s in sorted(segments, key=lambda s: (s.start_ms, s.end_ms)) if s.channel == "caller"]
    return "。".join(t for t in said if t)


def proposals(tags: Tags) -> list[Proposal]:
    """The tagger's result as work-order suggestions, with its score and the rules that matched."""

    def explain(axis: str, label: str) -> tuple[float | None, str | None]:
        score = tags.scores.get(axis, {}).get(label)
        rules = dict.fromkeys(m.rule for m in tags.matches if m.axis == axis and m.label == label and not m.negated)
        return score, "、".join(rules) or None

    out = [
        Proposal("legal_area", tags.legal_area, *explain("legal_area", tags.legal_area)),
        Proposal("service", tags.service, *explain("service", tags.service)),
    ]
    out += [Proposal("flag", f, *explain("flags", f)) for f in tags.flags]
    return out


def _tag_rows(props: list[Proposal]) -> list[TagRow]:
    return [TagRow(p.field, p.value, p.score, p.rule) for p in props]


def _qa_rows(result: QaResult | None) -> list[TagRow]:
    if result is None:
        return []
    return [TagRow("quality", i.name, float(i.lost), i.detail) for i in result.items if not i.passed]


async def _agent_connected_ms(conn: Any, call_id: UUID, rows: list[StoredSegment]) -> int | None:
    """When the agent was bridged, in ms of the recording's timeline; known for batch transcripts only (live
    streams have their own time origin)."""
    recording_ids = {r.recording_id for r in rows}
    if not rows or any(r.source != "batch" for r in rows) or len(recording_ids) != 1:
        return None
    recording_id = next(iter(recording_ids))
    if recording_id is None:
        return None
    started = await calls.recording_started_at(conn, recording_id)
    connected = await calls.first_connect_at(conn, call_id)
    if started is None or connected is None:
        return None
    return max(0, round((connected - started).total_seconds() * 1000))


async def _ensure_ticket(
    conn: Any, call: CallFacts, props: list[Proposal], ticket_prefix: str, timezone: str
) -> tuple[Ticket | None, bool]:
    ticket = await tickets.first_of_call(conn, call.id)
    if ticket is not None or call.agent_id is None:
        return ticket, False
    urgent = any(p.field == "flag" and p.value in URGENT_FLAGS for p in props)
    # What the caller chose in the IVR (e.g. 2 = 法律援助) is a fact, not a guess: it seeds the work order and
    # the tagger only suggests what is still empty. Menu categories that are not taxonomy labels are left out.
    chosen = await tags_db.chosen_in_flow(conn, call.id)
    created = await tickets.create(
        conn,
        prefix=ticket_prefix,
        tz=timezone,
        actor=ACTOR,
        call_id=call.id,
        assignee_id=call.agent_id,
        caller_masked=call.caller_masked,
        prefecture_code=call.prefecture_code,
        priority="urgent" if urgent else "normal",
        legal_area=chosen.get("legal_area") if chosen.get("legal_area") in LEGAL_AREAS else None,
        service=chosen.get("service") if chosen.get("service") in SERVICES else None,
    )
    return created, True


async def _fill_ticket(conn: Any, ticket: Ticket, props: list[Proposal]) -> tuple[str, ...]:
    current = TicketFields(ticket.legal_area, ticket.service, tuple(ticket.flags), ticket.priority)
    plan = plan_ticket(current, await suggestions.for_ticket(conn, ticket.id), props)
    if plan.empty:
        return ()
    await suggestions.withdraw(conn, plan.withdraw)
    await suggestions.update_fields(
        conn,
        ticket.id,
        fields=plan.fields,
        add_flags=plan.add_flags,
        remove_flags=plan.remove_flags,
        priority=plan.priority,
    )
    for p in plan.add:
        await suggestions.add(conn, ticket.id, p.field, p.value, source="tagger", score=p.score, rule=p.rule)
    return tuple(f"{p.field}={p.value}" for p in plan.add)


async def analyse_call(
    conn: Any,
    call_id: UUID,
    taxonomy: Taxonomy,
    rules: QaRules,
    *,
    ticket_prefix: str = "YN",
    timezone: str = "Asia/Shanghai",
    force: bool = False,
) -> AnalysisOutcome:
    """Tag the call, make sure an answered call has a work order and fill its empty fields (recorded as
    suggestions), score the agent's side, and mark the call analysed, in one transaction.

    Skipped (nothing changes) when the call was already analysed on its current transcript, unless ``force``;
    a forced run on an unchanged transcript and unchanged rules changes nothing either. A call without
    transcript segments is marked with the error ``no transcript`` and gets no tags and no QA score; an
    answered one still gets its work order. Raises CallNotFound for an unknown call.
    """
    async with conn.transaction():
        await analysis_db.lock_call(conn, call_id)
        call = await analysis_db.call_facts(conn, call_id)
        if call is None:
            raise CallNotFound(f"no call with id {call_id}")
        transcribed_at = await transcripts.transcribed_at(conn, call_id)
        last = await analysis_db.last_run(conn, call_id)
        if last is not None and not force:
            before = last.transcribed_at
            if transcribed_at is None or (before is not None and before >= transcribed_at):
                return AnalysisOutcome(call_id, "skipped")

        rows = [r for r in await transcripts.segments(conn, call_id) if normalise(r.text)]
        segments = [Segment(r.channel, r.start_ms, r.end_ms, r.text) for r in rows]
        error = None if segments else NO_TRANSCRIPT

        text = caller_text(segments)
        tags = await asyncio.to_thread(tag, text, taxonomy) if text else None
        props = proposals(tags) if tags is not None else []
        await tags_db.replace(conn, call_id, "tagger", _tag_rows(props))
        # A flag raised on live speech stands even if the whole transcript reads otherwise (a caller may
        # take back "他要杀我" once calmer): the work order gets it too.
        for live in await tags_db.of_call(conn, call_id, "live"):
            if live.kind == "flag" and not any(p.field == "flag" and p.value == live.value for p in props):
                props.append(Proposal("flag", live.value, live.score, f"live:{live.rule}" if live.rule else "live"))

        ticket, created = await _ensure_ticket(conn, call, props, ticket_prefix, timezone)
        filled = await _fill_ticket(conn, ticket, props) if ticket is not None else ()

        result: QaResult | None = None
        if call.agent_id is not None and segments:
            connected = await _agent_connected_ms(conn, call_id, rows)
            result = evaluate(segments, rules, agent_connected_ms=connected)
            await qa_db.store(conn, call_id, result)
        else:
            await qa_db.delete(conn, call_id)
        await tags_db.replace(conn, call_id, "qa", _qa_rows(result))

        await analysis_db.mark_done(conn, call_id, transcribed_at, error)
    return AnalysisOutcome(
        call_id,
        "error" if error else "done",
        error=error,
        tags=tags,
        ticket_number=ticket.number if ticket is not None else None,
        ticket_created=created,
        suggested=filled,
        qa=result,
    )
