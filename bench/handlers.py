"""Call handlers for `bench/capacity.py`; loaded by cells with ``--handler bench.handlers:handle``.

The mode of a call is chosen by the caller number (the user part of From), so one set of cells serves every
benchmark step:

- ``13900000001`` IVR: answer, record, play the prompt to its end, collect up to 4 digits (``#`` ends them),
  then replay the prompt until the caller hangs up;
- ``13900000002`` bridged: answer, record, dial the agent at ``$BENCH_AGENT_URI`` (a sipp UAS that echoes RTP),
  bridge, wait for the caller to hang up;
- ``13900000003`` short: answer, record, wait for the caller to hang up (setup-rate step).

RTP statistics: ``$BENCH_STATS_AT`` seconds after answer (while the caller still talks), the handler reads
pjmedia's RTCP receive statistics of each leg (packets received, and lost = gaps in RTP sequence numbers) and
reports them as a ``bench_rtp`` status line. pjsua2 has no public getter on `CallLeg` for this, so the bench
reads it on the pj thread through the engine's leg registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

import pjsua2 as pj

from hotline.sip.call import CallEnded, CallLeg, DialError
from hotline.sip.cell import uses_prompts

PROMPT = "bench_prompt.wav"
MODES = {"13900000001": "ivr", "13900000002": "bridged", "13900000003": "short"}


def _pj_leg_stats(call: CallLeg) -> dict[str, Any] | None:
    """On the pj thread: RTCP receive statistics of the leg's audio stream (None when it has none)."""
    pj_call = call.engine._calls.get(call.leg_id)  # private: CallLeg has no stats API yet
    if pj_call is None or pj_call.disconnected:
        return None
    ci = pj_call.getInfo()
    index = None
    for mi in ci.media:
        if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
            index = mi.index
            break
    if index is None:
        return None
    st = pj_call.getStreamStat(index)
    rx = st.rtcp.rxStat
    return {
        "pkt": int(rx.pkt),
        "loss": int(rx.loss),
        "discard": int(rx.discard),
        "dup": int(rx.dup),
        "reorder": int(rx.reorder),
        "jitter_max_ms": round(rx.jitterUsec.max / 1000.0, 1),
        "tx_pkt": int(st.rtcp.txStat.pkt),
    }


async def _report_stats(call: CallLeg, legs: list[CallLeg], delay: float) -> None:
    await asyncio.sleep(delay)
    out: dict[str, Any] = {"mode": MODES.get(call.caller, "?"), "since_answer": round(delay, 2)}
    for name, leg in zip(("caller", "agent"), legs, strict=False):
        try:
            out[name] = await call.engine.run(lambda leg=leg: _pj_leg_stats(leg))
        except Exception as exc:  # the leg ended meanwhile
            out[name] = {"error": type(exc).__name__}
    call.note("bench_rtp", **out)


@uses_prompts(PROMPT)
async def handle(call: CallLeg) -> None:
    mode = MODES.get(call.caller, "ivr")
    await call.answer()
    assert call.context is not None
    await call.start_recording(call.context.recording_path(call))
    legs = [call]
    stats_at = float(os.environ.get("BENCH_STATS_AT", "0"))
    stats = asyncio.create_task(_report_stats(call, legs, stats_at)) if stats_at > 0 else None
    started = time.monotonic()
    try:
        if mode == "ivr":
            await call.play([call.prompt(PROMPT)])
            digits = await call.collect_digits(4, first_timeout=5.0, inter_timeout=3.0, terminator="#")
            call.note("digits", digits=digits)
            while True:
                await call.play([call.prompt(PROMPT)])
        elif mode == "bridged":
            try:
                agent = await call.dial_agent(os.environ["BENCH_AGENT_URI"], timeout=10.0)
            except DialError as exc:
                call.note("bench_dial_failed", kind=exc.kind, status=exc.status_code)
                return
            legs.append(agent)
            await call.bridge(agent)
            call.note("bridged", setup_s=round(time.monotonic() - started, 3))
            await call.wait_ended(timeout=3600)
        else:
            await call.wait_ended(timeout=3600)
    except CallEnded:
        pass
    finally:
        if stats is not None and not stats.done():
            stats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stats
