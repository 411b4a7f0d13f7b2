"""Real SIP peers on loopback for the cell tests: a cell subprocess, a minimal UDP SIP user agent, an RTP
endpoint that sends and measures PCMU, sipp runs, and tone analysis. Nothing here imports pjsua2."""

from __future__ import annotations

import json
import math
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SCENARIOS = HERE / "scenarios"
SIPP_PCAPS = Path("/usr/share/sip-tester")
HOST = "127.0.0.1"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def rtp_base() -> int:
    return random.randrange(30000, 60000, 200)


# ------------------------------------------------------------------ audio


def _ulaw_to_linear(u: int) -> int:
    u = ~u & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t <<= (u & 0x70) >> 4
    return (0x84 - t) if (u & 0x80) else (t - 0x84)


ULAW_DECODE = [_ulaw_to_linear(i) for i in range(256)]


def _linear_to_ulaw(sample: int) -> int:
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), clip) + bias
    exponent = 7
    for exp in range(7, -1, -1):
        if sample & (0x4000 >> (7 - exp)):
            exponent = exp
            break
    else:
        exponent = 0
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def tone_pcm(freq: float, samples: int, start: int = 0, amplitude: float = 8000.0) -> list[int]:
    return [int(amplitude * math.sin(2 * math.pi * freq * (start + i) / 8000)) for i in range(samples)]


def goertzel(samples: list[int] | array[int], freq: float, rate: int = 8000) -> float:
    """Power of ``freq`` in ``samples``, normalised by the number of samples."""
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / max(len(samples), 1)


def rms(samples: list[int] | array[int]) -> float:
    if not samples:
        return 0.0
    return math.sqrt(sum(x * x for x in samples) / len(samples))


def dominant(samples: list[int] | array[int], freqs: list[float]) -> float:
    return max(freqs, key=lambda f: goertzel(samples, f))


# ------------------------------------------------------------------ prompts


def make_tone_wav(path: Path, freq: float, seconds: float) -> Path:
    subprocess.run(
        [
            "sox",
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            str(path),
            "synth",
            str(seconds),
            "sine",
            str(freq),
            "vol",
            "0.5",
        ],
        check=True,
    )
    return path


