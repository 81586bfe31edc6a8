"""Stats' rules. Pure: the official statistics form ("BIỂU SỐ LIỆU") from the projected facts,
for any period and area; periods by name; small-cell suppression for public aggregates.

Counting rules (documented in the README):
- A period counts facts by their business date: reception for I.1, identification for I.2,
  the protection order's start for I.3, the activity's date for II.1 to II.3, the grant's date
  for II.4 (amounts: the payment's date).
- A merged duplicate is not counted; the case it was merged into is, with what was done for
  the duplicate (its identification decisions, protection orders in I.3, support in II.4),
  through chains of merges: the person once, as the kept case describes them.
- The latest identification decision counts, latest by its own date, then its revision, then
  its event's time and id (never by arrival): an amendment moves the person to the new
  decision's date, or out of I.2 if no longer a victim. A correction of the scope or the
  destination holds until a later decision corrects it again.
- Age is the age reported at reception (the form asks age at identification; the two differ
  by at most the months verification took).
- A person who refused consent for statistics is counted in the totals the law requires
  (I.1, I.2, I.3, II.4.1) and in no breakdown (I.2.*, II.4.2 onwards). Amounts paid are
  counted whatever the consent: they carry no person and must reconcile with the ledger.
"""

import calendar
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime

DESTINATIONS = ("CN", "LA", "KH", "TH", "MY", "GB", "RU")
FORMS = ("self_returned", "rescued", "bilateral_handover")
SUPPORT_ROWS = {
    "II.4.2": ("clothing", "medicine", "road_meals", "travel_fare"),
    "II.4.3": ("shelter_meals",),
    "II.4.4.medical": ("medical_care", "health_insurance"),
    "II.4.4.psychological": ("psychological_counselling",),
    "II.4.4.legal_aid": ("legal_aid",),
    "II.4.4.education": ("education",),
    "II.4.4.vocational": ("vocational_training",),
    "II.4.4.hardship": ("hardship_allowance",),
}
LOAN_ROW = "II.4.4.loan"  # a referral to the Social Policy Bank
SHELTER_NEEDED = "shelter_needed"  # a referral to a shelter: the need, whether or not met
KINDS = tuple(kind for kinds in SUPPORT_ROWS.values() for kind in kinds)

