"""Calendly's OpenAPI descriptions as the contract tests read them, each parsed once per run.

Three files in this folder, named by what they describe:

* "2023": `openapi.yaml`, Calendly's April-2023 OpenAPI 3.0 file.
* "2026": `openapi-2026.json`, Calendly's current OpenAPI 3.1 export
  (https://developer.calendly.com/openapi/calendly-api.json). Its known defects are repaired
  in memory by `repair_2026` below, each with the reason the repair is faithful; the file on
  disk stays exactly as Calendly publishes it.
* "shares": `shares-2026-11-06.yaml`, the Share endpoints of Calendly's release note of
  2026-11-06, which came after both files (its `info.description` names its sources).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import yaml
from jsonschema.exceptions import ValidationError, best_match
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_schema_validator import OAS30Validator, OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.datastructures import Headers, ImmutableMultiDict

HERE = Path(__file__).parent
FILES = {"2023": "openapi.yaml", "2026": "openapi-2026.json", "shares": "shares-2026-11-06.yaml"}
JSON = dict[str, Any]

# What Calendly answers for these statuses on every endpoint: the 2023 file's shared
# `components/responses` (INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND).
GENERIC_ERRORS = {
    "400": ("Invalid Argument", "The supplied parameters are invalid."),
    "401": ("Unauthenticated", "The access token is invalid"),
    "403": ("Permission Denied", "You do not have permission to access this resource."),
    "404": ("Resource Not Found", "The server could not find the requested resource."),
}
# The texts of the two answers the export copied into other statuses.
COPIED_ERRORS = {"Internal Server Error": "500", "Resource Not Found": "404"}


@cache
def raw(name: str) -> JSON:
    path = HERE / FILES[name]
    with path.open() as handle:
        spec: JSON = json.load(handle) if path.suffix == ".json" else yaml.safe_load(handle)
    return repair_2026(spec) if name == "2026" else spec


@cache
def openapi(name: str) -> OpenAPI:
    """The file as openapi-core reads it (its loader also checks the file is valid OpenAPI)."""
    return OpenAPI.from_dict(raw(name))


def operation(name: str, method: str, template: str) -> JSON | None:
    found = raw(name)["paths"].get(template, {}).get(method.lower())
    return found if isinstance(found, dict) else None


def describing(method: str, template: str) -> tuple[str, ...]:
    """The names of the files that describe this operation."""
    return tuple(name for name in FILES if operation(name, method, template))


def validate_schema(name: str, component: str, instance: object) -> None:
    """Check `instance` against `#/components/schemas/<component>` of a file."""
    spec = raw(name)
    validator = OAS31Validator if spec["openapi"].startswith("3.1") else OAS30Validator
    uri = f"urn:calendly-openapi:{name}"
    registry: Registry[Any] = Registry().with_resource(
        uri, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    schema = {"$ref": f"{uri}#/components/schemas/{component}"}
    checker = validator(schema, registry=registry, format_checker=validator.FORMAT_CHECKER)
    error = best_match(checker.iter_errors(instance))
    if error is not None:
        raise ValidationError(f"{name} {component}: {error.message} at {list(error.path)}")


@dataclass(frozen=True)
class SpecRequest:
    """An httpx request as openapi-core reads it. The host is always Calendly's: the sandbox
    serves the same paths on its own address (client tests check the real host themselves)."""

    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters
    host_url: str = "https://api.calendly.com"


@dataclass(frozen=True)
class SpecResponse:
    status_code: int
    data: bytes | None
    content_type: str
    headers: Headers


def request_of(request: httpx.Request) -> SpecRequest:
    return SpecRequest(
        path=request.url.path,
        method=request.method.lower(),
        body=request.content or None,
        content_type=request.headers.get("content-type", ""),
        parameters=RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(list(request.headers.items())),
        ),
    )


def response_of(answer: httpx.Response) -> SpecResponse:
    return SpecResponse(
        answer.status_code,
        answer.content,
        answer.headers.get("content-type", "application/json").split(";")[0],
        Headers(list(answer.headers.items())),
    )


def validate_request(name: str, request: httpx.Request) -> None:
    openapi(name).validate_request(request_of(request))


def validate_answer(name: str, answer: httpx.Response) -> None:
    """Check an answer against what the file says its request's operation answers."""
    openapi(name).validate_response(request_of(answer.request), response_of(answer))


# -- the 2026 export's known defects ------------------------------------------------------------


def repair_2026(spec: JSON) -> JSON:
    for op in operations(spec):
        restore_error_texts(spec, op)
        drop_bodies_of_204(op)
    accept_integer_max_event_count(spec)
    return spec


def restore_error_texts(spec: JSON, op: JSON) -> None:
    """The export (generated with Fern) gives each operation ONE title schema and ONE message
    schema, taken from its 500 answer (for five operations, its 404), and every plain error
    answer of the operation points at them: a 401 may then only be titled "Internal Server
    Error" and a 400 only "Resource Not Found". The reference pages built from it carry the
    same artefact (https://developer.calendly.com/api-docs/calendly-api/shares/delete-share
    lists a 400 titled "Internal Server Error"). Calendly's 2023 file, where each status has its
    own schema, gives the texts its API answers on every endpoint; those are restored here.
    Statuses it has no generic answer for (409, 429) keep any string, the shape every Calendly
    error has."""
    schemas = spec["components"]["schemas"]
    for status, response in op["responses"].items():
        if not status.startswith("4"):
            continue
        for error in error_objects(schemas, response):
            title = resolve(schemas, error["properties"]["title"]).get("enum", [])
            if len(title) != 1 or COPIED_ERRORS.get(title[0], status) == status:
                continue
            error["properties"]["title"], error["properties"]["message"] = error_texts(status)


def drop_bodies_of_204(op: JSON) -> None:
    """The export gives six DELETEs a JSON body with their 204 No Content; HTTP forbids a body
    in a 204 (RFC 9110 §15.3.5), and Calendly sends none."""
    answer = op["responses"].get("204")
    if answer is not None:
        answer.pop("content", None)


def accept_integer_max_event_count(spec: JSON) -> None:
    """The export types POST /scheduling_links' `max_event_count` as the string "1", where the
    2023 file and Calendly's own examples send the integer 1 (the only value allowed)."""
    name = "SchedulingLinksPostRequestBodyContentApplicationJsonSchemaMaxEventCount"
    spec["components"]["schemas"][name] = {"type": "integer", "enum": [1]}


def operations(spec: JSON) -> Iterator[JSON]:
    for item in spec["paths"].values():
        yield from (op for op in item.values() if isinstance(op, dict) and "responses" in op)


def error_objects(schemas: JSON, response: JSON) -> Iterator[JSON]:
    media = response.get("content", {}).get("application/json", {})
    body = resolve(schemas, media.get("schema", {}))
    for variant in body.get("oneOf", [body]):
        error = resolve(schemas, variant)
        if "title" in error.get("properties", {}):
            yield error


def resolve(schemas: JSON, schema: JSON) -> JSON:
    while "$ref" in schema:
        schema = schemas[schema["$ref"].removeprefix("#/components/schemas/")]
    return schema


def error_texts(status: str) -> tuple[JSON, JSON]:
    if status not in GENERIC_ERRORS:
        return {"type": "string"}, {"type": "string"}
    title, message = GENERIC_ERRORS[status]
    return {"type": "string", "enum": [title]}, {"type": "string", "enum": [message]}
