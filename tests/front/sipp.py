"""sipp scenarios and runners for the front's tests. Scenarios are rendered per test with plain str.format."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass
from pathlib import Path

SIPP = "sipp"

_SDP = """v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000"""

_OPTIONS_ANSWER = """
  <label id="options"/>
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port]>
Content-Length: 0

    ]]>
  </send>
"""

# A cell: answers OPTIONS with 200 and INVITE with {code}; logs the Call-ID of every INVITE.
_UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uas {code}">
  <recv request="OPTIONS" optional="true" next="options"/>
  <recv request="INVITE">
    <action><log message="INVITE [call_id]"/></action>
  </recv>
  <send>
    <![CDATA[
SIP/2.0 100 Trying
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
{body}
{options}
  <label id="done"/>
  <timewait milliseconds="200"/>
</scenario>
"""

_UAS_ANSWER = """
  <send retrans="500">
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

{sdp}
    ]]>
  </send>
  <recv request="ACK" rtd="true" crlf="true"/>
  <recv request="BYE"/>
  <send next="done">
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
"""

_UAS_REJECT = """
  <send>
    <![CDATA[
SIP/2.0 {code} {reason}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" next="done"/>
"""

# A caller: INVITE, expects 200, ACK and BYE follow the Record-Route ([next_url] + [routes]).
_UAC_CALL = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uac call">
  <send retrans="500">
    <![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
User-Agent: {user_agent}
Content-Type: application/sdp
Content-Length: [len]

{sdp}
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send>
    <![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <pause/>
  <send retrans="500">
    <![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
"""

# A caller that expects one final failure status, then ACKs it (hop by hop).
_UAC_REJECTED = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uac expects {code}">
  <send retrans="500">
    <![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:caller@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

{sdp}
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="{code}" rtd="true"/>
  <send>
    <![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
</scenario>
"""

# An agent phone registering with digest auth: REGISTER, 401, REGISTER with credentials, {code}.
_REGISTER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register expects {code}">
  <send retrans="500">
    <![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{user}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 REGISTER
Contact: <sip:{user}@{contact}>
Expires: 3600
Max-Forwards: 70
User-Agent: hotline-test-phone
Content-Length: 0

    ]]>
  </send>
  <recv response="401" auth="true"/>
  <send retrans="500">
    <![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{user}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 2 REGISTER
Contact: <sip:{user}@{contact}>
[authentication username={user} password={password}]
Expires: 3600
Max-Forwards: 70
User-Agent: hotline-test-phone
Content-Length: 0

    ]]>
  </send>
  <recv response="{code}"/>
</scenario>
"""


def uas_scenario(code: int = 200, reason: str = "OK") -> str:
    body = _UAS_ANSWER.format(sdp=_SDP) if code == 200 else _UAS_REJECT.format(code=code, reason=reason)
    return _UAS.format(code=code, body=body, options=_OPTIONS_ANSWER)


def call_scenario(caller: str = "13900000000", user_agent: str = "hotline-test-caller") -> str:
    return _UAC_CALL.format(caller=caller, user_agent=user_agent, sdp=_SDP)


def rejected_call_scenario(code: int) -> str:
    return _UAC_REJECTED.format(code=code, sdp=_SDP)


def register_scenario(user: str, password: str, contact: str, code: int = 200) -> str:
    return _REGISTER.format(user=user, password=password, contact=contact, code=code)


@dataclass
class SippResult:
    returncode: int
    errors: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class SippUas:
    """A sipp UAS in the background (a cell or an agent phone). Counts the INVITEs it received."""

    def __init__(self, workdir: Path, name: str, port: int, scenario: str) -> None:
        self.workdir = workdir
        self.name = name
        self.port = port
        self.scenario_file = workdir / f"{name}.xml"
        self.scenario_file.write_text(scenario)
        self.log_file = workdir / f"{name}.log"
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            SIPP,
            "-sf",
            str(self.scenario_file),
            "-i",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-nostdin",
            "-trace_logs",
            "-log_file",
            str(self.log_file),
            "-trace_err",
            "-error_file",
            str(self.workdir / f"{self.name}.err"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        await asyncio.sleep(0.3)
        if self._proc.returncode is not None:
            raise RuntimeError(f"sipp uas {self.name} exited at once with {self._proc.returncode}")

    def invites(self) -> set[str]:
        if not self.log_file.exists():
            return set()
        return {ln.split()[1] for ln in self.log_file.read_text().splitlines() if ln.startswith("INVITE ")}

    async def stop(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def run_uac(
    workdir: Path,
    name: str,
    scenario: str,
    target_port: int,
    service: str,
    calls: int = 1,
    rate: int = 10,
    pause_ms: int = 0,
    local_port: int = 0,
    timeout_s: int = 40,
) -> SippResult:
    """Run a sipp UAC to completion against the front on 127.0.0.1:target_port."""
    scenario_file = workdir / f"{name}.xml"
    scenario_file.write_text(scenario)
    error_file = workdir / f"{name}.err"
    args = [
        SIPP,
        "-sf",
        str(scenario_file),
        "-i",
        "127.0.0.1",
        "-s",
        service,
        "-m",
        str(calls),
        "-r",
        str(rate),
        "-l",
        str(calls),
        "-d",
        str(pause_ms),
        "-nostdin",
        "-timeout",
        str(timeout_s),
        "-timeout_error",
        "-trace_err",
        "-error_file",
        str(error_file),
        f"127.0.0.1:{target_port}",
    ]
    if local_port:
        args[1:1] = ["-p", str(local_port)]
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout_s + 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    errors = error_file.read_text(errors="replace") if error_file.exists() else ""
    return SippResult(proc.returncode or 0, (stderr.decode(errors="replace") + errors)[-4000:])
