"""The JSON Schema of flow files, for editors (``# yaml-language-server: $schema=flow.schema.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hotline.flow.model import FlowFile

SCHEMA_PATH = Path("ivr_flows/flow.schema.json")
SCHEMA_ID = "https://12348.yn.example/ivr_flows/flow.schema.json"


def _close_patterns(value: Any) -> None:
    """Keys that must match a pattern (node names, keys) may not be anything else either."""
    if isinstance(value, dict):
        if "patternProperties" in value and "additionalProperties" not in value:
            value["additionalProperties"] = False
        for item in value.values():
            _close_patterns(item)
    elif isinstance(value, list):
        for item in value:
            _close_patterns(item)


def flow_schema() -> dict[str, Any]:
    schema = FlowFile.model_json_schema(by_alias=True)
    _close_patterns(schema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def schema_text() -> str:
    return json.dumps(flow_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> bool:
    """Write the schema; return True when the file changed."""
    text = schema_text()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return True
