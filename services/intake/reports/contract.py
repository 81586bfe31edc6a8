"""The submissions agency systems send on the stream, as the AsyncAPI contract describes them
(docs/submissions.md says the same in prose): one CloudEvent per report or activity, its body
the HTTP API's (``ReportIn``, ``ActivityIn``) encrypted to intake as a compact JWE."""

from typing import Any

from pydantic import BaseModel

from services.intake.reports.handlers import ACTIVITY_SUBMITTED, REPORT_SUBMITTED
from services.intake.reports.schemas import ActivityIn, ReportIn
from shared.events.catalogue import (
    CLOUDEVENTS_HEADERS,
    REDIS_BINDING,
    channel_id,
    hoisted,
    message_name,
    with_channel,
)
from shared.names import Stream

CHANNEL = channel_id(Stream.SUBMISSIONS)
JWE_COMPACT = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
SUBMISSION_HEADERS = dict(CLOUDEVENTS_HEADERS) | {
    "required": ["specversion", "id", "source", "type", "time", "datacontenttype",
                 "authorization"],
    "properties": {
        name: schema for name, schema in CLOUDEVENTS_HEADERS["properties"].items()
        if name not in ("dataschema", "signature", "subject")
    } | {
        "id": {"type": "string", "description": "the submission's id: (source, id) is spent "
               "once admitted, so sending it again changes nothing"},
        "source": {"type": "string", "description": "the agency system, e.g. /agency/border-guard"},
        "time": {"type": "string", "format": "date-time",
                 "description": "when it was sent; older than 24 h is refused (too_old)"},
        "authorization": {"type": "string", "pattern": "^Bearer .+",
                          "description": "Bearer <access token> from intake's POST /oauth/token "
                          "(role reporter)"},
        "datacontenttype": {"const": "application/jose"},
    },
}  # fmt: skip


def _message(event_type: str, body: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    plaintext = hoisted(body.model_json_schema(), schemas)
    schemas[body.__name__] = plaintext
    return {
        "name": event_type,
        "summary": f"{(body.__doc__ or '').strip().splitlines()[0]} (sent by agency systems)",
        "contentType": "application/jose",
        "headers": SUBMISSION_HEADERS | {
            "properties": SUBMISSION_HEADERS["properties"] | {"type": {"const": event_type}},
        },
        "payload": {
            "type": "string",
            "pattern": JWE_COMPACT,
            "description": (
                f"The {body.__name__} body (components/schemas/{body.__name__}, the same as "
                "the HTTP API's) as UTF-8 JSON, encrypted to intake's key with `\"use\": "
                "\"enc\"` in GET /.well-known/jwks.json: JWE compact serialization, alg "
                "ECDH-ES+A256KW (or ECDH-ES), enc A256GCM, its kid in the protected header, "
                "no compression. Plaintext is refused."
            ),
            "x-plaintext": {"$ref": f"#/components/schemas/{body.__name__}"},
        },
        "bindings": REDIS_BINDING,
    }  # fmt: skip


def with_submissions(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with the submissions channel agency systems write to."""
    schemas: dict[str, Any] = {}
    messages = {
        message_name(REPORT_SUBMITTED): _message(REPORT_SUBMITTED, ReportIn, schemas),
        message_name(ACTIVITY_SUBMITTED): _message(ACTIVITY_SUBMITTED, ActivityIn, schemas),
    }
    channel = {
        "address": str(Stream.SUBMISSIONS),
        "description": (
            "Agency systems add one entry per report or activity (XADD; their Redis user may "
            "do nothing else). The body carries personal data, so it is encrypted to intake. "
            "Intake admits each once per (source, id); a refused one appears on "
            f"{Stream.SUBMISSIONS_REJECTED} as submission.rejected with coded reasons. "
            "Admitted entries are deleted from Redis (and its AOF) once recorded."
        ),
    }
    operation = {"summary": "Agency systems: XADD one encrypted submission (docs/submissions.md)"}
    return with_channel(document, CHANNEL, channel, action="send", operation=operation,
                        messages=messages, schemas=schemas)  # fmt: skip
