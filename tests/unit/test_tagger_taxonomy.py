"""Taxonomy files an administrator edits: bad ones are refused with the file, label and field named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hotline.tag import TaxonomyError, load_taxonomy, tag
from hotline.tag.taxonomy import DEFAULT_PATH


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my-taxonomy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_packaged_taxonomy_loads_and_defines_rules_for_every_non_default_label() -> None:
    tax = load_taxonomy()
    for axis in tax.axes.values():
        named = {label.name for label in axis.labels if label.rules}
        assert named >= {label.name for label in axis.labels} - {"其他", "法律咨询"}


def test_unknown_label_is_refused_naming_file_label_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "legal_area:\n  labels:\n    婚姻:\n      words: {离婚: 3}\n")
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(path)
    message = str(err.value)
    assert str(path) in message and "legal_area.labels.婚姻" in message and "unknown label" in message
    assert "婚姻家庭" in message  # says what was expected


def test_bad_regex_is_refused_naming_file_label_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, 'service:\n  labels:\n    投诉:\n      patterns: {"投诉(律师": 3}\n')
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(path)
    message = str(err.value)
    assert str(path) in message and "service.labels.投诉.patterns" in message and "bad regex" in message


@pytest.mark.parametrize("weight", ['"heavy"', "0", "true", ".nan", "1000", "[1]"])
def test_bad_weight_is_refused_naming_file_label_and_field(tmp_path: Path, weight: str) -> None:
    path = _write(tmp_path, f"flags:\n  labels:\n    老年人:\n      words: {{老人: {weight}}}\n")
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(path)
    message = str(err.value)
    assert str(path) in message and "flags.labels.老年人.words['老人']" in message and "expected a" in message


def test_bad_min_score_and_unknown_key_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match=r"老年人\.min_score"):
        load_taxonomy(_write(tmp_path, "flags:\n  labels:\n    老年人:\n      min_score: -1\n"))
    with pytest.raises(TaxonomyError, match=r"老年人: unknown keys \['word'\]"):
        load_taxonomy(_write(tmp_path, "flags:\n  labels:\n    老年人:\n      word: {老人: 2}\n"))


def test_unreadable_or_malformed_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(TaxonomyError, match=r"nope\.yaml: cannot read"):
        load_taxonomy(missing)
    with pytest.raises(TaxonomyError, match=r"my-taxonomy\.yaml: not valid YAML"):
        load_taxonomy(_write(tmp_path, "legal_area: [unclosed\n"))


def test_edited_taxonomy_changes_tags_without_touching_the_packaged_one(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    data["legal_area"]["labels"]["消费维权"]["words"]["奶茶"] = 5
    custom = load_taxonomy(_write(tmp_path, yaml.safe_dump(data, allow_unicode=True)))
    assert tag("那家奶茶有问题", custom).legal_area == "消费维权"
    assert tag("那家奶茶有问题").legal_area == "其他"


def test_non_negatable_rule_counts_even_after_a_negator(tmp_path: Path) -> None:
    text = "legal_area:\n  min_score: 1\n  labels:\n    刑事:\n      words: {无罪: {weight: 2, negatable: false}}\n"
    custom = load_taxonomy(_write(tmp_path, text))
    assert tag("他不无罪", custom).legal_area == "刑事"


def test_macro_is_expanded_in_patterns_and_requires(tmp_path: Path) -> None:
    text = (
        'macros:\n  many: "(?:十几|二十几|[5-9])"\n  people: "{many}个?(?:人|工人)"\n'
        "flags:\n  labels:\n    群体性纠纷:\n      min_score: 3\n"
        '      patterns: {"{people}": 3}\n'
        '      requires: ["{many}"]\n'
    )
    custom = load_taxonomy(_write(tmp_path, text))
    assert custom.macros["people"] == "(?:(?:十几|二十几|[5-9]))个?(?:人|工人)"
    assert tag("我们二十几个工人", custom).flags == ["群体性纠纷"]
    assert tag("我们两个人", custom).flags == []


def test_unknown_or_badly_named_macro_is_refused_naming_file_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, 'service:\n  labels:\n    投诉:\n      patterns: {"{target}投诉": 3}\n')
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(path)
    message = str(err.value)
    assert str(path) in message and "service.labels.投诉.patterns" in message and "unknown macro {target}" in message
    with pytest.raises(TaxonomyError, match=r"macros\.Target: expected a name of lower-case letters"):
        load_taxonomy(_write(tmp_path, 'macros:\n  Target: "律师"\n'))
    with pytest.raises(TaxonomyError, match=r"macros\.target: bad regex"):
        load_taxonomy(_write(tmp_path, 'macros:\n  target: "(律师"\n'))


def test_rule_with_requires_counts_only_when_its_context_is_in_the_text(tmp_path: Path) -> None:
    text = (
        "flags:\n  labels:\n    家庭暴力:\n      patterns:\n"
        '        "他[^。]{0,4}打我":\n          weight: 3\n          requires: "离婚|老公"\n'
    )
    custom = load_taxonomy(_write(tmp_path, text))
    assert tag("我想离婚，他经常打我", custom).flags == ["家庭暴力"]
    assert tag("我去要钱，他经常打我", custom).flags == []


def test_bad_rule_requires_or_axis_negators_are_refused(tmp_path: Path) -> None:
    bad_requires = 'flags:\n  labels:\n    老年人:\n      words:\n        老人: {weight: 2, requires: "(岁"}\n'
    with pytest.raises(TaxonomyError, match=r"flags\.labels\.老年人\.words\['老人'\]\.requires\[0\]: bad regex"):
        load_taxonomy(_write(tmp_path, bad_requires))
    with pytest.raises(TaxonomyError, match=r"unknown keys \['context'\]; expected weight, negatable, requires"):
        load_taxonomy(_write(tmp_path, "flags:\n  labels:\n    老年人:\n      words:\n        老人: {context: x}\n"))
    with pytest.raises(TaxonomyError, match=r"legal_area\.negators: expected a list of non-empty strings"):
        load_taxonomy(_write(tmp_path, "legal_area:\n  negators: 不是\n"))


def test_axis_negators_replace_the_global_ones_for_that_axis_only(tmp_path: Path) -> None:
    text = (
        "negation:\n  negators: [不是, 没有]\n"
        "legal_area:\n  negators: [不是]\n  labels:\n    劳动争议:\n      words: {劳动合同: 3}\n"
        "flags:\n  labels:\n    家庭暴力:\n      words: {家暴: 3}\n"
    )
    custom = load_taxonomy(_write(tmp_path, text))
    assert tag("没有劳动合同", custom).legal_area == "劳动争议"
    assert tag("不是劳动合同", custom).legal_area == "其他"
    assert tag("没有家暴", custom).flags == []
