"""The simulator's signed Call-ID (hotline.caller.simulated): recognised with the service's keys only."""

from __future__ import annotations

import pytest

from hotline.caller.privacy import NumberKeys
from hotline.caller.simulated import call_id, is_simulated

KEYS = NumberKeys.from_master(b"a test secret of enough bytes")
OTHER = NumberKeys.from_master(b"another secret, other service")


def test_a_signed_call_id_is_simulated_with_the_same_keys_only() -> None:
    signed = call_id(KEYS, "run7", 42, "127.0.0.1")
    assert signed.startswith("sim-run7-42-") and signed.endswith("@127.0.0.1")
    assert is_simulated(signed, KEYS)
    assert not is_simulated(signed, OTHER)


@pytest.mark.parametrize(
    "forged",
    [
        "sim-run7-42-0000000000000000@127.0.0.1",  # the form without the key
        "1-12345@127.0.0.1",  # sipp's own Call-ID
        "a84b4c76e66710@pc33.atlanta.com",
        "",
    ],
)
def test_what_merely_looks_like_one_is_an_ordinary_call(forged: str) -> None:
    assert not is_simulated(forged, KEYS)


def test_another_call_of_the_run_does_not_reuse_a_tag() -> None:
    first, second = call_id(KEYS, "run7", 1, "h"), call_id(KEYS, "run7", 2, "h")
    tag = first.split("-")[3]
    assert not is_simulated(f"sim-run7-2-{tag}@h", KEYS)
    assert is_simulated(second, KEYS)


@pytest.mark.parametrize("run", ["", "has-dash", "x" * 33, "空"])
def test_a_bad_run_name_is_refused(run: str) -> None:
    with pytest.raises(ValueError, match="simulation run"):
        call_id(KEYS, run, 1, "h")
