"""Numbers spoken from prompts: queue position and expected wait are said as ``num_*`` prompts in Mandarin."""

from __future__ import annotations

NUMBER_PROMPTS = tuple(f"num_{n}" for n in (*range(10), 10, 100, 1000))


def say_number(n: int) -> tuple[str, ...]:
    """Prompt names that say `n` (0..9999) in Mandarin: 23 -> 二 十 三, 105 -> 一 百 零 五, 12 -> 十 二."""
    if not 0 <= n <= 9999:
        raise ValueError(f"say_number: {n} is outside 0..9999")
    if n == 0:
        return ("num_0",)
    out: list[str] = []
    units = ((1000, "num_1000"), (100, "num_100"), (10, "num_10"), (1, ""))
    zero_pending = False
    for value, unit in units:
        digit = n // value % 10
        if digit == 0:
            zero_pending = bool(out)
            continue
        if zero_pending:
            out.append("num_0")
            zero_pending = False
        if not (value == 10 and digit == 1 and not out):
            out.append(f"num_{digit}")
        if unit:
            out.append(unit)
    return tuple(out)