# (key, Vietnamese label, unit, the official numbering)
ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("I.1", "Tổng số người được tiếp nhận, xác minh", "Người", "1"),
    ("I.2", "Tổng số người được xác định là nạn nhân", "Người", "2"),
    ("I.2.a.male", "Nam", "Người", "a"),
    ("I.2.a.male.under18", "Nam dưới 18 tuổi", "Người", ""),
    ("I.2.a.male.under16", "Nam dưới 16 tuổi", "Người", ""),
    ("I.2.a.female", "Nữ", "Người", ""),
    ("I.2.a.female.under18", "Nữ dưới 18 tuổi", "Người", ""),
    ("I.2.a.female.under16", "Nữ dưới 16 tuổi", "Người", ""),
    ("I.2.b.kinh", "Dân tộc Kinh", "Người", "b"),
    ("I.2.b.other", "Dân tộc khác", "Người", ""),
    ("I.2.c.foreign", "Người nước ngoài", "Người", "c"),
    ("I.2.d.domestic", "Bị mua bán trong nước", "Người", "d"),
    ("I.2.d.abroad", "Bị mua bán ra nước ngoài", "Người", ""),
    ("I.2.d.abroad.CN", "Trung Quốc", "Người", ""),
    ("I.2.d.abroad.LA", "Lào", "Người", ""),
    ("I.2.d.abroad.KH", "Campuchia", "Người", ""),
    ("I.2.d.abroad.TH", "Thái Lan", "Người", ""),
    ("I.2.d.abroad.MY", "Malaysia", "Người", ""),
    ("I.2.d.abroad.GB", "Anh", "Người", ""),
    ("I.2.d.abroad.RU", "Nga", "Người", ""),
    ("I.2.d.abroad.other", "Các nước khác", "Người", ""),
    ("I.2.e.self_returned", "Tự trở về", "Người", "e"),
    ("I.2.e.rescued", "Được giải cứu", "Người", ""),
    ("I.2.e.bilateral_handover", "Trao trả song phương", "Người", ""),
    ("I.3", "Số nạn nhân, người thân thích của họ được bảo vệ theo quy định của pháp luật",
     "Người", "3"),
    ("II.1", "Văn bản chỉ đạo, điều hành", "Văn bản", "1"),
    ("II.2.sessions", "Số buổi truyền thông về mua bán người", "Buổi", "2"),
    ("II.2.participants", "Số người tham gia các buổi truyền thông", "Lượt người", ""),
    ("II.2.panels", "Số pano về mua bán người", "Pano", ""),
    ("II.2.posters", "Số áp phích về mua bán người", "Áp phích", ""),
    ("II.2.leaflets", "Số tờ rơi về mua bán người", "Tờ rơi", ""),
    ("II.3.trainings", "Số cuộc tập huấn", "Cuộc", "3"),
    ("II.3.participants", "Số người được tập huấn", "Lượt người", ""),
    ("II.4.1", "Tổng số nạn nhân được hỗ trợ", "Người", "4.1"),
    ("II.4.2", "Số người được hỗ trợ nhu cầu thiết yếu và chi phí đi lại", "Người", "4.2"),
    ("II.4.3", "Số nạn nhân có nhu cầu vào lưu trú tạm thời tại cơ sở trợ giúp xã hội/cơ sở hỗ "
     "trợ nạn nhân", "Người", "4.3"),
    ("II.4.4.medical", "Số người được hỗ trợ y tế", "Người", ""),
    ("II.4.4.psychological", "Số người được hỗ trợ tâm lý", "Người", ""),
    ("II.4.4.legal_aid", "Số người được trợ giúp pháp lý", "Người", ""),
    ("II.4.4.education", "Số người được hỗ trợ học văn hóa", "Người", ""),
    ("II.4.4.vocational", "Số người được hỗ trợ học nghề", "Người", ""),
    ("II.4.4.hardship", "Số người được trợ cấp khó khăn ban đầu", "Người", ""),
    ("II.4.4.loan", "Số người được giới thiệu vay vốn Ngân hàng Chính sách xã hội", "Người", ""),
    ("II.4.5.vnd", "Tổng số tiền đã chi hỗ trợ", "Đồng", ""),
    *((f"II.4.5.vnd.{kind}", f"Số tiền chi: {kind}", "Đồng", "") for kind in KINDS),
    ("II.4.5.vnd.state_budget", "Từ ngân sách nhà nước", "Đồng", ""),
    ("II.4.5.vnd.donor", "Từ nhà tài trợ", "Đồng", ""),
)  # fmt: skip
KEYS = tuple(key for key, *_ in ROWS)
# The official form ends at 4.3: the rows after it are the platform's own, and every export
# says so rather than number them as if the form had them.
ADDITIONS = tuple(key for key in KEYS if key.startswith(("II.4.4", "II.4.5")))
ADDITIONS_TITLE = "Chỉ tiêu bổ sung của SafeReturn (không có trong biểu số liệu chính thức)"


@dataclass(frozen=True, slots=True)
class Person:
    """A case as the form sees it (coded facts only)."""

    case_id: str
    received_on: date
    province: str
    ward: str | None
    sex: str
    age: int | None
    ethnicity: str | None
    nationality: str | None
    scope: str
    destination: str | None
    reception_form: str
    consent_statistics: bool
    merged: bool = False
    identified_on: date | None = None
    purposes: tuple[str, ...] = ()  # purposes of exploitation (the HTCDS export reads them)


@dataclass(frozen=True, slots=True)
class Decision:
    """An identification decision (first or amended) as it was made."""

    case_id: str
    decided_on: date
    revision: int | None  # 1 for the first decision, +1 per amendment; None on old events
    at: datetime  # the event's time
    event_id: str
    victim: bool
    scope: str | None = None  # corrections, if the decision made any
    destination: str | None = None

    @property
    def order(self) -> tuple[date, int, datetime, str]:
        """Later decisions sort after earlier ones, however they arrived."""
        return (self.decided_on, -1 if self.revision is None else self.revision, self.at,
                self.event_id)  # fmt: skip


def decided(person: Person, decisions: Iterable[Decision]) -> Person:
    """The person as the latest decision leaves them: identified on its date if a victim, and
    the scope and destination of the latest decision that corrected each."""
    ordered = sorted(decisions, key=lambda d: d.order)
    if not ordered:
        return person
    latest = ordered[-1]
    scope = next((d.scope for d in reversed(ordered) if d.scope), person.scope)
    where = next((d.destination for d in reversed(ordered) if d.destination), person.destination)
    return replace(person, identified_on=latest.decided_on if latest.victim else None,
                   scope=scope, destination=where)  # fmt: skip


