"""Each service's OpenAPI document validates (openapi-spec-validator, OpenAPI 3.1) and says what
the wire does: every 4xx an RFC 9457 problem with its real schema, 422 with ``errors[]``; the
OAuth2 client-credentials scheme; on every route behind a token, the roles that may call it
and its 401, 403 and 429 — and none of that on the routes anyone may call."""

import importlib
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from shared.names import Service

OPEN = {("/health", "get"), ("/ready", "get"), ("/metrics", "get"), ("/oauth/token", "post"),
        ("/.well-known/jwks.json", "get"), ("/dashboard", "get")}  # fmt: skip
"""What anyone may call: probes, metrics, the token endpoint, intake's keys, stats' dashboard."""


def described(service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("SAFERETURN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SAFERETURN_EMBEDDED", "true")
    settings = getattr(importlib.import_module(f"services.{service}.settings"),
                       f"{service.title()}Settings")  # fmt: skip
    app = importlib.import_module(f"services.{service}.app").create_app(settings())
    document: dict[str, Any] = app.openapi()
    return document


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, operation) for path, item in document["paths"].items()
            for method, operation in item.items()]  # fmt: skip


@pytest.mark.parametrize("service", list(Service))
def test_the_document_validates_and_describes_the_wire(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = described(service, tmp_path, monkeypatch)
    validate(document)  # raises with the place at fault
    text = str(document)
    assert "HTTPValidationError" not in text, "FastAPI's 422 body is not what the wire carries"
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status"} <= set(problem["required"])
    assert problem["properties"]["errors"]["items"]["required"] == ["field", "message", "code"]
    flows = document["components"]["securitySchemes"]["oauth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"].endswith("/oauth/token")
    guarded = 0
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                schema = response["content"]["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}, (path, status)
        if (path, method) in OPEN:
            assert "security" not in operation, path
            continue
        guarded += 1
        assert operation["security"][0]["oauth2"], (path, method)  # the roles that may call
        assert {"401", "403", "429"} <= set(operation["responses"]), (path, method)
    assert guarded, "every service has routes behind a token"


def test_a_422_is_documented_as_the_problem_with_its_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = described(Service.INTAKE, tmp_path, monkeypatch)
    responses = document["paths"]["/v1/reports"]["post"]["responses"]
    assert "errors[]" in responses["422"]["description"]
    assert document["paths"]["/v1/reports"]["post"]["security"] == [{"oauth2": ["reporter"]}]
