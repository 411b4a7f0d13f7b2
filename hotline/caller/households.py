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
NUMBER_RULE_ZH = "应为 11 位手机号（如 139xxxx2345）或带区号的固定电话（如 0871-6555xxxx）"


@dataclass(frozen=True)
class Problem:
    """Why a file was rejected: at a line (None: the whole file), in English (the CLI) and Chinese (the console).
    Neither shows a number in full."""

    line: int | None
    reason: str
    reason_zh: str

    def __str__(self) -> str:
        return self.reason if self.line is None else f"line {self.line}: {self.reason}"


class RegistryFileError(HotlineError):
    def __init__(self, path: Path, problems: list[Problem]) -> None:
        shown = [str(p) for p in problems[:200]]
        more = f"\n  ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        super().__init__(
            f"registry file {path} rejected, nothing stored ({len(problems)} problem(s)):\n  "
            + "\n  ".join(shown)
            + more
        )
        self.found = problems
        self.problems = [str(p) for p in problems]


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
    raise RegistryFileError(
        path, [Problem(None, "the file is neither UTF-8 nor GB18030 text", "文件不是 UTF-8 或 GB18030 编码的文本")]
    )


def read_registry_file(path: Path) -> RegistryFile:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RegistryFileError(
            path, [Problem(None, f"cannot read the file: {exc.strerror}", f"无法读取文件：{exc.strerror}")]
        ) from None
    return parse_registry_file(path, raw)


def parse_registry_file(path: Path, raw: bytes) -> RegistryFile:
    """Check a registry file's content (``path`` names it in messages); RegistryFileError with every bad line.

    The one parser of ``hotline registry import`` and the admin page's upload."""
    rows = list(csv.reader(io.StringIO(_decode(path, raw))))
    if not rows:
        raise RegistryFileError(
            path,
            [Problem(None, "the file is empty: expected one number per row", "文件为空：应每行一个号码")],
        )

    header = [c.strip().lower() for c in rows[0]]
    column = next((i for i, name in enumerate(header) if name in NUMBER_HEADERS), None)
    first_data = 1
    if column is None:
        if len(header) == 1 or _looks_like_number(rows[0][0]):
            column, first_data = 0, 0
        else:
            raise RegistryFileError(
                path,
                [
                    Problem(
                        1,
                        f"no number column: expected a header named one of {', '.join(NUMBER_HEADERS)}",
                        f"找不到号码列：表头须有一列名为 {'、'.join(NUMBER_HEADERS)} 之一",
                    )
                ],
            )

    problems: list[Problem] = []
    numbers: dict[str, None] = {}
    count = 0
    for index, row in enumerate(rows[first_data:], start=first_data + 1):
        if not any(cell.strip() for cell in row):
            continue
        count += 1
        if column >= len(row) or not row[column].strip():
            problems.append(Problem(index, "the number is empty", "号码为空"))
            continue
        shown = mask_digits(row[column].strip())
        try:
            number = parse_caller(row[column])
        except InvalidNumber as exc:
            problems.append(Problem(index, str(exc), f"“{shown}”不是有效的电话号码：{NUMBER_RULE_ZH}"))
            continue
        if number.e164 is None:
            problems.append(Problem(index, f"{shown!r} is not a phone number", f"“{shown}”不是电话号码"))
            continue
        numbers[number.e164] = None
    if problems:
        raise RegistryFileError(path, problems)
    if not numbers:
        raise RegistryFileError(path, [Problem(None, "the file holds no numbers", "文件中没有号码")])
    return RegistryFile(path=path, numbers=list(numbers), rows=count)


def _looks_like_number(cell: str) -> bool:
    try:
        return parse_caller(cell).e164 is not None
    except InvalidNumber:
        return False
