"""The API's OpenAPI document in the tests: the routes the app's router really has, and real answers checked
against the document's response schemas (JSON Schema 2020-12, formats checked)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from agents.openapi import document

BASE = "urn:hotline-api"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def routes(app: web.Application) -> Iterator[tuple[str, str]]:
    """(method, path) of every route of ``app`` and its sub-apps, however deep (HEAD twins of GETs left out).
    A mounted sub-app's resources already carry every prefix above them."""
    for resource in app.router.resources():
        info = resource.get_info()
        if "app" in info:
            yield from routes(info["app"])
            continue
        for route in resource:
            if route.method != "HEAD":
                yield route.method, resource.canonical


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for path, item in doc["paths"].items():
        for method in item:
            if method in METHODS:
                yield method.upper(), path


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _schema_pointer(doc: dict[str, Any], method: str, path: str, status: int) -> str:
    """The JSON pointer of the schema of the ``status`` JSON answer of an operation (its response may be a $ref)."""
    responses = doc["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, which the document does not list"
    pointer = f"#/paths/{_escape(path)}/{method.lower()}/responses/{status}"
    response = responses[str(status)]
    if "$ref" in response:
        pointer = response["$ref"]
        response = doc["components"]["responses"][pointer.rsplit("/", 1)[1]]
    assert "application/json" in response["content"], f"{method} {path} {status}: no JSON answer documented"
    return pointer + "/content/application~1json/schema"


def validator(method: str, path: str, status: int) -> Draft202012Validator:
    """A validator of the ``status`` answer of ``method path`` (``path`` as the document writes it)."""
    doc = document()
    registry: Registry[Any] = Registry().with_resource(BASE, DRAFT202012.create_resource(doc))
    return Draft202012Validator(
        {"$ref": BASE + _schema_pointer(doc, method, path, status)},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def problems(method: str, path: str, status: int, body: Any) -> list[str]:
    """What is wrong with an answer by the document; empty when it conforms."""
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(method, path, status).iter_errors(body)
    ]
