"""Scoring the tagger against a labelled JSON-lines set; shared by the tests and ``bench/tagging.py``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hotline.tag.service import Tags, tag
from hotline.tag.taxonomy import FLAGS, Taxonomy


@dataclass(frozen=True)
class Example:
    id: int
    text: str
    legal_area: str
    service: str
    flags: tuple[str, ...]

    @property
    def split(self) -> str:
        """Deterministic hold-out: every third example (id divisible by 3) is test, the rest dev."""
        return "test" if self.id % 3 == 0 else "dev"


@dataclass(frozen=True)
class Scores:
    n: int
    legal_area_acc: float
    service_acc: float
    flags_micro_f1: float
    flags_macro_f1: float


def load_examples(path: Path) -> list[Example]:
    out: list[Example] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(line)
        try:
            out.append(Example(int(row["id"]), row["text"], row["legal_area"], row["service"], tuple(row["flags"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}:{lineno}: expected id, text, legal_area, service, flags: {exc}") from None
    return out


def _f1(tp: int, fp: int, fn: int) -> float:
    return 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)


def score(examples: Sequence[Example], predicted: Iterable[Tags], flag_labels: Sequence[str]) -> Scores:
    area = service = 0
    per_flag = {f: [0, 0, 0] for f in flag_labels}
    n = 0
    for ex, got in zip(examples, predicted, strict=True):
        n += 1
        area += got.legal_area == ex.legal_area
        service += got.service == ex.service
        gold, pred = set(ex.flags), set(got.flags)
        for f in flag_labels:
            counts = per_flag[f]
            counts[0] += f in gold and f in pred
            counts[1] += f in pred and f not in gold
            counts[2] += f in gold and f not in pred
    tp, fp, fn = (sum(c[i] for c in per_flag.values()) for i in range(3))
    macro = sum(_f1(*c) for c in per_flag.values()) / len(per_flag)
    return Scores(n, area / n, service / n, _f1(tp, fp, fn), macro)


def evaluate(examples: Sequence[Example], taxonomy: Taxonomy | None = None) -> Scores:
    return score(examples, [tag(ex.text, taxonomy) for ex in examples], FLAGS)
