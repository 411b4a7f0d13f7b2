"""Tagger benchmark: accuracy per field on the labelled set and texts per second on one core.

Prints the figures of a majority-class baseline (always the most common dev label, no flags) in the same run,
and the issue's speed target, then one ``RESULT`` line with the held-out figures.

    .venv/bin/python bench/tagger.py [--repeat N] [--taxonomy FILE] [--data FILE]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from hotline.tag import FLAGS, load_taxonomy, tag
from hotline.tag.evaluate import Example, Scores, evaluate, load_examples, score
from hotline.tag.service import Tags

ROOT = Path(__file__).resolve().parent.parent
TARGET_TEXTS_PER_S = 500


def _majority(dev: list[Example], examples: list[Example]) -> Scores:
    area = Counter(ex.legal_area for ex in dev).most_common(1)[0][0]
    service = Counter(ex.service for ex in dev).most_common(1)[0][0]
    return score(examples, [Tags(area, service, []) for _ in examples], FLAGS)


def _line(name: str, s: Scores) -> str:
    return (
        f"{name:<22} n={s.n:<4} legal_area={s.legal_area_acc:.3f} service={s.service_acc:.3f} "
        f"flags_micro_f1={s.flags_micro_f1:.3f} flags_macro_f1={s.flags_macro_f1:.3f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20, help="passes over the labelled set for timing")
    parser.add_argument("--taxonomy", type=Path, default=None, help="taxonomy YAML (default: the packaged one)")
    parser.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "tagger_labelled.jsonl")
    args = parser.parse_args()

    taxonomy = load_taxonomy(args.taxonomy)
    examples = load_examples(args.data)
    dev = [ex for ex in examples if ex.split == "dev"]
    test = [ex for ex in examples if ex.split == "test"]

    started = time.perf_counter()
    tag("初始化", taxonomy)
    print(f"first call (jieba dictionary load + taxonomy words): {time.perf_counter() - started:.2f} s")

    started = time.perf_counter()
    for _ in range(args.repeat):
        for ex in examples:
            tag(ex.text, taxonomy)
    elapsed = time.perf_counter() - started
    texts = args.repeat * len(examples)
    rate = texts / elapsed
    chars = sum(len(ex.text) for ex in examples) / len(examples)
    print(
        f"tagged {texts} texts (mean {chars:.0f} chars) in {elapsed:.2f} s: {rate:.0f} texts/s "
        f"(target >= {TARGET_TEXTS_PER_S} texts/s on one core)"
    )

    held_out = evaluate(test, taxonomy)
    print(_line("rules dev", evaluate(dev, taxonomy)))
    print(_line("rules held-out", held_out))
    print(_line("majority dev", _majority(dev, dev)))
    print(_line("majority held-out", _majority(dev, test)))
    print(
        f"RESULT texts_per_s={rate:.0f} legal_area_acc={held_out.legal_area_acc:.3f} "
        f"service_acc={held_out.service_acc:.3f} flags_f1={held_out.flags_micro_f1:.3f} "
        f"flags_macro_f1={held_out.flags_macro_f1:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
