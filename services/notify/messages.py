"""Messages from templates (Jinja2): Vietnamese, with English where a template or text is
missing. Only coded facts reach a template: the case reference, the area, a due date (and a
subscription's id, for its owner's notice)."""

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from shared.areas import area_name

LANGUAGES = ("vi", "en")


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    body: str


class Messages:
    def __init__(self, folder: Path) -> None:
        self.env = Environment(
            loader=FileSystemLoader(folder), undefined=StrictUndefined,
            autoescape=False,  # noqa: S701 - plain-text mail and SMS, never HTML
            keep_trailing_newline=False,
        )  # fmt: skip
        self.texts: dict[str, dict[str, dict[str, str]]] = tomllib.loads(
            (folder / "actions.toml").read_text(encoding="utf-8")
        )

    def render(
        self, event_type: str, data: dict[str, Any], language: str, recipient_name: str,
        *, person: bool = False,
    ) -> Message:  # fmt: skip
        texts = self.texts.get(event_type, {})
        language = language if language in texts else "en"
        text = texts.get(language) or {"title": event_type, "action": "See the case in SafeReturn"}
        name = "person" if person else event_type
        template = self.env.select_template(
            [f"{language}/{name}.txt", f"{language}/{'person' if person else 'default'}.txt",
             f"en/{'person' if person else 'default'}.txt"]
        )  # fmt: skip
        rendered = template.render(
            title=text["title"], action=text["action"], case_ref=data.get("case_id") or "-",
            area=area_name(data.get("province"), data.get("ward")), due_on=data.get("due_on"),
            recipient_name=recipient_name, subscription_id=data.get("subscription_id") or "-",
        )  # fmt: skip
        first, _, body = rendered.partition("\n")
        return Message(first.removeprefix("Subject:").strip(), body.strip() + "\n")
