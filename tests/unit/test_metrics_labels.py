"""The metrics' label sets from configuration (hotline.supervisor.metrics.labels_of): every tag value and survey
answer the shipped flows write is a label value of its own, not `unknown`."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.flow import load_flow
from hotline.flow.model import SetNode, SurveyNode
from hotline.supervisor.metrics import labels_of

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "ivr_flows").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_what_a_flow_writes_has_its_own_label(path: Path) -> None:
    flow = load_flow(path)
    labels = labels_of([flow], ["legal_aid"])
    written: list[tuple[str, str]] = []
    for node in flow.file.nodes.values():
        if isinstance(node, SetNode):
            written += [(k, v) for k, v in node.attributes.items() if k in ("legal_area", "service") and v]
            written += [("flag", f) for f in node.flags]
        if isinstance(node, SurveyNode):
            for q in node.questions:
                assert {labels.answer(q.name, a) for a in q.answers.values()} == set(q.answers.values())
    assert written, "the shipped flow sets legal areas, services and flags"
    for kind, value in written:
        assert labels.tag_value(value) == value and value in labels.tags[kind], (kind, value)
    assert labels.tag_value("某个未知的值") == "unknown"