def as_decided(
    persons: Iterable[Person], decisions: Iterable[Decision], merges: Mapping[str, str]
) -> tuple[Person, ...]:
    """Each person as the latest decision on them leaves them: a merged duplicate is the same
    person, so the decisions made on it count for the case it was merged into."""
    made: dict[str, list[Decision]] = {}
    for decision in decisions:
        made.setdefault(kept(decision.case_id, merges), []).append(decision)
    return tuple(decided(person, made.get(person.case_id, ())) for person in persons)


def kept(case_id: str, merges: Mapping[str, str]) -> str:
    """The case a case counts as: itself, or the end of its chain of merges."""
    seen = {case_id}
    while (into := merges.get(case_id)) is not None and into not in seen:
        seen.add(case_id := into)
    return case_id


def absorbed(case_ids: Iterable[str], merges: Mapping[str, str]) -> set[str]:
    """The cases given and every case whose chain of merges ends in one of them."""
    wanted = set(case_ids)
    return wanted | {case for case in merges if kept(case, merges) in wanted}


@dataclass(frozen=True, slots=True)
class Activity:
    kind: str
    held_on: date
    sessions: int = 0
    participants: int = 0
    panels: int = 0
    posters: int = 0
    leaflets: int = 0
    province: str | None = None  # where it was reported (the open aggregates split by area)
    ward: str | None = None


@dataclass(frozen=True, slots=True)
class Protection:
    case_id: str
    starts_on: date
    persons: int


@dataclass(frozen=True, slots=True)
class Support:
    case_id: str
    kind: str  # a grant's kind, or "loan" for a Social Policy Bank referral
    on: date


@dataclass(frozen=True, slots=True)
class Payment:
    kind: str
    paid_on: date
    amount: int
    funding_source: str
    province: str | None = None  # where it was paid (the open aggregates split by area)
    ward: str | None = None


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    @property
    def name(self) -> str:
        return f"{self.start.isoformat()}/{self.end.isoformat()}"


PERIOD = re.compile(r"(?P<year>[0-9]{4})(-(?P<part>Q[1-4]|H[12]))?")


def named_period(text: str) -> Period:
    """``2026`` (a year), ``2026-H1`` (six months), ``2026-Q3`` (a quarter)."""
    found = PERIOD.fullmatch(text)
    if found is None:
        raise ValueError("a period is YYYY, YYYY-H1|H2 or YYYY-Q1…Q4")
    year, part = int(found["year"]), found["part"]
    first, months = 1, 12
    if part and part[0] == "Q":
        first, months = 3 * (int(part[1]) - 1) + 1, 3
    elif part:
        first, months = 6 * (int(part[1]) - 1) + 1, 6
    last = first + months - 1
    return Period(date(year, first, 1), date(year, last, calendar.monthrange(year, last)[1]))


