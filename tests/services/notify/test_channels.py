"""The email channel against a real SMTP server on loopback: Vietnamese arrives intact."""

import pytest

from safereturn.sinks import SmtpSink
from services.notify.channels import Channels, internal_target
from services.notify.messages import Message
from services.notify.settings import NotifySettings

SUBJECT = "[SafeReturn] Quyết định áp dụng biện pháp bảo vệ — hồ sơ 01a2050d-6be3-7842-89d0"
BODY = "Kính gửi Công an xã Mường Phăng,\n\nĐề nghị: tổ chức thực hiện các biện pháp bảo vệ.\n"


async def test_a_long_vietnamese_subject_and_body_arrive_exactly_as_written() -> None:
    with SmtpSink() as sink:
        settings = NotifySettings(smtp_host="127.0.0.1", smtp_port=sink.port)
        message_id = await Channels(settings, http=None).email(  # type: ignore[arg-type]
            "congan.muongphang@example.vn", Message(SUBJECT, BODY)
        )
    (mail,) = sink.messages
    assert (str(mail["Subject"]), mail.get_content(), mail["Message-ID"]) == (
        SUBJECT, BODY, message_id
    )  # fmt: skip
    assert mail.get_content_charset() == "utf-8"
    assert sink.raw[0].isascii()  # 7-bit on the wire, as any relay accepts


@pytest.mark.parametrize(
    ("url", "internal"),
    [
        ("http://127.0.0.1:8001/v1/clients", True),
        ("http://localhost/x", True),
        ("http://10.1.2.3/hook", True),
        ("http://169.254.169.254/latest/meta-data", True),
        ("http://[::1]:8004/", True),
        ("https://93.184.216.34/hook", False),
    ],
)
async def test_a_webhook_inside_the_platforms_networks_is_told_apart(
    url: str, internal: bool
) -> None:
    assert await internal_target(url) is internal
