"""The call application run in a cell before the flow interpreter drives it: greet, read digits, hang up."""

from __future__ import annotations

from hotline.cell.records import Session
from hotline.sip.call import CallLeg

PROMPTS = ("welcome.wav", "danger_110.wav", "goodbye.wav")


async def greet(leg: CallLeg, session: Session) -> str:
    await leg.answer()
    await session.mark_answered()
    assert leg.context is not None
    await leg.start_recording(leg.context.recording_path(leg))
    await leg.play([leg.prompt("welcome.wav"), leg.prompt("danger_110.wav")], interrupt_digits="0123456789*#")
    digits = await leg.collect_digits(4, first_timeout=5.0, inter_timeout=3.0, terminator="#")
    if digits:
        await session.event("DTMF", digits=digits)
    await leg.play([leg.prompt("goodbye.wav")])
    await leg.hangup()
    return "ivr_only"
