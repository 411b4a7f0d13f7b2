"""A cell process against real SIP peers on 127.0.0.1: sipp, a small UDP user agent with an RTP socket,
and a second cell acting as the agent's phone."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.audio import dominant, goertzel, rms, wav_channels, windows
from tests.support.cell import StartCell
from tests.support.ports import free_port
from tests.support.sip import RtpPeer, SipUa
from tests.support.sipp import run_sipp, sipp_log

pytestmark = [pytest.mark.sip, pytest.mark.timeout(60)]


def test_cell_answers_and_the_caller_hears_the_prompt(start_cell: StartCell, rtp: RtpPeer, tmp_path: Path) -> None:
    cell = start_cell()
    done = run_sipp("caller_listen", cell.port, tmp_path / "sipp", keys={"rtp_port": str(rtp.port)})
    assert done.returncode == 0, sipp_log(tmp_path / "sipp", "errors.log") or done.stdout[-2000:]
    cell.wait_event("call_ended", timeout=10)
    packets = [p for p in rtp.received if p[1] == 0]
    assert len(packets) >= 60, f"caller got {len(packets)} PCMU packets in 2.5 s of call"
    # The cell sends silence between the answer and the player's connection (longer on a loaded machine):
    # judge the loudest second of what the caller heard.
    heard = rtp.pcmu_after()
    prompt = max((heard[i : i + 8000] for i in range(0, max(len(heard) - 7999, 1), 800)), key=rms)
    assert rms(prompt) > 1000, "the prompt arrived silent"
    assert dominant(prompt, [440, 600, 1000]) == 440, "the caller did not hear the 440 Hz welcome prompt"


def test_rfc2833_digits_reach_the_handler_in_order(start_cell: StartCell, tmp_path: Path) -> None:
    cell = start_cell()
    done = run_sipp("caller_dtmf", cell.port, tmp_path / "sipp")
    assert done.returncode == 0, sipp_log(tmp_path / "sipp", "errors.log") or done.stdout[-2000:]
    assert cell.wait_event("digits")["digits"] == "194"
    incoming = cell.wait_event("call_incoming")
    assert incoming["caller"] == "139****2345"
    cell.wait_event("call_ended")
    assert cell.stop() == 0
    everything = "".join(cell.lines) + cell.stderr()
    assert "13908712345" not in everything, "the caller's number leaked into the cell's output"


def test_sip_info_digits_reach_the_handler(start_cell: StartCell, rtp: RtpPeer) -> None:
    cell = start_cell()
    ua = SipUa(cell.port)
    try:
        assert ua.invite(rtp.port, [0, 101]).status == 200
        for digit in "72#":
            assert ua.info_dtmf(digit).status == 200
        assert cell.wait_event("digits")["digits"] == "72"
        assert ua.wait_request("BYE", timeout=5) is not None, "the cell did not hang up after the terminator"
    finally:
        ua.bye()
        ua.close()


def test_recording_is_one_stereo_wav_with_the_caller_on_the_left(start_cell: StartCell, tmp_path: Path) -> None:
    cell = start_cell()
    done = run_sipp("caller_speaks", cell.port, tmp_path / "sipp")
    assert done.returncode == 0, sipp_log(tmp_path / "sipp", "errors.log") or done.stdout[-2000:]
    ended = cell.wait_event("call_ended", timeout=15)
    assert ended["recording"], ended
    recording = Path(ended["recording"])
    rate, channels, (left, right) = wav_channels(recording)
    assert (rate, channels) == (8000, 2)
    assert len(left) / rate > 5, f"recording lasts {len(left) / rate:.1f} s, the call lasted {ended['seconds']} s"
    loud = sum(1 for w in windows(left) if rms(w) > 300)
    assert loud >= 10, f"only {loud} loud 200 ms windows on the caller channel"
    assert rms(right) < 50, "the agent channel holds sound although no agent was on the call"
    assert not list(recording.parent.glob("*.part.wav")), "mono part files were left behind"


def test_third_call_to_a_cap_4_cell_gets_503_with_retry_after(start_cell: StartCell, rtp: RtpPeer) -> None:
    cell = start_cell(handler="hold")
    assert cell.wait_event("ready")["max_legs"] == 4
    uas = [SipUa(cell.port) for _ in range(3)]
    try:
        assert uas[0].invite(rtp.port, [0, 101]).status == 200
        assert uas[1].invite(rtp.port, [0, 101]).status == 200
        third = uas[2].invite(rtp.port, [0, 101])
        assert third.status == 503
        retry_after = third.header("Retry-After")
        assert retry_after is not None and retry_after.isdigit() and int(retry_after) > 0
        assert uas[0].bye() is not None
        cell.wait_event("call_ended")
        fourth = SipUa(cell.port)
        uas.append(fourth)
        assert fourth.invite(rtp.port, [0, 101]).status == 200, "a call ended but the cell still refuses calls"
    finally:
        for ua in uas:
            ua.bye()
            ua.close()


def test_offer_without_a_g711_codec_gets_488(start_cell: StartCell, rtp: RtpPeer) -> None:
    cell = start_cell()
    ua = SipUa(cell.port)
    try:
        assert ua.invite(rtp.port, [18]).status == 488
        assert ua.options().status == 200, "the cell stopped answering OPTIONS probes"
    finally:
        ua.close()
    assert not cell.find("call_incoming"), "the handler ran for a call that cannot have audio"


def test_cell_answers_options_probes(start_cell: StartCell) -> None:
    cell = start_cell()
    ua = SipUa(cell.port)
    try:
        assert ua.options().status == 200
    finally:
        ua.close()


def test_bridge_to_an_agent_carries_audio_both_ways_and_records_two_channels(
    start_cell: StartCell, rtp: RtpPeer
) -> None:
    agent = start_cell("agent", handler="agent")
    cell = start_cell("cell1", handler="bridge", extra_env={"HOTLINE_TEST_AGENT_URI": agent.uri})
    ua = SipUa(cell.port)
    try:
        rtp.tone = 600.0
        assert ua.invite(rtp.port, [0, 101]).status == 200
        cell.wait_event("bridged", timeout=10)
        bridged_at = time.monotonic()
        ended = cell.wait_event("call_ended", timeout=15)
    finally:
        ua.bye()
        ua.close()
    heard_by_agent = max(e["tone_600"] for e in agent.find("agent_heard"))
    assert heard_by_agent >= 50, f"the agent heard the caller in only {heard_by_agent} frames"
    from_agent = rtp.pcmu_after(bridged_at + 0.3, bridged_at + 2.3)
    assert len(from_agent) > 8000, "the caller got under 1 s of audio after the bridge"
    assert goertzel(from_agent, 1000) > 10 * goertzel(from_agent, 440), "the caller did not hear the agent"
    rate, channels, (left, right) = wav_channels(Path(ended["recording"]))
    assert channels == 2
    left_tail, right_tail = left[-3 * rate :], right[-3 * rate :]
    assert rms(left_tail) > 1000 and dominant(left_tail, [440, 600, 1000]) == 600, "caller missing on the left"
    assert rms(right_tail) > 1000 and dominant(right_tail, [440, 600, 1000]) == 1000, "agent missing on the right"
    ivr = left[: rate // 2]
    assert rms(right[: rate // 2]) < 50 and len(ivr) == rate // 2, "the agent channel has sound before the bridge"


def test_dial_to_a_busy_agent_fails_fast_with_the_reason(start_cell: StartCell, rtp: RtpPeer) -> None:
    agent = start_cell("agent", handler="busy")
    cell = start_cell("cell1", handler="bridge", extra_env={"HOTLINE_TEST_AGENT_URI": agent.uri})
    ua = SipUa(cell.port)
    try:
        assert ua.invite(rtp.port, [0, 101]).status == 200
        started = time.monotonic()
        failed = cell.wait_event("dial_failed", timeout=10)
        assert time.monotonic() - started < 4
    finally:
        ua.bye()
        ua.close()
    assert (failed["kind"], failed["status_code"]) == ("busy", 486)


def test_dial_to_nobody_fails_with_timeout_or_unreachable(start_cell: StartCell, rtp: RtpPeer) -> None:
    cell = start_cell(handler="bridge", extra_env={"HOTLINE_TEST_AGENT_URI": f"sip:agent@127.0.0.1:{free_port()}"})
    ua = SipUa(cell.port)
    try:
        assert ua.invite(rtp.port, [0, 101]).status == 200
        failed = cell.wait_event("dial_failed", timeout=15)
    finally:
        ua.bye()
        ua.close()
    assert failed["kind"] in {"timeout", "unavailable", "failed"}, failed


def test_sigterm_drains_refuses_new_calls_then_exits(start_cell: StartCell, rtp: RtpPeer) -> None:
    cell = start_cell(handler="hold", extra_args=["--drain-timeout", "2"])
    first, late = SipUa(cell.port), SipUa(cell.port)
    try:
        assert first.invite(rtp.port, [0, 101]).status == 200
        assert cell.proc is not None
        cell.proc.send_signal(signal.SIGTERM)
        cell.wait_event("draining")
        refused = late.invite(rtp.port, [0, 101])
        assert refused.status == 503 and refused.header("Retry-After")
        assert first.wait_request("BYE", timeout=6) is not None, "the running call was not ended after the drain"
        assert cell.proc.wait(10) == 0
        assert cell.find("call_ended")[0]["outcome"] == "drained"
    finally:
        first.close()
        late.close()


def test_hold_sends_sendonly_and_resume_sendrecv(start_cell: StartCell, rtp: RtpPeer) -> None:
    cell = start_cell(handler="hold_resume")
    ua = SipUa(cell.port)
    try:
        assert ua.invite(rtp.port, [0, 101]).status == 200
        hold = ua.wait_request("INVITE", timeout=5)
        resume = ua.wait_request("INVITE", timeout=5, nth=2)
        assert hold is not None and "a=sendonly" in hold.body
        assert resume is not None and "a=sendrecv" in resume.body
        assert cell.wait_event("held")["held"] is True
        assert cell.wait_event("resumed")["held"] is False
        resumed_at = time.monotonic()
        assert ua.wait_request("BYE", timeout=6) is not None
    finally:
        ua.bye()
        ua.close()
    after = rtp.pcmu_after(resumed_at)
    assert rms(after) > 1000, "no prompt audio after resume"


def test_blind_transfer_sends_refer_and_ends_the_leg(start_cell: StartCell, rtp: RtpPeer) -> None:
    target = "sip:8001@127.0.0.1:5999"
    cell = start_cell(handler="transfer", extra_env={"HOTLINE_TEST_TRANSFER_URI": target})
    ua = SipUa(cell.port)
    try:
        assert ua.invite(rtp.port, [0, 101]).status == 200
        refer = ua.wait_request("REFER", timeout=5)
        assert refer is not None and target in (refer.header("Refer-To") or "")
        notify = ua.request(
            "NOTIFY", "SIP/2.0 200 OK\r\n", "message/sipfrag;version=2.0",
            "Event: refer\r\nSubscription-State: terminated;reason=noresource\r\n",
        )  # fmt: skip
        assert notify.status == 200
        assert cell.wait_event("transferred")["status_code"] == 200
        assert ua.wait_request("BYE", timeout=5) is not None, "the cell kept the transferred leg up"
    finally:
        ua.close()


def test_audio_tap_delivers_the_callers_frames_to_a_queue(start_cell: StartCell, rtp: RtpPeer) -> None:
    cell = start_cell(handler="tap_queue")
    ua = SipUa(cell.port)
    try:
        rtp.tone = 600.0
        assert ua.invite(rtp.port, [0, 101]).status == 200
        tapped = cell.wait_event("tapped", timeout=10)
    finally:
        ua.bye()
        ua.close()
    assert tapped["loud_frames"] >= 60, tapped
    assert tapped["dropped"] == 0


@pytest.mark.parametrize("content", [None, b"not a wav at all"])
def test_cell_refuses_to_start_without_a_valid_prompt(tmp_path: Path, content: bytes | None) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    if content is not None:
        (prompts / "welcome.wav").write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-m", "hotline.sip.cell", "--name", "c", "--port", str(free_port()),
         "--prompts", str(prompts), "--recordings", str(tmp_path / "rec")],
        capture_output=True, text=True, timeout=20, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert str(prompts / "welcome.wav") in done.stderr
    assert "ready" not in done.stdout
