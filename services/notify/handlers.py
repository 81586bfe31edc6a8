"""Notify's event handlers: decode → domain → store."""

from shared import cases
from shared.consumer import Subscription
from shared.diagnostics import probe_receiver
from shared.events.platform import ProbeRequested
from shared.names import Service, Stream


def subscriptions() -> list[Subscription]:
    on_probe = probe_receiver(Service.NOTIFY, answer=True)
    return [
        Subscription(Stream.PLATFORM, {ProbeRequested.event_type: on_probe}),
        cases.subscription(),
    ]
