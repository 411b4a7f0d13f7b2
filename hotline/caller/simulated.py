"""Calls placed by the traffic simulator carry a signed SIP Call-ID, so that the cell marks their records as
simulated at INVITE (db/migrations/0014_simulated.sql) and no real report counts them.

The Call-ID is ``sim-RUN-N-TAG@HOST``: the simulator's run name, the call's number in the run and a tag, the
first 16 hex digits of an HMAC-SHA256 of ``RUN-N`` under a key derived from the service's privacy secret (the
simulator runs on the service's own host and settings). A Call-ID that merely looks like one, without the key,
is an ordinary call.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from hotline.caller.privacy import NumberKeys

_FORM = re.compile(r"sim-(?P<run>[A-Za-z0-9]{1,32})-(?P<n>[0-9]{1,9})-(?P<tag>[0-9a-f]{16})@[^\s@]+")


def _tag(keys: NumberKeys, run: str, n: int) -> str:
    return hmac.new(keys.hmac_key, f"hotline/simulation/v1:{run}-{n}".encode(), hashlib.sha256).hexdigest()[:16]


def call_id(keys: NumberKeys, run: str, n: int, host: str) -> str:
    """The signed Call-ID of the simulator's call ``n`` of run ``run`` (letters and digits, up to 32)."""
    if not re.fullmatch(r"[A-Za-z0-9]{1,32}", run) or n < 0:
        raise ValueError(f"simulation run {run!r}, call {n}: expected 1-32 letters or digits and a call number >= 0")
    return f"sim-{run}-{n}-{_tag(keys, run, n)}@{host}"


def is_simulated(sip_call_id: str, keys: NumberKeys) -> bool:
    """Whether ``sip_call_id`` is a simulator's Call-ID signed with these keys."""
    found = _FORM.fullmatch(sip_call_id)
    if found is None:
        return False
    return hmac.compare_digest(found["tag"], _tag(keys, found["run"], int(found["n"])))
