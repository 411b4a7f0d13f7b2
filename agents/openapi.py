"""The OpenAPI 3.1 document of the whole /api (``agents/openapi.yaml``), served as JSON at ``/api/openapi.json``.

The document is written by hand next to the code; ``tests/integration/test_api_contract.py`` holds the two
together (every route of the router is in it and the reverse, real answers match its schemas).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from agents.api import json_response
from agents.auth import public

DOCUMENT = Path(__file__).with_name("openapi.yaml")


@functools.cache
def document() -> dict[str, Any]:
    """The document, read once."""
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


@public
async def openapi_json(request: web.Request) -> web.Response:
    return json_response(document())
