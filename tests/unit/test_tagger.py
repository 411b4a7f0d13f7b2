"""The tagger against its labelled set, plus negation, the JSON-lines front end and determinism."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from hotline.tag import FLAGS, LEGAL_AREAS, SERVICES, tag, tag_main
from hotline.tag.evaluate import Example, evaluate, load_examples
from hotline.tag.segment import tokenizer_for
from hotline.tag.service import is_negated
from hotline.tag.taxonomy import default_taxonomy

ROOT = Path(__file__).resolve().parents[2]
LABELLED = ROOT / "tests" / "data" / "tagger_labelled.jsonl"


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return load_examples(LABELLED)


def test_labelled_set_has_150_statements_with_valid_labels_and_every_label_five_times(examples: list[Example]) -> None:
    assert len(examples) >= 150
    assert len({ex.id for ex in examples}) == len(examples)
    areas = Counter(ex.legal_area for ex in examples)
    services = Counter(ex.service for ex in examples)
    flags = Counter(f for ex in examples for f in ex.flags)
    assert set(areas) <= set(LEGAL_AREAS) and set(services) <= set(SERVICES) and set(flags) <= set(FLAGS)
    for label in LEGAL_AREAS:
        assert areas[label] >= 5, label
    for label in SERVICES:
        assert services[label] >= 5, label
    for label in FLAGS:
        assert flags[label] >= 5, label
    for ex in examples:
        assert list(ex.flags) == sorted(ex.flags, key=FLAGS.index), ex.id


def test_held_out_third_meets_per_field_thresholds(examples: list[Example]) -> None:
    # The rules were written with the whole set in view, so these in-sample figures overstate accuracy on new
    # callers; 0.85 leaves room for taxonomy edits without hiding a real regression (one miss is ~1.2 points).
    scores = evaluate([ex for ex in examples if ex.split == "test"])
    assert scores.n >= 50
    assert scores.legal_area_acc >= 0.85
    assert scores.service_acc >= 0.85
    assert scores.flags_micro_f1 >= 0.85


def test_dev_two_thirds_meets_per_field_thresholds(examples: list[Example]) -> None:
    scores = evaluate([ex for ex in examples if ex.split == "dev"])
    assert scores.legal_area_acc >= 0.88
    assert scores.service_acc >= 0.88
    assert scores.flags_micro_f1 >= 0.88


def test_empty_text_gets_the_defaults() -> None:
    for text in ("", "   ", "\n"):
        got = tag(text)
        assert (got.legal_area, got.service, got.flags) == ("其他", "法律咨询", [])


def test_statement_with_no_known_word_gets_the_defaults() -> None:
    got = tag("喂？喂？听得到吗？")
    assert (got.legal_area, got.service, got.flags) == ("其他", "法律咨询", [])


def test_negated_work_injury_does_not_count_but_a_question_about_it_does() -> None:
    assert tag("我这个不是工伤").legal_area == "其他"
    assert tag("我这个并非工伤").legal_area == "其他"
    assert tag("我想问问这个是不是工伤").legal_area == "劳动争议"
    assert tag("这个算不算工伤").legal_area == "劳动争议"


def test_husband_who_did_not_hit_is_not_domestic_violence() -> None:
    got = tag("我老公没有打我，就是不回家，我想离婚")
    assert "家庭暴力" not in got.flags
    assert got.legal_area == "婚姻家庭"
    assert any(m.negated and m.label == "家庭暴力" for m in got.matches)
    assert "家庭暴力" in tag("我老公天天打我，我想离婚").flags
    assert "家庭暴力" in tag("他这样算不算家暴？").flags
    assert "家庭暴力" not in tag("他没有家暴，就是脾气不好").flags


def test_negator_must_be_next_to_the_keyword_in_the_same_clause() -> None:
    negation = default_taxonomy().negation
    text = "老板不给工资"
    assert not is_negated(text, text.index("工资"), negation)  # 不 negates 给, not the wage claim
    text = "不是他的，工伤认定下来了"
    assert not is_negated(text, text.index("工伤"), negation)  # a comma ends the negator's reach
    text = "他从来没被打过"
    assert is_negated(text, text.index("打"), negation)  # 没 + gap 被
    text = "有没有家暴"
    assert not is_negated(text, text.index("家暴"), negation)


def test_not_a_traffic_accident_is_not_tagged_as_one() -> None:
    assert tag("不是交通事故，是车停在停车场被人砸坏了").legal_area == "侵权损害"


def test_labour_arbitration_is_labour_area_and_arbitration_service() -> None:
    got = tag("公司不给我交社保，我想申请劳动仲裁")
    assert (got.legal_area, got.service) == ("劳动争议", "仲裁")


def test_complaint_about_a_lawyer_wins_over_the_legal_aid_it_mentions() -> None:
    got = tag("法律援助中心给我指派的律师根本不管我的案子，电话也不接，我要投诉")
    assert got.service == "投诉"


def test_group_wage_arrears_of_migrant_workers_sets_both_flags() -> None:
    got = tag("我们二十几个农民工在工地干了半年，包工头拖欠工资跑了")
    assert got.flags == ["群体性纠纷", "农民工欠薪"]
    assert "农民工欠薪" not in tag("我在工地干活，想问一下工伤怎么认定").flags  # no unpaid wages


def test_outputs_use_only_the_published_labels_in_published_flag_order(examples: list[Example]) -> None:
    for ex in examples:
        got = tag(ex.text)
        assert got.legal_area in LEGAL_AREAS and got.service in SERVICES
        assert got.flags == sorted(set(got.flags), key=FLAGS.index)


def test_tagging_is_deterministic(examples: list[Example]) -> None:
    first = [tag(ex.text).to_json() for ex in examples]
    second = [tag(ex.text).to_json() for ex in reversed(examples)]
    assert first == list(reversed(second))


def test_custom_legal_words_stay_whole_in_segmentation() -> None:
    words = tokenizer_for(default_taxonomy().words).cut("老板拖欠工资，邻居占了宅基地，我家是建档立卡户")
    assert {"拖欠工资", "宅基地"} <= set(words)
    assert any(w.startswith("建档立卡") for w in words)


def _run(lines: bytes) -> tuple[int, list[dict[str, object]], str]:
    stdin = io.TextIOWrapper(io.BytesIO(lines), encoding="utf-8")
    stdout, stderr = io.StringIO(), io.StringIO()
    status = tag_main(stdin, stdout, stderr)
    return status, [json.loads(line) for line in stdout.getvalue().splitlines()], stderr.getvalue()


def test_cli_writes_one_line_per_input_in_order() -> None:
    texts = ["我想申请劳动仲裁", "", "我老公打我", "亲子鉴定多少钱？"]
    data = "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts).encode()
    status, out, err = _run(data)
    assert status == 0 and err == ""
    assert out == [tag(t).to_json() for t in texts]
    assert out[1] == {"legal_area": "其他", "service": "法律咨询", "flags": []}


def test_cli_reports_bad_lines_by_number_and_keeps_one_output_line_per_input() -> None:
    data = (
        "\n".join(
            ['{"text": "我要离婚"}', "not json", '{"txt": "x"}', '{"text": 5}', '["text"]', "", '{"text": "工伤认定"}']
        ).encode()
        + b"\n\xff\xfe\n"
    )
    status, out, err = _run(data)
    assert status == 1
    assert len(out) == 8
    assert out[0]["legal_area"] == "婚姻家庭" and out[6]["legal_area"] == "劳动争议"
    for lineno in (2, 3, 4, 5, 6, 8):
        message = out[lineno - 1]["error"]
        assert isinstance(message, str) and message.startswith(f"line {lineno}: ")
        assert '"text"' in message
        assert f"hotline tag: line {lineno}: " in err
    assert "Traceback" not in err
    assert "UTF-8" in str(out[7]["error"])


def test_cli_output_keeps_chinese_readable() -> None:
    stdout = io.StringIO()
    tag_main(io.StringIO('{"text": "我想离婚"}\n'), stdout, io.StringIO())
    assert "婚姻家庭" in stdout.getvalue()


def test_first_use_is_quiet_on_stderr() -> None:
    code = "from hotline.tag import tag; print(tag('老板拖欠工资').legal_area)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == "劳动争议"
    assert done.stderr == ""
