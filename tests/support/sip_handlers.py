"""Call handlers that the test cells load with ``--handler tests.support.sip_handlers:NAME``."""

from __future__ import annotations

import asyncio
import os
from array import array

from hotline.sip.call import CallLeg, DialError
from hotline.sip.cell import uses_prompts
from tests.support.audio import dominant


@uses_prompts("welcome.wav")
async def hold(call: CallLeg) -> None:
    """Answer, play the prompt, then keep the call up until the caller leaves (or 30 s)."""
    await call.answer()
    await call.play([call.prompt("welcome.wav")])
    await call.wait_ended(timeout=30)


@uses_prompts("agent_tone.wav")
async def agent(call: CallLeg) -> None:
    """The agent's phone: answers, sends a 1000 Hz tone, reports how many 20 ms frames it heard that are
    dominated by the caller's 600 Hz tone."""
    heard = {"600": 0, "frames": 0}

    def on_frame(_leg: int, pcm: bytes) -> None:
        samples = array("h", pcm)
        heard["frames"] += 1
        if max(abs(s) for s in samples) > 500 and dominant(samples, [440, 600, 1000]) == 600:
            heard["600"] += 1

    await call.answer()
    tap = await call.tap(on_frame)
    await call.start_music(call.prompt("agent_tone.wav"))
    try:
        while not call.ended:
            await asyncio.sleep(0.5)
            call.note("agent_heard", tone_600=heard["600"], frames=heard["frames"])
    finally:
        await tap.close()


@uses_prompts("welcome.wav")
async def bridge(call: CallLeg) -> None:
    """IVR then agent: record, play the prompt, dial $HOTLINE_TEST_AGENT_URI, bridge for a few seconds."""
    await call.answer()
    assert call.context is not None
    await call.start_recording(call.context.recording_path(call))
    await call.play([call.prompt("welcome.wav")])
    try:
        other = await call.dial_agent(os.environ["HOTLINE_TEST_AGENT_URI"], timeout=5)
    except DialError as exc:
        call.note("dial_failed", kind=exc.kind, status_code=exc.status_code)
        return
    await call.bridge(other)
    call.note("bridged", agent_leg=other.leg_id)
    await asyncio.sleep(float(os.environ.get("HOTLINE_TEST_BRIDGE_SECONDS", "3")))
    await other.hangup()
    await call.hangup()


async def busy(call: CallLeg) -> None:
    await call.reject(486, "Busy Here")


@uses_prompts("welcome.wav")
async def hold_resume(call: CallLeg) -> None:
    await call.answer()
    await call.hold()
    call.note("held", held=call.held)
    await asyncio.sleep(0.5)
    await call.resume()
    call.note("resumed", held=call.held)
    await call.play([call.prompt("welcome.wav")])
    await call.hangup()


async def transfer(call: CallLeg) -> None:
    await call.answer()
    status = await call.blind_transfer(os.environ["HOTLINE_TEST_TRANSFER_URI"], timeout=5)
    call.note("transferred", status_code=status)


async def tap_queue(call: CallLeg) -> None:
    """Counts the caller's frames through an asyncio.Queue tap for 2 s."""
    await call.answer()
    frames: asyncio.Queue[bytes] = asyncio.Queue(maxsize=500)
    tap = await call.tap(frames)
    await asyncio.sleep(2)
    await tap.close()
    loud = 0
    while not frames.empty():
        samples = array("h", frames.get_nowait())
        loud += max(abs(s) for s in samples) > 1000 and len(samples) == 160
    call.note("tapped", loud_frames=loud, dropped=tap.dropped)
    await call.hangup()


@uses_prompts("agent_tone.wav")
async def music_and_record(call: CallLeg) -> None:
    """A waiting caller: recorded, hears looped music until they hang up."""
    await call.answer()
    assert call.context is not None
    await call.start_recording(call.context.recording_path(call))
    await call.start_music(call.prompt("agent_tone.wav"))
    await call.wait_ended(timeout=60)
