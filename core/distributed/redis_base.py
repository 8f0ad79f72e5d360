"""What both sides of the Redis Streams bus share: settings, scripts, the connection, retries and key names.

See :mod:`core.distributed.redis_bus` for the protocol; the gateway side is in
:mod:`core.distributed.redis_gateway`, the worker side in :mod:`core.distributed.redis_worker`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.bus import Bus
from core.distributed.backoff import Outage, redis_backoff
from core.errors import BusClosed, CodecError
from core.model import IncomingMessage

log = logging.getLogger("core.distributed.redis_bus")

T = TypeVar("T")

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)

_PUBLISH = """
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
redis.call('RPUSH', KEYS[2], id)
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return id
"""
_ACK = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('LREM', KEYS[2], 1, ARGV[2])
return 1
"""
_ACK_OUT = """
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
return 1
"""
_SEND = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 3))
if KEYS[2] then redis.call('SET', KEYS[2], '1', 'PX', ARGV[2]) end
return id
"""


def default_consumer_name() -> str:
    """``host:pid``: unique per worker process."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class RedisBusSettings:
    """Tuning of one bot's Redis bus.

    Attributes:
        url: ``redis://host:port/db``.
        namespace: key prefix, one per bot.
        consumer: this worker's name in the consumer group (default ``host:pid``).
        claim_idle_s: an entry unacknowledged and untouched this long belongs to a dead worker.
        read_count: entries read per call.
        max_held: entries a worker holds at once (read and not acknowledged).
        block_ms: how long a read waits for new entries.
        answered_ttl_s: how long the ``answered`` markers (and order lists) live.
        outbox_limit: messages a gateway keeps while Redis is unreachable.
        out_maxlen: approximate bound of each outgoing stream.
        max_attachment_bytes: larger attachments are left out of a message.
    """

    url: str = "redis://127.0.0.1:6379/0"
    namespace: str = "bots"
    consumer: str = ""
    claim_idle_s: float = 30.0
    read_count: int = 16
    max_held: int = 64
    block_ms: int = 1000
    answered_ttl_s: float = 24 * 3600
    outbox_limit: int = 10_000
    out_maxlen: int = 100_000
    max_attachment_bytes: int = 20 * 1024 * 1024


def _fields(header: bytes, blobs: list[bytes]) -> list[bytes | str]:
    out: list[bytes | str] = ["h", header]
    for i, blob in enumerate(blobs):
        out += [f"b{i}", blob]
    return out


def _unfields(raw: dict[bytes, bytes]) -> tuple[bytes, list[bytes]]:
    header = raw.get(b"h")
    if header is None:
        raise CodecError("stream entry has no header field")
    blobs = []
    i = 0
    while (blob := raw.get(f"b{i}".encode())) is not None:
        blobs.append(blob)
        i += 1
    return header, blobs


class RedisBusBase(Bus):
    """The state and helpers of :class:`~core.distributed.redis_bus.RedisBus` that its two sides share."""

    GROUP = "workers"
    GATEWAY_GROUP = "gateway"
    HANDED_BACK = "handed-back"

    def __init__(self, settings: RedisBusSettings, bot: str = "") -> None:
        self.settings = settings
        self.bot = bot or settings.namespace
        self.consumer = settings.consumer or default_consumer_name()
        ns = settings.namespace
        self.in_key = f"{ns}:in"
        self._redis: aioredis.Redis | None = None
        self._closing = asyncio.Event()
        self._outage = Outage(log, f"redis ({self._safe_url()})")
        self._outbox: deque[tuple[IncomingMessage, list[bytes | str], str]] = deque()
        self._outbox_task: asyncio.Task[None] | None = None
        self._held: dict[str, str] = {}  # entry id -> chat key
        self._held_changed = asyncio.Event()
        self._chat_done: dict[str, asyncio.Event] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._gauges: asyncio.Task[None] | None = None
        self._outgoing_readers = 0
        self._scripts: dict[str, Any] = {}
        self._sweep_from: bytes | str = "0-0"
        self.redelivered = 0

    def _safe_url(self) -> str:
        """The URL without its password, for logs."""
        url = self.settings.url
        if "@" in url:
            scheme, _, rest = url.partition("://")
            return f"{scheme}://***@{rest.split('@', 1)[1]}"
        return url

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            raise BusClosed("bus is not started")
        return self._redis

    # -- retrying ---------------------------------------------------------------------------

    async def _retry(self, call: Callable[[], Awaitable[T]], *, until_closed: bool = True) -> T:
        """Run ``call`` until it succeeds; on connection errors back off (bus stopping: BusClosed)."""
        backoff = redis_backoff()
        while True:
            try:
                result = await call()
            except _UNREACHABLE as exc:
                if until_closed and self._closing.is_set():
                    raise BusClosed(f"bus stopped while redis was unreachable: {exc}") from None
                delay = backoff.next()
                self._outage.failed(exc, delay)
                await asyncio.sleep(delay)
                continue
            self._outage.ok()
            return result

    # -- keys and groups ----------------------------------------------------------------------------

    def _order_key(self, chat_key: str) -> str:
        return f"{self.settings.namespace}:order:{chat_key}"

    def _out_key(self, destination: str) -> str:
        return f"{self.settings.namespace}:out:{destination}"

    def _answered_key(self, message_key: str) -> str:
        return f"{self.settings.namespace}:answered:{message_key}"

    async def _ensure_group(self, key: str, group: str) -> None:
        try:
            await self.redis.xgroup_create(key, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

def _text(value: bytes | str | int) -> str:
    """A redis reply value as text (this client reads raw bytes: ``decode_responses`` is off)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _stream_entries(batch: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """The entries of a one-stream ``XREADGROUP`` reply (``[[stream, [(id, fields), ...]]]``, or nothing)."""
    return batch[0][1] if batch else []
