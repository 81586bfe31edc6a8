"""An independent recount: the deduplicated events replayed in arrival order into plain dicts,
and the form counted from them row by row, by the documented rules (the latest decision on a
person chosen by its own date and revision; what was done for a duplicate counted for the
case it was merged into)."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from services.stats.domain import DESTINATIONS, FORMS, KEYS, SUPPORT_ROWS, Period
from tests.services.stats.deliveries import LOAN, PROVINCE, Sent


@dataclass
class Recount:
    """The deduplicated events replayed into plain dicts."""

    persons: dict[str, dict[str, Any]] = field(default_factory=dict)
    merges: dict[str, str] = field(default_factory=dict)  # case → the case it was merged into
    decisions: list[dict[str, Any]] = field(default_factory=list)
    orders: dict[str, tuple[str, date, int]] = field(default_factory=dict)
    activities: dict[str, dict[str, Any]] = field(default_factory=dict)
    grants: dict[str, dict[str, Any]] = field(default_factory=dict)
    loans: dict[str, tuple[str, date]] = field(default_factory=dict)
    shelters: dict[str, tuple[str, date]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, kind: str, data: dict[str, Any], time: datetime, event_id: str) -> None:
        day = {key: date.fromisoformat(value) for key, value in data.items()
               if key.endswith("_on") and isinstance(value, str)}  # fmt: skip
        if kind == "case.received":
            self.persons[data["case_id"]] = {
                "received_on": day["received_on"], "sex": data["sex"], "age": data["age"],
                "ethnicity": data["ethnicity"], "nationality": data["nationality"],
                "scope": data["trafficking_scope"], "destination": data["destination_country"],
                "form": data["reception_form"], "consent": data["consent"]["statistics"],
            }  # fmt: skip
        elif kind == "case.merged":  # a report merged at intake was never received
            self.merges[data["case_id"]] = data["into"]
        elif kind in ("case.identified", "case.identification_amended", "case.not_identified"):
            revision = data.get("revision")
            corrections = data.get("corrections") or {}
            self.decisions.append({
                "case": data["case_id"],
                "order": (day["decided_on"], -1 if revision is None else revision, time,
                          event_id),
                "victim": kind == "case.identified" or data.get("outcome") == "victim",
                "scope": corrections.get("scope"),
                "destination": corrections.get("destination_country"),
            })  # fmt: skip
        elif kind == "protection.ordered":
            persons = sum(p["count"] for p in data["protected"])
            self.orders[data["order_id"]] = (data["case_id"], day["starts_on"], persons)
        elif kind == "activity.reported":
            self.activities[data["activity_id"]] = data | {"held_on": day["held_on"]}
        elif kind == "support.granted":
            self.grants[data["grant_id"]] = {"case": data["case_id"], "kind": data["kind"],
                                             "on": day["granted_on"],
                                             "effective": data["status"] == "approved"}  # fmt: skip
        elif kind in ("support.approved", "support.rejected"):
            self.grants[data["grant_id"]]["effective"] = kind == "support.approved"
        elif kind == "support.referred" and data["service"] in (LOAN, "shelter"):
            referrals = self.loans if data["service"] == LOAN else self.shelters
            referrals[data["referral_id"]] = (data["case_id"], day["referred_on"])
        elif kind == "support.disbursed":
            self.payments[data["disbursement_id"]] = data | {"paid_on": day["paid_on"]}

    def kept(self, case: str) -> str:
        """What was done for a duplicate counts for the case it was merged into, in the end."""
        while case in self.merges:
            case = self.merges[case]
        return case

    def decided(self, case: str, person: dict[str, Any]) -> dict[str, Any]:
        """The latest decision on the person (on any case merged into theirs) by its date,
        revision, time and id; each correction until a later one."""
        made = sorted((d for d in self.decisions if self.kept(d["case"]) == case),
                      key=lambda d: d["order"])  # fmt: skip
        person = person | {"victim_since": None}
        for decision in made:
            person["victim_since"] = decision["order"][0] if decision["victim"] else None
            person["scope"] = decision["scope"] or person["scope"]
            person["destination"] = decision["destination"] or person["destination"]
        return person


def recount_of(events: Iterable[Sent]) -> Recount:
    recount, seen = Recount(), set()
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            recount.apply(event.type, event.data, event.time, event.event_id)
    return recount


def count_form(chosen: Period, recount: Recount) -> dict[str, int]:
    """The documented counting rules, row by row, from the recount."""

    def inside(day: date | None) -> bool:
        return day is not None and chosen.start <= day <= chosen.end

    kept = recount.kept
    rows = dict.fromkeys(KEYS, 0)
    people = {case: recount.decided(case, p) for case, p in recount.persons.items()
              if case not in recount.merges}  # fmt: skip
    victims = [p for p in people.values() if inside(p["victim_since"])]
    rows["I.1"] = sum(inside(p["received_on"]) for p in people.values())
    rows["I.2"] = len(victims)
    rows |= described_rows([p for p in victims if p["consent"]])
    rows["I.3"] = sum(n for case, on, n in recount.orders.values()
                      if kept(case) in people and inside(on))  # fmt: skip
    for a in recount.activities.values():
        if a["province"] == PROVINCE and inside(a["held_on"]):
            add_activity(rows, a)
    # II.4.1 counts every person helped; the rows below it only those who consented.
    helped = [(kept(g["case"]), g["kind"]) for g in recount.grants.values()
              if g["effective"] and kept(g["case"]) in people and inside(g["on"])]  # fmt: skip
    helped += [(kept(case), "loan") for case, on in recount.loans.values()
               if kept(case) in people and inside(on)]  # fmt: skip
    rows["II.4.1"] = len({case for case, _ in helped})
    helped = [(case, kind) for case, kind in helped if people[case]["consent"]]
    for row, kinds in SUPPORT_ROWS.items():
        rows[row] = len({case for case, kind in helped if kind in kinds})
    rows["II.4.4.loan"] = len({case for case, kind in helped if kind == "loan"})
    # 4.3: who needed a shelter, referred to one or given shelter meals; not support in II.4.1
    needed = {kept(case) for case, on in recount.shelters.values() if inside(on)}
    needed = {case for case in needed if case in people and people[case]["consent"]}
    rows["II.4.3"] = len(needed | {case for case, kind in helped if kind == "shelter_meals"})
    for paid in recount.payments.values():
        if paid["province"] == PROVINCE and inside(paid["paid_on"]):
            rows["II.4.5.vnd"] += paid["amount"]
            rows[f"II.4.5.vnd.{paid['kind']}"] += paid["amount"]
            donor = paid["funding_source"].startswith("donor")
            rows["II.4.5.vnd.donor" if donor else "II.4.5.vnd.state_budget"] += paid["amount"]
    return rows


def described_rows(described: list[dict[str, Any]]) -> dict[str, int]:
    """The I.2 breakdowns of the victims who consented to statistics."""

    def number(**wanted: Any) -> int:
        """How many have every value wanted (a callable: a test of the value)."""

        def fits(value: Any, want: Any) -> bool:
            return bool(want(value)) if callable(want) else value == want

        return len([p for p in described if all(fits(p[k], w) for k, w in wanted.items())])

    def under(years: int) -> Callable[[int | None], bool]:
        return lambda age: age is not None and age < years

    rows = {}
    for sex in ("male", "female"):
        rows[f"I.2.a.{sex}"] = number(sex=sex)
        rows[f"I.2.a.{sex}.under18"] = number(sex=sex, age=under(18))
        rows[f"I.2.a.{sex}.under16"] = number(sex=sex, age=under(16))
    rows["I.2.b.kinh"] = number(ethnicity="01")
    rows["I.2.b.other"] = number(ethnicity=lambda e: e not in (None, "01"))
    rows["I.2.c.foreign"] = number(nationality=lambda n: n not in (None, "VN"))
    rows["I.2.d.domestic"] = number(scope="domestic")
    rows["I.2.d.abroad"] = number(scope="abroad")
    for country in DESTINATIONS:
        rows[f"I.2.d.abroad.{country}"] = number(scope="abroad", destination=country)
    rows["I.2.d.abroad.other"] = number(scope="abroad", destination=lambda d: d not in DESTINATIONS)
    for reception_form in FORMS:
        rows[f"I.2.e.{reception_form}"] = number(form=reception_form)
    return rows


def add_activity(rows: dict[str, int], a: dict[str, Any]) -> None:
    if a["kind"] == "directive_document":
        rows["II.1"] += a["sessions"] or 1  # a document reported with no count is one
    elif a["kind"] == "training":
        rows["II.3.trainings"] += a["sessions"]
        rows["II.3.participants"] += a["participants"]
    else:  # communication sessions and materials
        rows["II.2.sessions"] += a["sessions"]
        rows["II.2.participants"] += a["participants"]
    for item in ("panels", "posters", "leaflets"):
        rows[f"II.2.{item}"] += a[item]
