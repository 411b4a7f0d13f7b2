"""Where a Chinese number range (mobile 号段 or landline area) is registered, without loading phonenumbers' geocoder.

The geocoder holds every country's place names and costs a process about 100 MB; a cell needs only the
Chinese ranges. The first process that needs them builds a compact index in a subprocess (which
pays the geocoder's cost and exits) and caches it beside the pinned phonenumbers version:
``$HOTLINE_CACHE_DIR`` or ``~/.cache/hotline12348/``. Lookups are a bisect per prefix length.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from array import array
from bisect import bisect_left
from functools import cache
from pathlib import Path

import phonenumbers

Index = tuple[list[str], dict[int, tuple["array[int]", "array[int]"]]]


def cache_path() -> Path:
    base = Path(os.environ.get("HOTLINE_CACHE_DIR") or Path.home() / ".cache" / "hotline12348")
    return base / f"cn-mobile-regions-{phonenumbers.__version__}.pickle"


def build(path: Path) -> None:
    """Write the index (run in a subprocess: importing the geodata is what costs the memory)."""
    from phonenumbers.geodata import GEOCODE_DATA

    regions: dict[str, int] = {}
    by_length: dict[int, list[tuple[int, int]]] = {}
    for prefix, names in GEOCODE_DATA.items():
        if prefix.startswith("86") and "zh" in names:
            region = regions.setdefault(names["zh"], len(regions))
            digits = prefix[2:]
            by_length.setdefault(len(digits), []).append((int(digits), region))
    tables: dict[int, tuple[array[int], array[int]]] = {}
    for length, rows in by_length.items():
        rows.sort()
        tables[length] = (array("q", (r[0] for r in rows)), array("H", (r[1] for r in rows)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
        pickle.dump((list(regions), tables), tmp)
    os.replace(tmp.name, path)


@cache
def _index() -> Index:
    path = cache_path()
    if not path.exists():
        subprocess.run([sys.executable, "-m", "hotline.caller.regions", str(path)], check=True, timeout=120)
    with open(path, "rb") as f:
        index: Index = pickle.load(f)  # our own cache file, written by build()
    return index


def region_of(national_number: str) -> str | None:
    """The registered place of a Chinese number (e.g. 云南省昆明市), longest known prefix first."""
    names, tables = _index()
    for length in sorted(tables, reverse=True):
        if len(national_number) < length:
            continue
        keys, values = tables[length]
        key = int(national_number[:length])
        i = bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            return names[values[i]]
    return None


if __name__ == "__main__":
    build(Path(sys.argv[1]))
