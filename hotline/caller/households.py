"""Vulnerable-household registry files (建档立卡, 低保, 特困...): read and check a CSV, all or nothing.

The file is checked completely before anything is stored; a file with any bad row is rejected with every
bad line and its reason. Only keyed HMACs of the numbers are kept; names and ID numbers in other
columns are read past and never stored.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from hotline.caller.phone import InvalidNumber, parse_caller
from hotline.errors import HotlineError
from hotline.logs import mask_digits

KINDS = ("建档立卡", "低保", "特困", "低收入", "残疾人", "高龄老人", "优抚对象", "农民工")
NUMBER_HEADERS = (
    "号码",
    "电话",
    "电话号码",
    "手机",
    "手机号",
    "手机号码",
    "联系电话",
    "联系方式",
    "phone",
    "number",
    "mobile",
    "tel",
    "telephone",
)


class RegistryFileError(HotlineError):
    def __init__(self, path: Path, problems: list[str]) -> None:
        shown = problems[:200]
        more = f"\n  ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        super().__init__(
            f"registry file {path} rejected, nothing stored ({len(problems)} problem(s)):\n  "
            + "\n  ".join(shown)
            + more
        )
        self.problems = problems


@dataclass(frozen=True)
class RegistryFile:
    path: Path
    numbers: list[str] = field(repr=False)  # canonical E.164, de-duplicated, in file order
    rows: int


def _decode(path: Path, raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RegistryFileError(path, ["the file is neither UTF-8 nor GB18030 text"])


def read_registry_file(path: Path) -> RegistryFile:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RegistryFileError(path, [f"cannot read the file: {exc.strerror}"]) from None
    rows = list(csv.reader(io.StringIO(_decode(path, raw))))
    if not rows:
        raise RegistryFileError(path, ["the file is empty: expected one number per row"])

    header = [c.strip().lower() for c in rows[0]]
    column = next((i for i, name in enumerate(header) if name in NUMBER_HEADERS), None)
    first_data = 1
    if column is None:
        if len(header) == 1 or _looks_like_number(rows[0][0]):
            column, first_data = 0, 0
        else:
            raise RegistryFileError(
                path,
                [f"line 1: no number column: expected a header named one of {', '.join(NUMBER_HEADERS)}"],
            )

    problems: list[str] = []
    numbers: dict[str, None] = {}
    count = 0
    for index, row in enumerate(rows[first_data:], start=first_data + 1):
        if not any(cell.strip() for cell in row):
            continue
        count += 1
        if column >= len(row) or not row[column].strip():
            problems.append(f"line {index}: the number is empty")
            continue
        try:
            number = parse_caller(row[column])
        except InvalidNumber as exc:
            problems.append(f"line {index}: {exc}")
            continue
        if number.e164 is None:
            problems.append(f"line {index}: {mask_digits(row[column])!r} is not a phone number")
            continue
        numbers[number.e164] = None
    if problems:
        raise RegistryFileError(path, problems)
    if not numbers:
        raise RegistryFileError(path, ["the file holds no numbers"])
    return RegistryFile(path=path, numbers=list(numbers), rows=count)


def _looks_like_number(cell: str) -> bool:
    try:
        return parse_caller(cell).e164 is not None
    except InvalidNumber:
        return False
