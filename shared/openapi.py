"""A service's OpenAPI document as its wire is: every 4xx an RFC 9457 problem
(``application/problem+json``, ``shared.http``) with its real schema — a 422 with ``errors[]``
naming each field —, the OAuth2 client-credentials scheme intake issues tokens by, and on every
route behind a token the roles that may call it and its 401, 403 and 429."""

from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from shared.access import Matrix, Role
from shared.http import PROBLEM_JSON
from shared.names import Service
from shared.runtime import ServiceSpec

SCHEME = "oauth2"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a route, not a secret

PROBLEM = {
    "title": "Problem",
    "description": "RFC 9457 problem details. Never echoes a submitted value.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "urn:safereturn:problem:<kind>, or about:blank"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "422: each invalid field",
            "items": {
                "type": "object",
                "required": ["field", "message", "code"],
                "properties": {
                    "field": {"type": "string", "description": "dotted path, e.g. person.sex"},
                    "message": {"type": "string"},
                    "code": {"type": "string", "description": "e.g. missing, enum"},
                },
            },
        },
        "retry_after_s": {"type": "number", "description": "429: seconds before trying again"},
    },
    "additionalProperties": True,
}

GUARDED = {
    "401": "No valid token (missing, expired, revoked or not signed by intake)",
    "403": "The token's role may not call this, or the case is outside its area",
    "429": "Too many requests from this client: wait as Retry-After says",
}


def document(
    app: FastAPI, service: str, token_url: str, public: set[tuple[str, str]]
) -> dict[str, Any]:
    """The app's OpenAPI 3.1 document, as the wire is; ``public``: the (path, method) pairs
    anyone may call, every other route being behind a token."""
    spec = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for fastapi_own in ("HTTPValidationError", "ValidationError"):
        schemas.pop(fastapi_own, None)
    schemas["Problem"] = PROBLEM
    components["securitySchemes"] = {SCHEME: {
        "type": "oauth2",
        "description": "A client's id and secret, issued by an administrator "
                       "(`safereturn clients create`), exchanged at intake for a bearer token; "
                       "the scopes are the client's role.",
        "flows": {"clientCredentials": {"tokenUrl": token_url, "scopes": {
            str(role): f"the {role} role" for role in Role}}},
    }}  # fmt: skip
    matrix = Matrix.load(list(Service))
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            rule = matrix.rule(service, method.upper(), path)
            guarded = (path, method) not in public
            _describe(operation, rule.roles if rule else None, guarded)
    return spec


def _describe(operation: dict[str, Any], roles: Iterable[str] | None, guarded: bool) -> None:
    """Security and the guard's answers on a guarded operation; every 4xx a problem."""
    responses = operation.setdefault("responses", {})
    if guarded:
        operation["security"] = [{SCHEME: sorted(roles or ())}]
        for status, description in GUARDED.items():
            responses.setdefault(status, {"description": description})
    for status, response in responses.items():
        if status.startswith("4"):
            response["content"] = {PROBLEM_JSON: {"schema": {
                "$ref": "#/components/schemas/Problem"}}}  # fmt: skip
            if status == "422":
                response["description"] = "Invalid fields: each one in errors[]"


def install(app: FastAPI, spec: ServiceSpec, public: Iterable[APIRouter]) -> None:
    """Serve ``document`` as the app's OpenAPI (made once, when first asked for); ``public``:
    the routers included without a token. Clients get tokens at intake: its own path there,
    beside intake's JWKS elsewhere."""
    service = spec.settings.service_name
    open_routes = {(route.path, method.lower()) for router in public for route in router.routes
                   if isinstance(route, APIRoute) for method in route.methods or ()}  # fmt: skip

    def described() -> dict[str, Any]:
        if app.openapi_schema is None:
            url = TOKEN_PATH if service == Service.INTAKE else urljoin(
                spec.settings.signing_keys_url, TOKEN_PATH)  # fmt: skip
            app.openapi_schema = document(app, service, url, open_routes)
        return app.openapi_schema

    app.openapi = described  # type: ignore[method-assign]
