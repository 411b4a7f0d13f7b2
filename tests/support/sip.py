"""SIP peers for the tests, over UDP on 127.0.0.1, for what sipp cannot express: a minimal user agent with an
RTP endpoint that sends and measures PCMU, and hand-made messages (silence, garbage, odd headers)."""

from __future__ import annotations

import asyncio
import math
import random
import re
import secrets
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass

from tests.support.audio import ULAW_DECODE, linear_to_ulaw, tone_pcm

HOST = "127.0.0.1"


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
            payload = bytes(linear_to_ulaw(s) for s in tone_pcm(self.tone, 160, start=n * 160))
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


# ------------------------------------------------------------------ hand-made messages


def request(method: str, ruri: str, port: int, local_port: int, user_agent: str = "hotline-test") -> bytes:
    lines = [
        f"{method} {ruri} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK{secrets.token_hex(6)};rport",
        "Max-Forwards: 70",
        f"From: <sip:13900000000@127.0.0.1:{local_port}>;tag={secrets.token_hex(4)}",
        f"To: <{ruri}>",
        f"Call-ID: {secrets.token_hex(10)}@test",
        f"CSeq: 1 {method}",
        f"Contact: <sip:13900000000@127.0.0.1:{local_port}>",
        f"User-Agent: {user_agent}",
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


class Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.received.put_nowait(data)


async def exchange(port: int, build: object, wait: float = 2.0) -> list[bytes]:
    """Send one datagram to 127.0.0.1:port (bytes, or a callable of our local port) and collect replies."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(Collect, remote_addr=("127.0.0.1", port))
    try:
        local_port = transport.get_extra_info("sockname")[1]
        data = build(local_port) if callable(build) else build
        assert isinstance(data, bytes)
        transport.sendto(data)
        replies: list[bytes] = []
        deadline = loop.time() + wait
        while (remaining := deadline - loop.time()) > 0:
            try:
                replies.append(await asyncio.wait_for(proto.received.get(), remaining))
            except TimeoutError:
                break
            if replies[-1].startswith(b"SIP/2.0 ") and status(replies[-1]) >= 200:
                break
        return replies
    finally:
        transport.close()


def status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])
