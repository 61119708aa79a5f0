"""Event delivery: the outbox read in id order, the buses that wake readers, live streams.

The services write events inside their unit of work (the ``system_events`` outbox); this
package reads them back: :class:`EventLog` pages through the table, a bus
(:func:`create_event_bus`) says that new rows were committed, and an :class:`EventHub` hands
them to every :class:`EventStream` (the ``/ws`` WebSocket, ``GET /api/events``); :func:`post_json`
sends one to a configured webhook.
"""

from phaseloom.events._buses import InProcessBus, PostgresBus, RedisBus, create_event_bus
from phaseloom.events._hub import EventHub, EventStream, Subscription
from phaseloom.events._outbox import MAX_PAGE, EventFilter, EventLog
from phaseloom.events._webhooks import post_json

__all__ = [
    "post_json",
    "MAX_PAGE",
    "EventFilter",
    "EventHub",
    "EventLog",
    "EventStream",
    "InProcessBus",
    "PostgresBus",
    "RedisBus",
    "Subscription",
    "create_event_bus",
]
