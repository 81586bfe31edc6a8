"""An integrator added with ``safereturn integrators add`` consumes its stream on the running
platform with plain redis-py, following only the committed AsyncAPI document: it gets the
events of its province and types, of cases whose person consented, each valid against the
document's schema, and nothing else — and Redis refuses it anything beyond its stream."""

import json
import re
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import redis as redis_py
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from safereturn.cli import main
from tests.e2e.conftest import Services
from tests.e2e.notify.common import PROVINCE, eventually, new_case
from tests.e2e.test_reports import report

CONTRACT = json.loads((Path(__file__).parents[3] / "docs" / "asyncapi.json").read_text())
ELSEWHERE = {"province": "12", "ward": "03637"}
TYPES = ("case.received", "verification.opened")
REFUSING = report("any")["consent"] | {"information_sharing": False}


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


class Consumer:
    """The document's recipe, step by step, with nothing but a Redis client."""

    def __init__(self, url: str, name: str) -> None:
        redis_part = CONTRACT["channels"]["integrator"]["x-redis"]
        self.stream = redis_part["key"].replace("<name>", name)
        self.group = redis_part["group"].replace("<name>", name)
        self.client = redis_py.Redis.from_url(url, decode_responses=True)
        self.seen: set[tuple[str, str]] = set()
        self.events: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        _, claimed, _ = self.client.xautoclaim(self.stream, self.group, "c1", 60_000, "0-0")
        read = self.client.xreadgroup(self.group, "c1", {self.stream: ">"}, count=100, block=200)
        for entry_id, fields in claimed + [e for _, entries in read for e in entries]:
            key = (fields["source"], fields["id"])
            if key not in self.seen:
                self.seen.add(key)
                self.events.append(fields | {"data": json.loads(fields["data"])})
            self.client.xack(self.stream, self.group, entry_id)
        return self.events

    def close(self) -> None:
        self.client.close()


def valid(event: dict[str, Any]) -> None:
    """The entry against the document: its message's headers and payload schemas."""
    name = "public_" + event["type"].replace(".", "_")
    registry: Registry[Any] = Registry().with_resource(
        "urn:contract", Resource.from_contents(CONTRACT, default_specification=DRAFT7)
    )
    for part, value in (("payload", event["data"]), ("headers", event)):
        schema = {"$ref": f"urn:contract#/components/messages/{name}/{part}"}
        jsonschema.Draft7Validator(schema, registry=registry).validate(
            {k: v for k, v in value.items() if k != "data"} if part == "headers" else value
        )


def test_an_integrator_added_with_the_cli_reads_only_what_it_may_see(
    notify: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    operator = notify.env["SAFERETURN_REDIS_URL"]
    code, printed = cli(capsys, "integrators", "add", "--name", "ngo-dien-bien", "--province",
                        PROVINCE, "--events", ",".join(TYPES), "--redis-url", operator)  # fmt: skip
    assert code == 0, printed
    url = re.search(r"url\s+(\S+)", printed)
    assert url is not None
    password = re.search(r"password\s+(\S+)", printed)
    assert password is not None
    assert cli(capsys, "integrators", "list", "--redis-url", operator)[1].count(password[1]) == 0

    shared = new_case(notify, "s-share")
    refused = new_case(notify, "s-refuse", consent=REFUSING)
    elsewhere = new_case(notify, "s-elsewhere", area=ELSEWHERE)
    consumer = Consumer(url[1], "ngo-dien-bien")
    try:

        def both_types() -> list[dict[str, Any]] | None:
            mine = [e for e in consumer.poll() if e["subject"] == shared]
            return mine if len(mine) >= len(TYPES) else None

        eventually(both_types)
        time.sleep(2)  # time for anything it must not get to arrive
        events = consumer.poll()
        assert sorted(e["type"] for e in events if e["subject"] == shared) == sorted(TYPES)
        assert not [e for e in events if e["subject"] in (refused, elsewhere)]
        assert {e["type"] for e in events} <= set(TYPES)
        assert {e["data"]["province"] for e in events} == {PROVINCE}
        for event in events:
            valid(event)
            assert not {"age", "ethnicity", "nationality", "consent", "agency"} & set(event["data"])
        assert consumer.client.xpending(consumer.stream, consumer.group)["pending"] == 0

        for forbidden in (
            lambda c: c.xrange("safereturn:{cases}"),
            lambda c: c.xreadgroup(consumer.group, "c1", {"safereturn:{cases}": ">"}),
            lambda c: c.xrange("safereturn:{integrator:someone-else}"),
            lambda c: c.xadd(consumer.stream, {"type": "forged"}),
        ):
            with pytest.raises(redis_py.exceptions.NoPermissionError):
                forbidden(consumer.client)
    finally:
        consumer.close()

    code, printed = cli(capsys, "integrators", "list", "--redis-url", operator)
    assert re.search(rf"ngo-dien-bien\s+province {PROVINCE}\s.*unread 0, pending 0", printed)
    assert cli(capsys, "integrators", "revoke", "ngo-dien-bien", "--redis-url", operator)[0] == 0
    gone = redis_py.Redis.from_url(url[1])
    with pytest.raises(redis_py.exceptions.AuthenticationError):
        gone.ping()
    gone.close()
    assert "revoked" in cli(capsys, "integrators", "list", "--revoked", "--redis-url", operator)[1]
