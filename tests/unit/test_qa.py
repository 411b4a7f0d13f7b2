"""Automatic quality check: each rule passes and fails on crafted transcripts, the score arithmetic, bad files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hotline.qa import DEFAULT_RULES_PATH, QaResult, QaRules, QaRulesError, Segment, evaluate, load_rules, parse_rules

RULES_YAML = """
version: 1
greeting: {points: 10, within_seconds: 10, phrases: [您好, 12348, 很高兴为您服务]}
closing: {points: 10, last_seconds: 30, phrases: [感谢您的来电, 再见, 还有什么可以帮您]}
forbidden_words:
  max_points: 30
  words: {不知道: 5, 不归我们管: 10, 你自己去查: 10, 自己去查: 5, 他妈的: 20}
  exceptions: [不知道您]
long_silence: {points: 10, max_gap_seconds: 15}
talk_ratio: {points: 10, min: 0.2, max: 0.7}
"""


def rules(**changes: Any) -> QaRules:
    data = yaml.safe_load(RULES_YAML)
    for dotted, value in changes.items():
        item, key = dotted.split("__")
        data[item][key] = value
    return parse_rules(data, "test-rules.yaml")


def agent(start_s: float, end_s: float, text: str) -> Segment:
    return Segment("agent", round(start_s * 1000), round(end_s * 1000), text)


def caller(start_s: float, end_s: float, text: str) -> Segment:
    return Segment("caller", round(start_s * 1000), round(end_s * 1000), text)


# A good call as Vosk writes it (spaces between words): every item passes.
GOOD = [
    agent(1, 4, "您好 一 二 三 四 八 很 高兴 为 您 服务"),
    caller(5, 15, "我 在 工地 干活 老板 拖欠 工资 三 个 月 了"),
    agent(16, 24, "您 可以 先 找 劳动 监察 大队 投诉 也 可以 申请 劳动 仲裁"),
    caller(25, 33, "那 我 需要 准备 什么 材料 呢 要 带 身份证 吗"),
    agent(34, 40, "带 上 身份证 和 工资 条 还有 什么 可以 帮 您"),
    caller(41, 43, "没有 了 谢谢"),
    agent(44, 46, "感谢 您 的 来电 再见"),
]


def item(result: QaResult, name: str) -> Any:
    return next(i for i in result.items if i.name == name)


def test_a_good_call_passes_every_item_and_scores_100() -> None:
    result = evaluate(GOOD, rules())
    assert [(i.name, i.passed) for i in result.items] == [
        ("greeting", True),
        ("closing", True),
        ("forbidden_words", True),
        ("long_silence", True),
        ("talk_ratio", True),
    ]
    assert result.score == 100 and result.failed == []


def test_greeting_with_spaces_between_words_is_found() -> None:
    result = evaluate([agent(0, 3, "很 高兴 为 您 服务"), caller(3, 6, "你好")], rules())
    assert item(result, "greeting").passed and "很高兴为您服务" in item(result, "greeting").detail


def test_greeting_after_the_window_fails() -> None:
    late = [agent(0, 2, "喂"), caller(2, 5, "喂 你好"), agent(12, 14, "您好 请 讲")]
    greeting = item(evaluate(late, rules()), "greeting")
    assert not greeting.passed and greeting.lost == 10 and "10 秒内没有问候语" in greeting.detail


def test_greeting_window_starts_when_the_agent_is_connected() -> None:
    segments = [caller(0, 20, "我 要 找 律师"), agent(30, 33, "您好 一 二 三 四 八")]
    assert item(evaluate(segments, rules(), agent_connected_ms=25_000), "greeting").passed
    assert not item(evaluate(segments, rules(), agent_connected_ms=15_000), "greeting").passed


def test_agent_words_before_the_connection_are_ignored() -> None:
    # e.g. audio on the agent channel before the bridge cannot be the agent greeting the caller
    segments = [agent(0, 2, "您好"), caller(3, 20, "我 要 找 律师"), agent(40, 45, "请 讲 感谢 您 的 来电")]
    assert not item(evaluate(segments, rules(), agent_connected_ms=30_000), "greeting").passed


def test_full_width_digits_match() -> None:
    result = evaluate([agent(0, 2, "１２３４８ 请 讲"), caller(2, 6, "我 想 咨询")], rules())
    assert item(result, "greeting").passed


def test_closing_missing_fails() -> None:
    segments = [*GOOD[:4], agent(34, 40, "带 上 身份证 和 工资 条"), GOOD[5], agent(44, 46, "好 的")]
    closing = item(evaluate(segments, rules()), "closing")
    assert not closing.passed and closing.lost == 10


def test_closing_must_be_in_the_agents_last_seconds() -> None:
    early = [agent(0, 2, "您好 再见"), caller(2, 50, "我 说 了 很 久"), agent(50, 52, "好 的")]
    assert not item(evaluate(early, rules()), "closing").passed
    assert item(evaluate(early, rules(closing__last_seconds=60)), "closing").passed


def test_forbidden_words_cost_their_penalty_once_each_and_are_capped() -> None:
    segments = [
        agent(0, 2, "您好"),
        caller(2, 5, "我 的 事"),
        agent(5, 8, "我 不 知道 这 个 不 知道"),
        agent(8, 10, "这 不 归 我们 管"),
    ]
    forbidden = item(evaluate(segments, rules()), "forbidden_words")
    assert not forbidden.passed and forbidden.lost == 15  # 不知道 5 (said twice, counted once) + 不归我们管 10
    assert "“不知道”×2" in forbidden.detail and "0:05" in forbidden.detail
    worse = [*segments, agent(10, 12, "他妈的 你 自己 去 查")]
    assert item(evaluate(worse, rules()), "forbidden_words").lost == 30  # 45 capped at max_points


def test_a_longer_forbidden_word_hides_the_shorter_one_it_contains() -> None:
    forbidden = item(evaluate([agent(0, 2, "你 自己 去 查"), caller(2, 4, "好")], rules()), "forbidden_words")
    assert forbidden.lost == 10 and forbidden.detail.count("扣") == 1 and "“你自己去查”" in forbidden.detail


def test_forbidden_word_inside_an_exception_phrase_does_not_count() -> None:
    segments = [agent(0, 2, "不 知道 您 还有 什么 问题"), caller(2, 4, "没有")]
    assert item(evaluate(segments, rules()), "forbidden_words").passed


def test_forbidden_words_said_by_the_caller_do_not_count() -> None:
    segments = [agent(0, 2, "您好"), caller(2, 6, "我 不 知道 怎么 办 他妈的 老板")]
    assert item(evaluate(segments, rules()), "forbidden_words").passed


def test_long_silence_between_either_channel_fails() -> None:
    segments = [agent(0, 2, "您好"), caller(3, 6, "我 想 问 问"), agent(30, 32, "请 讲")]
    silence = item(evaluate(segments, rules()), "long_silence")
    assert not silence.passed and silence.lost == 10
    assert "最长 24.0 秒" in silence.detail and "0:06" in silence.detail


def test_overlapping_speech_is_not_silence() -> None:
    segments = [agent(0, 20, "您好 请 讲"), caller(5, 10, "嗯"), caller(30, 34, "我 想 问")]
    assert item(evaluate(segments, rules()), "long_silence").passed  # 20 -> 30 is 10 s


def test_silence_after_connection_before_the_agent_speaks_counts() -> None:
    segments = [caller(0, 5, "喂"), agent(25, 27, "您好")]
    assert item(evaluate(segments, rules()), "long_silence").passed  # window starts at the agent's first words
    assert not item(evaluate(segments, rules(), agent_connected_ms=6_000), "long_silence").passed


def test_talk_ratio_outside_bounds_fails_both_ways() -> None:
    lecture = [agent(0, 60, "您好 " + "讲 " * 50), caller(60, 62, "好")]
    quiet = [agent(0, 1, "您好"), caller(1, 60, "说 " * 50)]
    high, low = item(evaluate(lecture, rules()), "talk_ratio"), item(evaluate(quiet, rules()), "talk_ratio")
    assert not high.passed and "97%" in high.detail
    assert not low.passed and "2%" in low.detail
    assert item(evaluate(GOOD, rules()), "talk_ratio").passed


def test_score_is_100_minus_lost_points_and_never_below_zero() -> None:
    bad = [agent(0, 2, "喂"), caller(2, 40, "说 " * 30), agent(70, 72, "他妈的 不 知道 不 归 我们 管")]
    result = evaluate(bad, rules())
    lost = {i.name: i.lost for i in result.items}
    assert lost == {"greeting": 10, "closing": 10, "forbidden_words": 30, "long_silence": 10, "talk_ratio": 10}
    assert result.score == 30
    harsh = rules(greeting__points=50, closing__points=50)
    assert evaluate(bad, harsh).score == 0


def test_disabled_items_are_left_out_and_cost_nothing() -> None:
    result = evaluate([agent(0, 2, "喂"), caller(2, 6, "你好")], rules(greeting__enabled=False))
    assert "greeting" not in [i.name for i in result.items]


def test_a_call_where_the_agent_never_spoke_fails_the_agent_items() -> None:
    result = evaluate([caller(0, 10, "喂 喂 有人 吗")], rules())
    assert {i.name for i in result.items if not i.passed} == {"greeting", "closing", "talk_ratio"}


def test_segments_in_any_order_give_the_same_result() -> None:
    assert evaluate(list(reversed(GOOD)), rules()) == evaluate(GOOD, rules())


def test_checksum_follows_content_not_layout() -> None:
    assert rules().checksum == parse_rules(yaml.safe_load(RULES_YAML.replace("\n", "\n# note\n")), "x").checksum
    assert rules().checksum != rules(greeting__points=11).checksum


def test_packaged_rules_load() -> None:
    packaged = load_rules()
    assert packaged.greeting.within_seconds > 0 and "12348" in packaged.greeting.phrases
    assert load_rules(DEFAULT_RULES_PATH) == packaged


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my-rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "where", "expected"),
    [
        (
            "greeting:\n  points: 10\n  within_seconds: -5\n  phrases: [您好]\n",
            "greeting.within_seconds",
            "expected a number greater than 0",
        ),
        ("greeting:\n  points: ten\n  within_seconds: 5\n  phrases: [您好]\n", "greeting.points", "integer"),
        (
            "greeting:\n  points: 10\n  within_seconds: 5\n  phrases: []\n",
            "greeting.phrases",
            "expected at least 1 entry",
        ),
        ("greeting:\n  points: 10\n  within_second: 5\n  phrases: [您好]\n", "greeting.within_second", "unknown key"),
        ("greting:\n  points: 10\n", "greting", "unknown item"),
        ("closing: {points: 10, last_seconds: 5, phrases: ['  ']}\n", "closing.phrases.0", "non-empty text"),
        ("talk_ratio: {points: 10, min: 0.8, max: 0.2}\n", "talk_ratio", "min (0.8) must not be greater than max"),
        (
            "forbidden_words: {max_points: 30, words: {不知道: 0}}\n",
            "forbidden_words.words.不知道",
            "expected a number of at least 1",
        ),
    ],
)
def test_bad_rules_name_the_file_item_and_what_was_expected(
    tmp_path: Path, change: str, where: str, expected: str
) -> None:
    data = yaml.safe_load(RULES_YAML)
    data.update(yaml.safe_load(change))
    path = _write(tmp_path, yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(QaRulesError) as err:
        load_rules(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and where in message and expected in message, message


def test_missing_item_is_named(tmp_path: Path) -> None:
    data = yaml.safe_load(RULES_YAML)
    del data["closing"]
    with pytest.raises(QaRulesError, match=r"closing: missing; this item is required"):
        load_rules(_write(tmp_path, yaml.safe_dump(data, allow_unicode=True)))


def test_unreadable_or_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(QaRulesError, match="cannot read"):
        load_rules(tmp_path / "absent.yaml")
    with pytest.raises(QaRulesError, match="not valid YAML"):
        load_rules(_write(tmp_path, "greeting: [unclosed\n"))
    with pytest.raises(QaRulesError, match="top level: expected a mapping"):
        load_rules(_write(tmp_path, "- a list\n"))


def test_exception_equal_to_a_forbidden_word_is_refused() -> None:
    data = yaml.safe_load(RULES_YAML)
    data["forbidden_words"]["exceptions"] = ["不知道"]
    with pytest.raises(QaRulesError, match=r"forbidden_words.exceptions: '不知道' is also a forbidden word"):
        parse_rules(data, "x.yaml")
