"""SIPp scenarios for the tests, the benchmarks and the traffic simulator, and the sipp command line that runs
them. The scenarios are package data (``scenarios/*.xml``): a scenario is named by its file's stem.

A scenario that takes values reads them as sipp keywords, given with ``-key NAME VALUE`` (``keys`` below);
its opening comment names them, and sipp refuses to start without them ("Unsupported keyword").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


class ScenarioNotFound(LookupError):
    """No scenario of that name is shipped."""


def names() -> list[str]:
    """The names of the shipped scenarios, sorted."""
    return sorted(path.stem for path in SCENARIOS.glob("*.xml"))


def scenario(name: str) -> Path:
    """The file of scenario ``name`` (``"caller_hold"``; a trailing ``.xml`` is accepted)."""
    stem = name.removesuffix(".xml")
    path = SCENARIOS / f"{stem}.xml"
    if "/" in stem or not path.is_file():
        raise ScenarioNotFound(f"no SIPp scenario {name!r} in {SCENARIOS}; the scenarios are: {', '.join(names())}")
    return path


def command(
    name: str,
    remote: str | None = None,
    *,
    service: str | None = None,
    local_ip: str = "127.0.0.1",
    local_port: int | None = None,
    media_ip: str | None = None,
    media_port: int | None = None,
    calls: int | None = None,
    limit: int | None = None,
    rate: float | None = None,
    pause_ms: int | None = None,
    keys: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    timeout_s: float | None = None,
    timeout_error: bool = False,
    error_file: Path | None = None,
    extra: Sequence[str] = (),
    sipp: str = "sipp",
) -> list[str]:
    """The sipp command line that runs scenario ``name``: as a caller of ``remote`` (``host:port``), or, without
    ``remote``, as a UAS on ``local_ip:local_port``. ``None`` leaves an option to sipp's default; ``timeout_s``
    is sipp's global ``-timeout`` (``timeout_error``: then exit with an error); ``auth`` is the (user, password)
    that answers digest challenges (``[authentication]``); ``error_file`` turns on ``-trace_err`` into that
    file; ``extra`` is appended as it is."""
    cmd = [sipp, "-sf", str(scenario(name)), "-i", local_ip, "-nostdin"]
    options: list[tuple[str, object | None]] = [
        ("-s", service),
        ("-p", local_port),
        ("-mi", media_ip),
        ("-mp", media_port),
        ("-m", calls),
        ("-l", limit),
        ("-r", None if rate is None else f"{rate:g}"),
        ("-d", pause_ms),
        ("-timeout", None if timeout_s is None else f"{timeout_s:g}s"),
        ("-error_file", error_file),
    ]
    for flag, value in options:
        if value is not None:
            cmd += [flag, str(value)]
    for key, value in (keys or {}).items():
        cmd += ["-key", key, value]
    if auth is not None:
        cmd += ["-au", auth[0], "-ap", auth[1]]
    if timeout_error:
        cmd.append("-timeout_error")
    if error_file is not None:
        cmd.append("-trace_err")
    cmd += extra
    if remote is not None:
        cmd.append(remote)
    return cmd
