"""What a recipient reads: Vietnamese or English text from the templates, English where a language
or an event has none, the case reference, the area named from its codes and the due date, and
nothing else the event carries."""

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notify.messages import Message, Messages
from shared.areas import area_name

ROOT = Path(__file__).resolve().parents[3]
MESSAGES = Messages(ROOT / "services/notify/templates")
EVENTS = sorted(MESSAGES.texts)
CASE_ID = "c-0193a5b2"
MUONG_PHANG = "Xã Mường Phăng, Tỉnh Điện Biên"


def data(**changes: Any) -> dict[str, Any]:
    return {"case_id": CASE_ID, "province": "11", "ward": "03325"} | changes


def render(
    event: str = "case.received",
    language: str = "vi",
    *,
    person: bool = False,
    name: str = "Công an xã Mường Phăng",
    **changes: Any,
) -> Message:
    return MESSAGES.render(event, data(**changes), language, name, person=person)


def text(message: Message) -> str:
    return f"{message.subject}\n{message.body}"


# --- languages ----------------------------------------------------------------------------------


def test_a_vietnamese_agency_reads_vietnamese() -> None:
    message = render()
    assert message.subject == f"[SafeReturn] Tiếp nhận trường hợp mới — hồ sơ {CASE_ID}"
    assert message.body.startswith("Kính gửi Công an xã Mường Phăng,\n")
    assert "Đề nghị: Tiếp nhận, xác minh và hỗ trợ ban đầu theo quy định" in message.body
    assert message.body.endswith("\n")
    assert not message.body.endswith("\n\n")


def test_an_english_agency_reads_english() -> None:
    message = render(language="en", name="Provincial Police")
    assert message.subject == f"[SafeReturn] A new case was received — case {CASE_ID}"
    assert message.body.startswith("Dear Provincial Police,\n")
    assert "Action: Receive, verify and give initial support as the law sets" in message.body


@pytest.mark.parametrize("event", EVENTS)
def test_every_event_has_its_own_title_in_both_languages(event: str) -> None:
    for language in ("vi", "en"):
        title = MESSAGES.texts[event][language]["title"]
        assert title in render(event, language).subject


@pytest.mark.parametrize("language", ["fr", "km", "", "VI"])
def test_a_language_without_text_falls_back_to_english(language: str) -> None:
    assert render(language=language) == render(language="en")


@pytest.mark.parametrize("language", ["vi", "en", "fr"])
def test_an_event_without_text_gets_an_english_message_naming_it(language: str) -> None:
    message = render("case.closed", language)
    assert message.subject == f"[SafeReturn] case.closed — case {CASE_ID}"
    assert message.body.startswith("Dear Công an xã Mường Phăng,\n")
    assert "Action: See the case in SafeReturn" in message.body


# --- facts in the message -----------------------------------------------------------------------


@pytest.mark.parametrize("language", ["vi", "en"])
def test_the_body_holds_the_case_reference(language: str) -> None:
    assert f": {CASE_ID}\n" in render(language=language).body


def test_the_body_names_the_area_from_its_codes() -> None:
    assert f"Địa bàn: {MUONG_PHANG}\n" in render().body
    assert f"Area: {MUONG_PHANG}\n" in render(language="en").body


@pytest.mark.parametrize(
    ("province", "ward", "name"),
    [
        pytest.param("11", "03325", MUONG_PHANG, id="Muong Phang, Dien Bien"),
        pytest.param("01", None, "Thành phố Hà Nội", id="Hà Nội"),
        pytest.param("99", None, "99", id="an unknown province"),  # shown as its code
        pytest.param("11", "99999", "99999, 11", id="an unknown ward"),
        pytest.param(None, None, "-", id="no area"),
    ],
)
def test_an_area_is_named_ward_first_then_province(
    province: str | None, ward: str | None, name: str
) -> None:
    assert area_name(province, ward) == name


@pytest.mark.parametrize(("language", "line"), [("vi", "Hạn xử lý"), ("en", "Due")])
def test_the_due_date_is_shown_only_when_given(language: str, line: str) -> None:
    assert f"{line}: 2026-01-15\n" in render(language=language, due_on="2026-01-15").body
    assert f"{line}:" not in render(language=language).body


def test_a_message_without_a_case_or_an_area_shows_dashes() -> None:
    message = MESSAGES.render("case.received", {}, "en", "Police")
    assert message.subject == "[SafeReturn] A new case was received — case -"
    assert "Case: -\nArea: -\n" in message.body


# --- the person ---------------------------------------------------------------------------------


def test_the_person_gets_a_short_message_with_only_their_case_reference() -> None:
    vi = render("referral.accepted", person=True, name="the person", due_on="2026-01-15")
    assert vi.subject == "SafeReturn"
    assert vi.body == (
        "SafeReturn: Yêu cầu hỗ trợ của bạn đã được tiếp nhận. "
        f"Mã hồ sơ của bạn: {CASE_ID}. Cán bộ hỗ trợ sẽ liên hệ với bạn.\n"
    )
    en = render("referral.accepted", "en", person=True, name="the person")
    assert en.subject == "SafeReturn"
    assert en.body == (
        "SafeReturn: Your request for support was accepted. "
        f"Your case reference: {CASE_ID}. A support officer will contact you.\n"
    )


def test_the_persons_message_names_no_area_and_no_agency() -> None:
    body = render("referral.accepted", person=True, name="Nhà tạm lánh Hoa Ban").body
    assert "Mường Phăng" not in body
    assert "Hoa Ban" not in body
    assert "\n" not in body.rstrip("\n")  # one line: an SMS


def test_a_person_in_another_language_reads_english() -> None:
    assert render("referral.accepted", "fr", person=True) == render(
        "referral.accepted", "en", person=True
    )


# --- nothing but coded facts --------------------------------------------------------------------

CODED = {"case_id", "province", "ward", "due_on"}
IDENTITY = {"full_name": "Nguyễn Thị Lan", "phone": "+84 912 345 678",
            "id_number": "001199012345", "address": "Bản Co Luống, Mường Phăng",
            "date_of_birth": "2008-04-02", "guardian": "Lò Văn Pâng"}  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    event=st.sampled_from([*EVENTS, "case.closed"]),
    language=st.sampled_from(["vi", "en", "fr"]),
    person=st.booleans(),
    due_on=st.none() | st.just("2026-01-15"),
    extra=st.dictionaries(
        st.text(min_size=1, max_size=20).filter(lambda key: key not in CODED),
        st.text(min_size=1, max_size=40) | st.integers() | st.none(),
        max_size=5,
    ),
    identity=st.sets(st.sampled_from(sorted(IDENTITY))),
)
def test_whatever_else_the_event_holds_never_reaches_the_message(
    event: str,
    language: str,
    person: bool,
    due_on: str | None,
    extra: dict[str, Any],
    identity: set[str],
) -> None:
    coded = data(due_on=due_on)
    facts = {key: IDENTITY[key] for key in identity}
    plain = MESSAGES.render(event, coded, language, "Công an xã", person=person)
    full = MESSAGES.render(event, extra | facts | coded, language, "Công an xã", person=person)
    assert full == plain
    for value in facts.values():
        assert value not in text(full)