def person_rows(counts: dict[str, int], person: Person) -> None:
    """The breakdowns of an identified person (only with consent for statistics)."""
    sex = "male" if person.sex == "male" else "female" if person.sex == "female" else None
    if sex:
        counts[f"I.2.a.{sex}"] += 1
        if person.age is not None and person.age < 18:
            counts[f"I.2.a.{sex}.under18"] += 1
        if person.age is not None and person.age < 16:
            counts[f"I.2.a.{sex}.under16"] += 1
    if person.ethnicity:
        counts["I.2.b.kinh" if person.ethnicity == "01" else "I.2.b.other"] += 1
    if person.nationality and person.nationality != "VN":
        counts["I.2.c.foreign"] += 1
    if person.scope == "domestic":
        counts["I.2.d.domestic"] += 1
    elif person.scope == "abroad":
        counts["I.2.d.abroad"] += 1
        where = person.destination if person.destination in DESTINATIONS else "other"
        counts[f"I.2.d.abroad.{where}"] += 1
    if person.reception_form in FORMS:
        counts[f"I.2.e.{person.reception_form}"] += 1


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything projected for an area, as the form reads it."""

    persons: tuple[Person, ...] = ()
    activities: tuple[Activity, ...] = ()
    protections: tuple[Protection, ...] = ()
    supports: tuple[Support, ...] = ()
    payments: tuple[Payment, ...] = ()
    merges: tuple[tuple[str, str], ...] = ()  # (case, into), of any area: chains may cross


def form(period: Period, facts: Facts) -> dict[str, int]:
    """Every row of the form, zeros included, for the facts given (already within the area)."""
    counts = dict.fromkeys(KEYS, 0)
    counted = {p.case_id: p for p in facts.persons if not p.merged}
    merges = dict(facts.merges)
    for person in counted.values():
        if person.received_on in period:
            counts["I.1"] += 1
        if person.identified_on in period:
            counts["I.2"] += 1
            if person.consent_statistics:
                person_rows(counts, person)
    counts["I.3"] = sum(
        p.persons
        for p in facts.protections
        if kept(p.case_id, merges) in counted and p.starts_on in period
    )
    for activity in facts.activities:
        if activity.held_on in period:
            activity_rows(counts, activity)
    supports = (replace(s, case_id=kept(s.case_id, merges)) for s in facts.supports)
    _support_rows(counts, period, counted, supports)
    for payment in facts.payments:
        if payment.paid_on in period:
            payment_rows(counts, payment)
    return counts


def activity_rows(counts: dict[str, int], activity: Activity) -> None:
    if activity.kind == "directive_document":
        counts["II.1"] += max(activity.sessions, 1)
    elif activity.kind == "training":
        counts["II.3.trainings"] += activity.sessions
        counts["II.3.participants"] += activity.participants
    else:
        counts["II.2.sessions"] += activity.sessions
        counts["II.2.participants"] += activity.participants
    for item in ("panels", "posters", "leaflets"):
        counts[f"II.2.{item}"] += getattr(activity, item)


def payment_rows(counts: dict[str, int], payment: Payment) -> None:
    counts["II.4.5.vnd"] += payment.amount
    if f"II.4.5.vnd.{payment.kind}" in counts:
        counts[f"II.4.5.vnd.{payment.kind}"] += payment.amount
    source = "state_budget" if payment.funding_source == "state_budget" else "donor"
    counts[f"II.4.5.vnd.{source}"] += payment.amount


def support_rows(kind: str, *, consenting: bool) -> tuple[str, ...]:
    """The II.4 rows a person helped with ``kind`` counts in: II.4.1 for any support given (a
    shelter referral is a need, not yet support); the breakdowns with consent only. II.4.3
    counts who needed a shelter: referred to one, or given shelter meals while there."""
    rows = [] if kind == SHELTER_NEEDED else ["II.4.1"]
    if consenting:
        rows += [row for row, kinds in SUPPORT_ROWS.items() if kind in kinds and row != "II.4.3"]
        rows += ["II.4.3"] if kind in ("shelter_meals", SHELTER_NEEDED) else []
        rows += [LOAN_ROW] if kind == "loan" else []
    return tuple(rows)


def _support_rows(
    counts: dict[str, int], period: Period, counted: dict[str, Person], supports: Iterable[Support]
) -> None:
    """Persons helped in the period, each once per row however often."""
    helped: dict[str, set[str]] = {}
    for support in supports:
        if support.on in period and (person := counted.get(support.case_id)) is not None:
            for row in support_rows(support.kind, consenting=person.consent_statistics):
                helped.setdefault(row, set()).add(support.case_id)
    for row in ("II.4.1", *SUPPORT_ROWS, LOAN_ROW):
        counts[row] = len(helped.get(row, ()))


# Additive groups: a total and the cells that add up to it (for complementary suppression).
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("I.2.d.abroad", tuple(f"I.2.d.abroad.{c}" for c in (*DESTINATIONS, "other"))),
    ("I.2", ("I.2.a.male", "I.2.a.female")),
    ("I.2", ("I.2.b.kinh", "I.2.b.other")),
    ("I.2", ("I.2.d.domestic", "I.2.d.abroad")),
    ("I.2", tuple(f"I.2.e.{f}" for f in FORMS)),
)
COUNTS_OF_PERSONS = tuple(key for key, _, unit, _ in ROWS if unit == "Người")


def suppress(rows: dict[str, int], k: int) -> dict[str, int | None]:
    """Counts of persons below ``k`` (but above zero) hidden, and within every additive group
    enough other cells hidden that no hidden cell can be worked out from what is shown: never
    a single hidden cell beside a shown total, never a hidden total beside all its cells."""
    shown: dict[str, int | None] = dict(rows)
    hidden = {key for key in COUNTS_OF_PERSONS if 0 < rows[key] < k}
    changed = True
    while changed:
        changed = False
        for total, cells in GROUPS:
            inside = [c for c in cells if c in hidden]
            shown_cells = sorted((c for c in cells if c not in hidden), key=lambda c: rows[c])
            if total in hidden and not inside and shown_cells:
                hidden.add(shown_cells[0])  # else the total is the sum of its cells
                changed = True
            elif total not in hidden and len(inside) == 1:
                others = [c for c in shown_cells if rows[c] > 0]
                hidden.add(others[0] if others else total)  # else total minus the rest
                changed = True
    for key in hidden:
        shown[key] = None
    return shown