def make_prompts(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    make_tone_wav(directory / "welcome.wav", 440, 1.5)
    make_tone_wav(directory / "agent_tone.wav", 1000, 2.0)
    return directory


# ------------------------------------------------------------------ the cell process


@dataclass
class CellProcess:
    """``python -m hotline.sip.cell`` as a child process; its JSON status lines are collected by a thread."""

    name: str
    port: int
    prompts: Path
    recordings: Path
    handler: str = "hotline.sip.demo:handle"
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _reader: threading.Thread | None = None
    stderr_path: Path | None = None

    @property
    def uri(self) -> str:
        return f"sip:{self.name}@{HOST}:{self.port}"

    def start(self, wait_ready: bool = True) -> CellProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT), env.get("PYTHONPATH", "")])
        env.update(self.extra_env)
        self.stderr_path = self.recordings.parent / f"{self.name}.stderr"
        self.recordings.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "hotline.sip.cell", "--name", self.name, "--host", HOST, "--port", str(self.port),
            "--prompts", str(self.prompts), "--recordings", str(self.recordings), "--rtp-port", str(rtp_base()),
            "--handler", self.handler, *self.extra_args,
        ]  # fmt: skip
        with self.stderr_path.open("w") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT, env=env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if wait_ready:
            self.wait_event("ready", timeout=15)
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line)
                if line.startswith("{"):
                    self.events.append(json.loads(line))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_event(self, event: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events:
                    if e.get("event") == event and all(e.get(k) == v for k, v in match.items()):
                        return e
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc is not None and self.proc.poll() is not None and not self._more()):
                    raise AssertionError(
                        f"cell {self.name}: no {event!r} {match} in {timeout} s; got "
                        f"{[e.get('event') for e in self.events]}\nstderr:\n{self.stderr()}"
                    )
                self._cond.wait(min(left, 0.2))

    def _more(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def find(self, event: str) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.events if e.get("event") == event]

    def stderr(self) -> str:
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text(errors="replace")[-4000:]

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(5)
        if self._reader is not None:
            self._reader.join(5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


# ------------------------------------------------------------------ RTP


class RtpPeer:
    """A UDP RTP endpoint: records every packet it receives and, once started, sends a PCMU tone every 20 ms
    to where the cell's RTP comes from (symmetric RTP)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.received: list[tuple[float, int, bytes]] = []  # (arrival, payload type, payload)
        self.remote: tuple[str, int] | None = None
        self.tone: float | None = None
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._recv, daemon=True),
            threading.Thread(target=self._send, daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _recv(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(2048)
            except (TimeoutError, OSError):
                continue
            if len(data) < 12:
                continue
            cc = data[0] & 0x0F
            self.received.append((time.monotonic(), data[1] & 0x7F, data[12 + 4 * cc :]))
            self.remote = self.remote or addr

    def _send(self) -> None:
        seq, ts, ssrc, n = random.randrange(65536), random.randrange(2**32), random.randrange(2**32), 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            next_at += 0.02
            time.sleep(max(next_at - time.monotonic(), 0))
            if self.tone is None or self.remote is None:
                continue
            payload = bytes(_linear_to_ulaw(s) for s in tone_pcm(self.tone, 160, start=n * 160))
            header = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
            try:
                self.sock.sendto(header + payload, self.remote)
            except OSError:
                pass
            seq, ts, n = seq + 1, ts + 160, n + 1

    def pcmu_after(self, since: float = 0.0, until: float = math.inf) -> list[int]:
        samples: list[int] = []
        for at, pt, payload in list(self.received):
            if pt == 0 and since <= at <= until:
                samples.extend(ULAW_DECODE[b] for b in payload)
        return samples

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(2)
        self.sock.close()


# ------------------------------------------------------------------ a minimal SIP UA over UDP


@dataclass
class SipMessage:
    first_line: str
    headers: list[tuple[str, str]]
    body: str

    @property
    def status(self) -> int:
        return int(self.first_line.split()[1]) if self.first_line.startswith("SIP/2.0") else 0

    @property
    def method(self) -> str:
        return "" if self.first_line.startswith("SIP/2.0") else self.first_line.split()[0]

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @classmethod
    def parse(cls, data: bytes) -> SipMessage:
        text = data.decode(errors="replace")
        head, _, body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.append((k.strip(), v.strip()))
        return cls(lines[0], headers, body)


def sdp(rtp_port: int, payloads: list[int]) -> str:
    names = {0: "PCMU/8000", 8: "PCMA/8000", 18: "G729/8000", 101: "telephone-event/8000"}
    lines = ["v=0", f"o=- 1 1 IN IP4 {HOST}", "s=-", f"c=IN IP4 {HOST}", "t=0 0",
             f"m=audio {rtp_port} RTP/AVP {' '.join(map(str, payloads))}"]  # fmt: skip
    lines += [f"a=rtpmap:{p} {names[p]}" for p in payloads if p in names]
    lines += ["a=fmtp:101 0-15"] if 101 in payloads else []
    return "\r\n".join([*lines, "a=sendrecv", ""])


class SipUa:
    """Just enough of a UAC to place calls, probe with OPTIONS, send INFO and hang up. One dialog at a time
    per instance; any request the cell sends is answered 200 OK."""

    def __init__(self, target_port: int, user: str = "13908712345") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.port = int(self.sock.getsockname()[1])
        self.target = (HOST, target_port)
        self.user = user
        self.call_id = f"{uuid.uuid4().hex}@{HOST}"
        self.tag = uuid.uuid4().hex[:8]
        self.cseq = 0
        self.to_tag: str | None = None
        self.remote_target = f"sip:12348@{HOST}:{target_port}"
        self.requests: list[SipMessage] = []
        self.rtp_port = 0

    def _headers(self, method: str, uri: str, cseq: int, branch: str, extra: str = "") -> str:
        to = f"<sip:12348@{HOST}:{self.target[1]}>" + (f";tag={self.to_tag}" if self.to_tag else "")
        return (
            f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{self.port};rport;branch={branch}\r\n"
            f"From: <sip:{self.user}@{HOST}:{self.port}>;tag={self.tag}\r\n"
            f"To: {to}\r\n"
            f"Call-ID: {self.call_id}\r\n"
            f"CSeq: {cseq} {method}\r\n"
            f"Contact: <sip:{self.user}@{HOST}:{self.port}>\r\n"
            f"Max-Forwards: 70\r\n{extra}"
        )

    def _send(self, text: str, body: str = "", content_type: str = "") -> None:
        ct = f"Content-Type: {content_type}\r\n" if body else ""
        msg = f"{text}{ct}Content-Length: {len(body.encode())}\r\n\r\n{body}"
        self.sock.sendto(msg.encode(), self.target)

    def _recv(self, timeout: float) -> SipMessage | None:
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65535)
        except TimeoutError:
            return None
        msg = SipMessage.parse(data)
        if msg.method:
            self.requests.append(msg)
            if msg.method != "ACK":
                self._reply_ok(msg)
            return None
        return msg

    def _reply_ok(self, req: SipMessage) -> None:
        """200 OK to any request; to a re-INVITE with an answer that mirrors the offered direction."""
        vias = "".join(f"Via: {v}\r\n" for k, v in req.headers if k.lower() == "via")
        to = req.header("To") or ""
        if ";tag=" not in to:
            to += f";tag={self.tag}"
        text = (
            f"SIP/2.0 200 OK\r\n{vias}From: {req.header('From')}\r\nTo: {to}\r\n"
            f"Call-ID: {req.header('Call-ID')}\r\nCSeq: {req.header('CSeq')}\r\n"
            f"Contact: <sip:{self.user}@{HOST}:{self.port}>\r\n"
        )
        if req.method == "INVITE" and self.rtp_port:
            direction = {"sendonly": "recvonly", "inactive": "inactive"}
            offered = next((d for d in ("sendonly", "inactive", "sendrecv") if f"a={d}" in req.body), "sendrecv")
            body = sdp(self.rtp_port, [0, 101]).replace("a=sendrecv", f"a={direction.get(offered, 'sendrecv')}")
            self._send(text, body, "application/sdp")
        else:
            self._send(text)

    def _transaction(self, method: str, uri: str, body: str = "", content_type: str = "", extra: str = "",
                     timeout: float = 10.0) -> tuple[SipMessage, str]:  # fmt: skip
        self.cseq += 1
        branch = "z9hG4bK" + uuid.uuid4().hex[:16]
        text = self._headers(method, uri, self.cseq, branch, extra)
        self._send(text, body, content_type)
        deadline, resend = time.monotonic() + timeout, time.monotonic() + 0.5
        while time.monotonic() < deadline:
            msg = self._recv(min(0.1, max(deadline - time.monotonic(), 0.01)))
            if msg is None:
                if time.monotonic() > resend and method != "INVITE":
                    self._send(text, body, content_type)
                    resend = time.monotonic() + 1.0
                continue
            if msg.header("CSeq") != f"{self.cseq} {method}" or msg.status < 200:
                continue
            return msg, branch
        raise AssertionError(f"no final response to {method} within {timeout} s")

    def options(self) -> SipMessage:
        """An out-of-dialog OPTIONS, as the front's dispatcher probes cells."""
        probe = SipUa(self.target[1], self.user)
        try:
            return probe._transaction("OPTIONS", f"sip:{HOST}:{self.target[1]}")[0]
        finally:
            probe.close()

    def invite(self, rtp_port: int, payloads: list[int], timeout: float = 10.0) -> SipMessage:
        """Send an INVITE and return the final response (ACKed)."""
        uri = f"sip:12348@{HOST}:{self.target[1]}"
        self.rtp_port = rtp_port
        resp, branch = self._transaction("INVITE", uri, sdp(rtp_port, payloads), "application/sdp", timeout=timeout)
        to = resp.header("To") or ""
        m = re.search(r";tag=([^;>\s]+)", to)
        self.to_tag = m.group(1) if m else None
        if resp.status < 300:
            contact = re.search(r"<([^>]+)>", resp.header("Contact") or "")
            self.remote_target = contact.group(1) if contact else uri
            ack = self._headers("ACK", self.remote_target, self.cseq, "z9hG4bK" + uuid.uuid4().hex[:16])
        else:
            ack = self._headers("ACK", uri, self.cseq, branch)
        self._send(ack)
        return resp

    def info_dtmf(self, digit: str) -> SipMessage:
        body = f"Signal={digit}\r\nDuration=160\r\n"
        return self._transaction("INFO", self.remote_target, body, "application/dtmf-relay")[0]

    def request(self, method: str, body: str = "", content_type: str = "", extra: str = "") -> SipMessage:
        """An in-dialog request; returns its final response."""
        return self._transaction(method, self.remote_target, body, content_type, extra)[0]

    def bye(self) -> SipMessage | None:
        if any(r.method == "BYE" for r in self.requests):
            return None
        try:
            return self._transaction("BYE", self.remote_target, timeout=5.0)[0]
        except AssertionError:
            return None

    def wait_request(self, method: str, timeout: float, nth: int = 1) -> SipMessage | None:
        """The ``nth`` request of ``method`` the cell sent (already answered 200 OK)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in self.requests if r.method == method]
            if len(found) >= nth:
                return found[nth - 1]
            self._recv(0.1)
        return None

    def close(self) -> None:
        self.sock.close()


# ------------------------------------------------------------------ sipp


def run_sipp(scenario: str, port: int, workdir: Path, keys: dict[str, str] | None = None,
             timeout: float = 40.0) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run one call of ``scenarios/<scenario>`` against 127.0.0.1:port; pcaps are linked into ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    for pcap in SIPP_PCAPS.glob("*.pcap"):
        link = workdir / pcap.name
        if not link.exists():
            link.symlink_to(pcap)
    cmd = ["sipp", "-sf", str(SCENARIOS / scenario), "-m", "1", "-i", HOST, "-p", str(free_udp_port()),
           "-mp", str(rtp_base() + 100), "-timeout", f"{int(timeout) - 5}s", "-trace_err", "-trace_msg",
           "-nostdin"]  # fmt: skip
    for k, v in (keys or {}).items():
        cmd += ["-key", k, v]
    cmd.append(f"{HOST}:{port}")
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, check=False)


def sipp_log(workdir: Path, suffix: str) -> str:
    return "\n".join(p.read_text(errors="replace") for p in workdir.glob(f"*{suffix}"))


def wav_channels(path: Path) -> tuple[int, int, list[array[int]]]:
    """(rate, channels, samples per channel) of a 16-bit WAV."""
    import wave

    with wave.open(str(path), "rb") as w:
        rate, nch = w.getframerate(), w.getnchannels()
        data = array("h", w.readframes(w.getnframes()))
    return rate, nch, [data[i::nch] for i in range(nch)]


def windows(samples: array[int], size: int = 1600) -> Iterator[array[int]]:
    for i in range(0, len(samples) - size + 1, size):
        yield samples[i : i + size]
