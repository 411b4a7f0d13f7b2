"""The flow checker on broken copies of the shipped flow: each problem names file, line, node and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hotline.errors import HotlineError
from hotline.flow import FlowError, Problem, check_files, check_flows_main, load_flow
from hotline.flow.schema import schema_text

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "ivr_flows"
SHIPPED = FLOWS / "yunnan_12348.yaml"
PROMPTS = FLOWS / "prompts"
SCHEDULES = FLOWS / "schedules"


def broken(tmp_path: Path, old: str, new: str, text: str | None = None) -> Path:
    source = text if text is not None else SHIPPED.read_text(encoding="utf-8")
    assert source.count(old) == 1, f"{old!r} must occur once in the flow"
    path = tmp_path / "broken.yaml"
    path.write_text(source.replace(old, new), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    found = [i + 1 for i, line in enumerate(lines) if needle in line]
    assert len(found) == 1, f"{needle!r} must occur on exactly one line, found {found}"
    return found[0]


def problems(path: Path, **kw: object) -> list[Problem]:
    return check_files([path], PROMPTS, schedule_dir=SCHEDULES, **kw)  # type: ignore[arg-type]


def only(found: list[Problem]) -> Problem:
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def test_shipped_flows_have_no_problem() -> None:
    assert check_files(sorted(FLOWS.glob("*.yaml")), PROMPTS) == []


def test_unknown_node_type_names_file_line_node_and_field(tmp_path: Path) -> None:
    path = broken(tmp_path, "  after_hours_notice:\n    type: play", "  after_hours_notice:\n    type: announce")
    p = only(problems(path))
    assert (p.file, p.line, p.node, p.field) == (str(path), line_of(path, "type: announce"), "after_hours_notice", None)
    assert "unknown node type 'announce'" in p.message and "menu" in p.message


def test_dangling_edge_is_reported_at_the_edge(tmp_path: Path) -> None:
    path = broken(tmp_path, '"4": guidance_menu', '"4": guidence_menu')
    found = problems(path)
    dangling = [p for p in found if "guidence_menu" in p.message]
    p = only(dangling)
    assert (p.line, p.node, p.field) == (line_of(path, "guidence_menu"), "main_menu", "choices.4")
    assert "not a node of this flow" in p.message
    # the menu it no longer reaches is unreachable: one line for it and the nodes behind it
    lost = only([q for q in found if "unreachable" in q.message])
    assert lost.node == "guidance_menu" and "nor to 8 more node(s) behind it" in lost.message


def test_missing_prompt_is_reported_with_its_folder(tmp_path: Path) -> None:
    path = broken(tmp_path, "prompt: labour_menu", "prompt: labor_menu")
    p = only(problems(path))
    assert (p.line, p.node, p.field) == (line_of(path, "prompt: labor_menu"), "labour_menu", "prompt")
    assert "prompt 'labor_menu' does not exist" in p.message and "zh-CN" in p.message


def test_prompt_in_a_list_names_its_index(tmp_path: Path) -> None:
    path = broken(tmp_path, "prompts: [welcome, danger_110]", "prompts: [welcome, danger_119]")
    p = only(problems(path))
    assert (p.node, p.field) == ("welcome", "prompts[1]")


def test_unreachable_node(tmp_path: Path) -> None:
    path = broken(tmp_path, "  goodbye:\n", "  orphan:\n    type: hangup\n  goodbye:\n")
    p = only(problems(path))
    assert (p.line, p.node, p.field) == (line_of(path, "  orphan:"), "orphan", None)
    assert "unreachable" in p.message


def test_loop_without_attempts_or_queue(tmp_path: Path) -> None:
    old, new = "[callback_failed]\n    next: voicemail", "[callback_failed]\n    next: callback_own_number"
    path = broken(tmp_path, old, new)
    found = problems(path)
    p = only([q for q in found if "loop" in q.message])
    assert (p.node, p.field, p.line) == ("callback_own_number", None, line_of(path, "  callback_own_number:"))
    assert "loop callback_own_number -> callback_failed -> callback_own_number" in p.message


def test_loop_through_a_menu_is_allowed(tmp_path: Path) -> None:
    # consult_menu -> 9 -> main_menu -> 1 -> consult_menu is a loop, but every turn needs a key
    assert problems(SHIPPED) == []


def test_menu_without_exhausted_edge(tmp_path: Path) -> None:
    path = broken(tmp_path, "    exhausted: area_other\n", "\n")
    found = problems(path)
    p = only([q for q in found if q.field == "exhausted"])
    assert (p.line, p.node) == (line_of(path, "  consult_menu:"), "consult_menu")
    assert "no exhausted edge" in p.message


def test_schedule_without_closed_edge(tmp_path: Path) -> None:
    path = broken(tmp_path, "    closed: after_hours_notice\n", "")
    found = problems(path)
    p = only([q for q in found if q.field == "closed"])
    assert p.node == "office_hours" and "schedule has no closed edge" in p.message


def test_undeclared_queue(tmp_path: Path) -> None:
    path = broken(tmp_path, "  - mediation          # 人民调解\n", "")
    p = only(problems(path))
    assert (p.line, p.node, p.field) == (line_of(path, "queue: mediation"), "mediation_queue", "queue")
    assert "not declared" in p.message


def test_declared_queue_must_be_configured_when_queues_are_known(tmp_path: Path) -> None:
    known = {"operator", "legal_consult", "legal_aid", "mediation", "guidance", "complaints", "minority_language"}
    p = only(problems(SHIPPED, known_queues=known))
    assert (p.line, p.node, p.field) == (line_of(SHIPPED, "  - duty_lawyer "), None, "queues[7]")
    assert "'duty_lawyer' is not configured" in p.message


def test_callback_number_must_be_collected(tmp_path: Path) -> None:
    path = broken(tmp_path, "number_from: callback_number", "number_from: callback_nmuber")
    p = only(problems(path))
    assert (p.line, p.node, p.field) == (line_of(path, "callback_nmuber"), "callback_other_number", "number_from")
    assert "no collect node stores 'callback_nmuber'" in p.message


def test_unknown_field_lists_the_allowed_ones(tmp_path: Path) -> None:
    path = broken(tmp_path, "    attempts: 2\n    no_input: area_labour", "    retries: 2\n    no_input: area_labour")
    p = only(problems(path))
    assert (p.line, p.node, p.field) == (line_of(path, "retries: 2"), "labour_menu", "retries")
    assert "unknown field" in p.message and "attempts" in p.message


def test_node_name_that_is_a_number_is_refused(tmp_path: Path) -> None:
    path = broken(tmp_path, "  goodbye:\n    type: hangup", "  goodbye:\n    type: hangup\n  '42':\n    type: hangup")
    found = problems(path)
    p = only(found)
    assert (p.line, p.node) == (line_of(path, "'42':"), "42")
    assert "does not match" in p.message


def test_duplicate_node_is_reported_not_silently_dropped(tmp_path: Path) -> None:
    path = broken(
        tmp_path,
        "  goodbye:\n    type: hangup\n    prompts: [goodbye]\n",
        "  goodbye:\n    type: hangup\n    prompts: [goodbye]\n  welcome:\n    type: hangup\n",
    )
    found = problems(path)
    p = only([q for q in found if "appears twice" in q.message])
    assert (p.node, p.line) == ("welcome", len(path.read_text(encoding="utf-8").splitlines()) - 1)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = broken(tmp_path, "    next: language\n", "    next: [language\n")
    p = only(problems(path))
    assert p.file == str(path) and "not valid YAML" in p.message and p.line >= line_of(path, "next: [language")


def test_missing_schedule_file(tmp_path: Path) -> None:
    path = broken(
        tmp_path, "    schedule: office_hours\n    open: main_menu", "    schedule: office_hourz\n    open: main_menu"
    )
    p = only(problems(path))
    assert (p.node, p.field, p.line) == ("office_hours", "schedule", line_of(path, "schedule: office_hourz"))


def test_two_files_with_one_id(tmp_path: Path) -> None:
    copy = tmp_path / "copy.yaml"
    copy.write_text(SHIPPED.read_text(encoding="utf-8"), encoding="utf-8")
    found = check_files([SHIPPED, copy], PROMPTS, schedule_dir=SCHEDULES)
    p = only(found)
    assert (p.file, p.field, p.line) == (str(copy), "id", line_of(copy, "id: yunnan_12348"))


def test_load_flow_refuses_a_flow_with_problems_and_lists_all(tmp_path: Path) -> None:
    path = broken(tmp_path, "prompt: labour_menu", "prompt: labor_menu")
    path.write_text(path.read_text(encoding="utf-8").replace('"2": aid_service', '"2": aid_servce'), encoding="utf-8")
    with pytest.raises(HotlineError) as info:
        load_flow(path, prompt_dir=PROMPTS, schedule_dir=SCHEDULES)
    assert isinstance(info.value, FlowError)
    text = str(info.value)
    assert "labor_menu" in text and "aid_servce" in text and str(path) in text


def test_load_flow_gives_id_revision_and_schedules() -> None:
    flow = load_flow(SHIPPED)
    assert (flow.id, flow.revision, flow.entry) == ("yunnan_12348", 1, "welcome")
    assert set(flow.schedules) == {"office_hours"}


def test_check_flows_main_prints_file_line_node_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = broken(tmp_path, "prompt: labour_menu", "prompt: labor_menu")
    code = check_flows_main([str(path), "--prompts", str(PROMPTS), "--schedules", str(SCHEDULES)])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out == [
        f"{path}:{line_of(path, 'labor_menu')}: node labour_menu: field prompt: prompt 'labor_menu' does not exist"
        f" in {PROMPTS / 'zh-CN'} (NAME.txt or NAME.wav)"
    ]


def test_check_flows_main_passes_on_shipped_flows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert check_flows_main([]) == 0


def test_schema_file_is_current() -> None:
    assert (FLOWS / "flow.schema.json").read_text(encoding="utf-8") == schema_text(), (
        "ivr_flows/flow.schema.json is stale: run hotline.flow.schema.write_schema()"
    )


def test_schema_knows_every_node_type() -> None:
    schema = json.loads(schema_text())
    nodes = schema["properties"]["nodes"]
    assert nodes["additionalProperties"] is False
    ((_, node_schema),) = nodes["patternProperties"].items()
    mapping = node_schema["discriminator"]["mapping"]
    assert set(mapping) == {
        "play", "menu", "collect", "schedule", "set", "branch", "enqueue",
        "callback", "voicemail", "survey", "transfer", "language", "hangup",
    }  # fmt: skip
