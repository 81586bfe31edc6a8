"""The email channel against a real SMTP server on loopback: Vietnamese arrives intact, and
every attempt at one delivery carries the same Message-ID."""

from safereturn.sinks import SmtpSink
from services.notify.channels import Channels
from services.notify.messages import Message
from services.notify.settings import NotifySettings

SUBJECT = "[SafeReturn] Quyết định áp dụng biện pháp bảo vệ — hồ sơ 01a2050d-6be3-7842-89d0"
BODY = "Kính gửi Công an xã Mường Phăng,\n\nĐề nghị: tổ chức thực hiện các biện pháp bảo vệ.\n"


async def test_a_long_vietnamese_subject_and_body_arrive_exactly_as_written() -> None:
    with SmtpSink() as sink:
        settings = NotifySettings(smtp_host="127.0.0.1", smtp_port=sink.port)
        message_id = await Channels(settings, http=None).email(  # type: ignore[arg-type]
            "congan.muongphang@example.vn", Message(SUBJECT, BODY), "0193a5b2-delivery"
        )
    (mail,) = sink.messages
    assert (str(mail["Subject"]), mail.get_content(), mail["Message-ID"]) == (
        SUBJECT, BODY, message_id
    )  # fmt: skip
    assert mail.get_content_charset() == "utf-8"
    assert sink.raw[0].isascii()  # 7-bit on the wire, as any relay accepts


async def test_every_attempt_at_a_delivery_carries_the_same_message_id() -> None:
    """A mail sent again after a crash (before its outcome was recorded) is recognisable."""
    with SmtpSink() as sink:
        channels = Channels(NotifySettings(smtp_host="127.0.0.1", smtp_port=sink.port),
                            http=None)  # type: ignore[arg-type]  # fmt: skip
        for delivery_id in ("d-1", "d-1", "d-2"):
            await channels.email("syt@example.vn", Message(SUBJECT, BODY), delivery_id)
    assert [m["Message-ID"] for m in sink.messages] == [
        "<d-1@safereturn.invalid>", "<d-1@safereturn.invalid>", "<d-2@safereturn.invalid>"
    ]  # fmt: skip
