"""The tagger on its dev and unseen sets; negation, normalisation, the JSON-lines front end, determinism."""

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
from hotline.tag.service import is_negated, normalize
from hotline.tag.taxonomy import default_taxonomy

ROOT = Path(__file__).resolve().parents[2]
LABELLED = ROOT / "tests" / "data" / "tagger_labelled.jsonl"  # the dev set: rules are tuned on it
UNSEEN = ROOT / "tests" / "data" / "tagger_unseen.jsonl"  # written before the rules were revised; never tuned on


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return load_examples(LABELLED)


@pytest.fixture(scope="module")
def unseen() -> list[Example]:
    return load_examples(UNSEEN)


def _check_labels(examples: list[Example], at_least: int) -> None:
    assert len({ex.id for ex in examples}) == len(examples)
    areas = Counter(ex.legal_area for ex in examples)
    services = Counter(ex.service for ex in examples)
    flags = Counter(f for ex in examples for f in ex.flags)
    assert set(areas) <= set(LEGAL_AREAS) and set(services) <= set(SERVICES) and set(flags) <= set(FLAGS)
    for label in LEGAL_AREAS:
        assert areas[label] >= at_least, label
    for label in SERVICES:
        assert services[label] >= at_least, label
    for label in FLAGS:
        assert flags[label] >= at_least, label
    for ex in examples:
        assert list(ex.flags) == sorted(set(ex.flags), key=FLAGS.index), ex.id


def test_dev_set_has_400_statements_with_valid_labels_and_every_label_five_times(examples: list[Example]) -> None:
    assert len(examples) >= 400
    _check_labels(examples, 5)


def test_unseen_set_has_120_new_statements_and_every_label_three_times(
    examples: list[Example], unseen: list[Example]
) -> None:
    assert len(unseen) >= 120
    _check_labels(unseen, 3)
    assert not {ex.text for ex in unseen} & {ex.text for ex in examples}
    assert not {ex.id for ex in unseen} & {ex.id for ex in examples}


def test_dev_set_meets_per_field_thresholds(examples: list[Example]) -> None:
    # In-sample (the rules were tuned on these): measured 0.980 / 0.998 / macro 0.993 / micro 0.991.
    scores = evaluate(examples)
    assert scores.legal_area_acc >= 0.96
    assert scores.service_acc >= 0.98
    assert scores.flags_macro_f1 >= 0.97
    assert scores.flags_micro_f1 >= 0.97


def test_unseen_set_meets_per_field_thresholds(unseen: list[Example]) -> None:
    # Out of sample: measured 0.886 / 0.975 / macro 0.954 / micro 0.954 when the rules were frozen (before the
    # revision: 0.747 / 0.892 / 0.844 / 0.859). One statement is 0.6 points. Do not tune rules on this set:
    # add the phrasing that fails to the dev set instead, and keep this set as the honest check.
    scores = evaluate(unseen)
    assert scores.legal_area_acc >= 0.86
    assert scores.service_acc >= 0.95
    assert scores.flags_macro_f1 >= 0.93
    assert scores.flags_micro_f1 >= 0.93


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


def test_negated_facts_clear_flags_but_a_missing_document_keeps_the_legal_area() -> None:
    assert "家庭暴力" not in tag("他没打过我，就是不给我钱用，我想离婚").flags
    assert "家庭暴力" not in tag("我想离婚，他骂我，但是从来没有动过手").flags
    assert "低保特困" not in tag("我不是低保户，但是家里困难，能不能申请法律援助").flags
    assert "农民工欠薪" not in tag("不是工地上的，是在公司上班，工资拖了三个月").flags
    assert tag("我不想调解了，想直接去法院起诉离婚").service == "法律咨询"
    # 没有 says a document is missing, not that the matter is something else
    assert tag("我没有签劳动合同，干了两年被辞退了").legal_area == "劳动争议"
    assert tag("我们没有结婚证，在一起十年了，现在他要分开").legal_area == "婚姻家庭"


def test_a_partner_called_he_who_hits_is_domestic_violence_when_the_marriage_is_mentioned() -> None:
    assert tag("我想离婚，他经常打我").flags == ["家庭暴力"]
    assert "家庭暴力" in tag("我家那个经常打我，我想跟他离了").flags
    assert "家庭暴力" in tag("我儿子天天打我，要钱去赌").flags
    assert "家庭暴力" not in tag("我去要工钱，他还叫人打我").flags  # no partner or family: not domestic


def test_workers_owed_wages_are_migrant_wage_arrears_however_they_say_it() -> None:
    assert tag("拖欠我们二十几个工人工资").flags == ["群体性纠纷", "农民工欠薪"]
    assert "农民工欠薪" in tag("我们村三十多个人在外省工地干活，包工头跑了，钱一分没拿到").flags
    assert "农民工欠薪" in tag("我的工钱被包工头扣着，我们是从贵州过来的").flags
    assert "农民工欠薪" not in tag("公司拖了我两个月工资，我是签了合同的正式员工").flags


def test_numbers_in_chinese_characters_count_for_groups_and_ages() -> None:
    assert "群体性纠纷" in tag("村里一百多户的地被征了，补偿不到位").flags
    assert "群体性纠纷" in tag("我们三四十个人在这个美容院办了卡，现在关门了").flags
    assert "群体性纠纷" not in tag("我们两个人合伙开了个店").flags
    assert "老年人" in tag("我阿奶七十好几了，被叔叔赶出来了").flags
    assert "老年人" in tag("我爸今年82岁，被人骗了").flags
    assert "未成年人" in tag("我娃娃才九岁，在学校被老师打了").flags
    assert "未成年人" not in tag("我儿子二十五岁了，被公司开除了").flags


def test_threats_of_violence_and_of_self_harm_are_a_risk_to_life() -> None:
    for text in (
        "我不想活了，被人骗光了钱",
        "那个包工头说再来要钱就打断我们的腿",
        "他们把我关在屋子里不让出去，我是偷偷打的电话",
        "他拿着刀在我家门口，说要砍死我全家",
    ):
        assert "人身安全风险" in tag(text).flags, text
    assert "人身安全风险" not in tag("她想回老挝，娃娃要带走").flags


def test_speech_recogniser_spaces_and_ascii_punctuation_do_not_change_the_tags() -> None:
    assert normalize("他 天天 打 我 我 想 离婚") == "他天天打我我想离婚"
    assert normalize("１２３４８, 借了1.5万. 不还!") == "12348，借了1.5万。不还！"
    assert tag("他 天天 打 我 我 想 离婚") == tag("他天天打我我想离婚")
    assert tag("老板 拖欠 工资, 我 想 申请 劳动 仲裁") == tag("老板拖欠工资，我想申请劳动仲裁")


def test_matches_point_into_the_normalised_text() -> None:
    got = tag("我 想 离婚")
    assert got.text == "我想离婚"
    for m in got.matches:
        assert got.text[m.start : m.start + len(m.text)] == m.text


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
