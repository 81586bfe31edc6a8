"""The AsyncAPI contract: what is committed under docs/ is what the code generates, the
official AsyncAPI parser accepts it, and it says what a consumer needs — every message with
its CloudEvents attributes and payload, code lists as enums, the submissions agency systems
send, servers with their security."""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from safereturn.contract import CODES, EVERY_EVENT, document
from services.intake.reports.contract import CHANNEL as SUBMISSIONS
from shared import VERSION
from shared.events import REGISTRY
from shared.names import Stream

ROOT = Path(__file__).parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.json"
PARSER = ROOT / "tests" / "contracts" / "asyncapi"


def generated() -> str:
    return json.dumps(document(VERSION), indent=2, ensure_ascii=False) + "\n"


def test_the_committed_contract_is_current() -> None:
    if os.environ.get("SAFERETURN_UPDATE_SNAPSHOTS") == "1":
        COMMITTED.write_text(generated())
    assert COMMITTED.read_text() == generated(), "regenerate: SAFERETURN_UPDATE_SNAPSHOTS=1"


def parse(path: Path) -> dict[str, Any]:
    node = shutil.which("node")
    installed = (PARSER / "node_modules" / "@asyncapi" / "parser").is_dir()
    assert node is not None, "Node.js is installed by `make asyncapi-parser` (part of make test)"
    assert installed, "the official AsyncAPI parser is installed by `make asyncapi-parser`"
    done = subprocess.run([node, str(PARSER / "validate.mjs"), str(path)], capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_official_parser_accepts_the_committed_contract() -> None:
    result = parse(COMMITTED)
    errors = [d for d in result["diagnostics"] if d["severity"] == 0]
    assert not errors, errors
    assert result["valid"]


def test_the_official_parser_finds_what_it_should(tmp_path: Path) -> None:
    """The check can fail: a reference nothing defines is an error (as pydantic's nested
    ``$defs`` were before they were moved to ``components/schemas``)."""
    broken = document(VERSION)
    payload = broken["components"]["messages"]["case_received"]["payload"]
    payload["properties"]["consent"] = {"$ref": "#/$defs/Consent"}
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    result = parse(tmp_path / "broken.json")
    assert not result["valid"]
    assert {d["code"] for d in result["diagnostics"] if d["severity"] == 0} == {"invalid-ref"}


def test_every_event_is_a_message_on_its_stream_with_its_attributes() -> None:
    contract = document(VERSION)
    for model in REGISTRY:
        name = model.event_type.replace(".", "_")
        message = contract["components"]["messages"][name]
        assert set(message["payload"]["properties"]) == set(model.model_json_schema()["properties"])
        assert message["headers"]["properties"]["type"] == {"const": model.event_type}
        assert {"id", "source", "specversion", "time"} <= set(message["headers"]["required"])
        assert "$defs" not in json.dumps(message)
    channels = {channel["address"]: channel for channel in contract["channels"].values()}
    assert set(channels[Stream.PLATFORM]["messages"]) == {
        "platform_probe_requested", "platform_probe_answered"
    }  # fmt: skip
    assert set(channels[Stream.SUBMISSIONS_REJECTED]["messages"]) == {"submission_rejected"}


def test_agency_systems_find_the_submissions_they_send() -> None:
    contract = document(VERSION)
    channel = contract["channels"][SUBMISSIONS]
    assert channel["address"] == Stream.SUBMISSIONS
    assert set(channel["messages"]) == {"report_submitted", "activity_submitted"}
    assert contract["operations"][f"send_{SUBMISSIONS}"]["action"] == "send"
    report = contract["components"]["messages"]["report_submitted"]
    assert "authorization" in report["headers"]["required"]
    assert report["payload"]["x-plaintext"] == {"$ref": "#/components/schemas/ReportIn"}
    assert "consent" in contract["components"]["schemas"]["ReportIn"]["properties"]


def test_the_server_says_how_to_authenticate() -> None:
    contract = document(VERSION)
    (server,) = contract["servers"].values()
    assert server["protocol"] == "redis"
    (scheme,) = [contract["components"]["securitySchemes"][ref["$ref"].rsplit("/", 1)[1]]
                 for ref in server["security"]]  # fmt: skip
    assert scheme["type"] == "userPassword"


def _enum_at(contract: dict[str, Any], schema: dict[str, Any], path: list[str]) -> set[str]:
    name, *rest = path
    node = schema["properties"][name.removesuffix("[]")]
    node = next((a for a in node.get("anyOf", [node]) if a.get("type") != "null"), node)
    node = node["items"] if name.endswith("[]") else node
    if "$ref" in node:
        node = contract["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return _enum_at(contract, node, rest) if rest else set(node["enum"])


@pytest.mark.parametrize("event_type", sorted(CODES))
def test_coded_fields_carry_their_code_lists(event_type: str) -> None:
    contract = document(VERSION)
    payload = contract["components"]["messages"][event_type.replace(".", "_")]["payload"]
    for path, codes in (CODES[event_type] | EVERY_EVENT).items():
        if path.split(".")[0].removesuffix("[]") in payload["properties"]:
            assert _enum_at(contract, payload, path.split(".")) == {str(c) for c in codes}, path
