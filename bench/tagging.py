"""Tagging benchmark: accuracy per field on the dev set and on the unseen set, and texts per second on one core.

The dev set (``tests/data/tagger_labelled.jsonl``) is what the rules were tuned on; the unseen set
(``tests/data/tagger_unseen.jsonl``) was written before the rules were revised and is never tuned on, so its
figures are the honest ones for new callers. Each set is printed next to a majority baseline (the most common
dev legal area and service, no flags); speed is printed next to the issue's target, measured in this process
pinned to one CPU. The last line is ``RESULT key=value ...``.

    .venv/bin/python bench/tagging.py [--repeat N] [--taxonomy FILE] [--dev FILE] [--unseen FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import machine, result  # noqa: E402
from hotline.tag import FLAGS, load_taxonomy, tag  # noqa: E402
from hotline.tag.evaluate import Example, Scores, evaluate, load_examples, score  # noqa: E402
from hotline.tag.service import Tags  # noqa: E402
from hotline.tag.taxonomy import Taxonomy  # noqa: E402

DATA = ROOT / "tests" / "data"
TARGET_TEXTS_PER_S = 500


def _majority(dev: list[Example], examples: list[Example]) -> Scores:
    area = Counter(ex.legal_area for ex in dev).most_common(1)[0][0]
    service = Counter(ex.service for ex in dev).most_common(1)[0][0]
    return score(examples, [Tags(area, service, []) for _ in examples], FLAGS)


def _line(name: str, s: Scores) -> str:
    return (
        f"{name:<16} n={s.n:<4} legal_area={s.legal_area_acc:.3f} service={s.service_acc:.3f} "
        f"flags_macro_f1={s.flags_macro_f1:.3f} flags_micro_f1={s.flags_micro_f1:.3f}"
    )


def _per_flag(examples: list[Example], taxonomy: Taxonomy) -> str:
    got = [set(tag(ex.text, taxonomy).flags) for ex in examples]
    cells = []
    for flag in FLAGS:
        tp = sum(flag in g and flag in ex.flags for g, ex in zip(got, examples, strict=True))
        fp = sum(flag in g and flag not in ex.flags for g, ex in zip(got, examples, strict=True))
        fn = sum(flag not in g and flag in ex.flags for g, ex in zip(got, examples, strict=True))
        f1 = 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
        cells.append(f"{flag} {f1:.2f}")
    return "  ".join(cells)


def _one_core() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity here)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=10, help="passes over both sets for timing")
    parser.add_argument("--taxonomy", type=Path, default=None, help="taxonomy YAML (default: the packaged one)")
    parser.add_argument("--dev", type=Path, default=DATA / "tagger_labelled.jsonl")
    parser.add_argument("--unseen", type=Path, default=DATA / "tagger_unseen.jsonl")
    args = parser.parse_args()

    print(machine().describe())
    pinned = _one_core()
    taxonomy = load_taxonomy(args.taxonomy)
    dev = load_examples(args.dev)
    unseen = load_examples(args.unseen)

    started = time.perf_counter()
    tag("初始化", taxonomy)
    print(f"first call (jieba dictionary load + taxonomy words): {time.perf_counter() - started:.2f} s")

    texts = [ex.text for ex in dev + unseen]
    started = time.perf_counter()
    for _ in range(args.repeat):
        for text in texts:
            tag(text, taxonomy)
    elapsed = time.perf_counter() - started
    rate = args.repeat * len(texts) / elapsed
    chars = sum(map(len, texts)) / len(texts)
    print(
        f"speed: {rate:.0f} texts/s (mean {chars:.0f} chars, {pinned}); target >= {TARGET_TEXTS_PER_S} texts/s "
        f"on one core: {'met' if rate >= TARGET_TEXTS_PER_S else 'MISSED'}"
    )

    dev_scores = evaluate(dev, taxonomy)
    unseen_scores = evaluate(unseen, taxonomy)
    print(_line("rules dev", dev_scores))
    print(_line("majority dev", _majority(dev, dev)))
    print(_line("rules unseen", unseen_scores))
    print(_line("majority unseen", _majority(dev, unseen)))
    print(f"per-flag F1 dev:    {_per_flag(dev, taxonomy)}")
    print(f"per-flag F1 unseen: {_per_flag(unseen, taxonomy)}")
    result(
        texts_per_s=f"{rate:.0f}",
        dev_legal_area=f"{dev_scores.legal_area_acc:.3f}",
        dev_service=f"{dev_scores.service_acc:.3f}",
        dev_flags_macro_f1=f"{dev_scores.flags_macro_f1:.3f}",
        unseen_legal_area=f"{unseen_scores.legal_area_acc:.3f}",
        unseen_service=f"{unseen_scores.service_acc:.3f}",
        unseen_flags_macro_f1=f"{unseen_scores.flags_macro_f1:.3f}",
        unseen_flags_micro_f1=f"{unseen_scores.flags_micro_f1:.3f}",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
