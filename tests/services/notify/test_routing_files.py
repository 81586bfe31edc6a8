"""Routing files: a good one is read as written; one that cannot be trusted is refused."""

from pathlib import Path

import pytest

from services.notify.domain import (
    PERSON,
    PROVIDER,
    AgencyKind,
    Level,
    Recipient,
    Route,
    RoutingError,
    load_routes,
)

GOOD = """
[[route]]
id = "received-commune"
event = "case.received"
when = { child = true, reception_form = ["bilateral_handover", "rescued"] }
recipients = ["commune_police@nearest", "provider", "person", "womens_union"]
summary = "A route"
"""


def routes_from(tmp_path: Path, text: str) -> list[Route]:
    path = tmp_path / "routes.toml"
    path.write_text(text, encoding="utf-8")
    return load_routes(path)


def test_a_good_routing_file_is_read_as_written(tmp_path: Path) -> None:
    (read,) = routes_from(tmp_path, GOOD)
    assert read == Route(
        "received-commune", "case.received",
        ((Recipient(AgencyKind.COMMUNE_POLICE, Level.NEAREST),), (Recipient(PROVIDER),),
         (Recipient(PERSON),), (Recipient(AgencyKind.WOMENS_UNION, Level.NEAREST),)),
        {"child": True, "reception_form": ["bilateral_handover", "rescued"]},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param('"commune_police@nearest"', '"police@nearest"', id="unknown agency kind"),
        pytest.param('"commune_police@nearest"', '"commune_police@district"', id="unknown level"),
        pytest.param('"provider"', '"provider@commune"', id="a provider at a level"),
        pytest.param('"person"', '"the_person"', id="unknown recipient"),
        pytest.param('recipients = [', 'recipients = [] #', id="no recipients"),
        pytest.param('"case.received"', '"Case.Received"', id="event in capitals"),
        pytest.param('"case.received"', '"case"', id="event without a dot"),
        pytest.param('"case.received"', '"case..received"', id="event with an empty part"),
        pytest.param('"case.received"', '"case.received "', id="event with a space"),
        pytest.param('"received-commune"', '"Received Commune"', id="bad id"),
        pytest.param('summary =', 'priority = 1\nsummary =', id="unknown key in a route"),
        pytest.param('recipients =', 'recipient = ["provider"]\nrecipients =', id="misspelt key"),
        pytest.param("child = true", "child = 1.5", id="a condition of the wrong type"),
        pytest.param('id = "received-commune"', "", id="no id"),
        pytest.param('event = "case.received"', 'event = "case.received"\nevent = "x.y"',
                     id="not toml"),
        pytest.param("[[route]]", "[[route]]\n[[route]]", id="an empty route"),
        pytest.param("[[route]]", "[[routes]]", id="unknown table"),
        pytest.param("[[route]]", 'version = 2\n[[route]]', id="unknown top-level key"),
    ],
)  # fmt: skip
def test_a_routing_file_that_cannot_be_trusted_is_refused(
    tmp_path: Path, old: str, new: str
) -> None:
    assert old in GOOD
    with pytest.raises(RoutingError):
        routes_from(tmp_path, GOOD.replace(old, new, 1))


def test_route_ids_may_not_repeat(tmp_path: Path) -> None:
    other = GOOD.replace('"case.received"', '"case.identified"')
    with pytest.raises(RoutingError, match="repeat"):
        routes_from(tmp_path, GOOD + other)
    assert len(routes_from(tmp_path, GOOD + other.replace('id = "received', 'id = "other'))) == 2
