"""Demo handler: answer, record, play ``welcome.wav``, collect up to 4 digits, hang up."""

from __future__ import annotations

from hotline.sip.call import CallLeg
from hotline.sip.cell import uses_prompts


@uses_prompts("welcome.wav")
async def handle(call: CallLeg) -> None:
    await call.answer()
    assert call.context is not None
    await call.start_recording(call.context.recording_path(call))
    await call.play([call.prompt("welcome.wav")], interrupt_digits="0123456789*#")
    digits = await call.collect_digits(4, first_timeout=5.0, inter_timeout=3.0, terminator="#")
    call.note("digits", digits=digits)
    await call.hangup()
