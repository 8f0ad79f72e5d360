"""Prometheus metrics shared by every process role (all-in-one, gateway, worker).

The metrics live in the default registry; ``bots.observability`` serves them on
``/metrics``. Every series carries the bot's name; stage latencies carry the stage.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

MESSAGES_IN = Counter("bot_messages_in_total", "Incoming messages published by adapters", ["bot", "platform"])
MESSAGES_OUT = Counter("bot_messages_out_total", "Outgoing events delivered by adapters", ["bot", "platform", "kind"])
HANDLED = Counter("bot_messages_handled_total", "Messages handled by the pipeline", ["bot", "outcome"])
END_TO_END = Histogram(
    "bot_end_to_end_seconds",
    "From the platform message's arrival to its final reply being handed to the platform",
    ["bot", "platform"],
    buckets=_LATENCY_BUCKETS,
)
STAGE = Histogram(
    "bot_stage_seconds",
    "Time spent per stage: engine (whole reply), tts (voice note), send (one delivery to the platform), "
    "handle (whole pipeline)",
    ["bot", "stage"],
    buckets=_LATENCY_BUCKETS,
)
ERRORS = Counter("bot_errors_total", "Errors by kind", ["bot", "kind"])
RESPONSE_LOST = Counter(
    "bot_send_response_lost_total",
    "Sends whose connection broke after the request went out (the platform may have delivered it): "
    "outcome retried (sent once more, at most) or given_up",
    ["platform", "method", "outcome"],
)
REDELIVERIES = Counter("bot_bus_redeliveries_total", "Messages reclaimed from a worker that did not acknowledge them", ["bot"])
DUPLICATES_SKIPPED = Counter(
    "bot_bus_redelivered_answered_total", "Redelivered messages that had been answered already (acknowledged, not re-answered)", ["bot"]
)
STREAM_LAG = Gauge("bot_bus_stream_lag", "Incoming messages not yet read by any worker", ["bot"])
PENDING = Gauge("bot_bus_pending", "Incoming messages read by a worker and not yet acknowledged", ["bot"])
OUTBOX = Gauge("bot_bus_gateway_outbox", "Messages a gateway holds while the bus server is unreachable", ["bot"])
