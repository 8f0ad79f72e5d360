"""A lean pipelined Redis connection for the per-message round trips: packed and parsed in C.

A worker makes two kinds of round trip per batch of messages: the stores' reads (dedupe
claim, history, settings) and the writer's one call of the apply script (replies, history,
acks). Through redis-py each costs a pipeline object, a pool checkout and health check, a
Python parse callback per reply and a pool release: about a fifth of a worker's CPU at 128
chats. :class:`RespPipe` keeps one connection per use, writes a batch's commands in one
``write`` (packed by ``hiredis.pack_command``) and hands back hiredis's replies as they are,
in order: bytes, ints, lists, ``None``, and a :class:`redis.exceptions.ResponseError` in
place of a command Redis refused. Callers shape the few replies they read (see
:func:`hash_reply`).

Failures look like redis-py's, so the callers' retries stay as they are: an unreachable or
lost server raises :class:`redis.exceptions.ConnectionError`; a caller that gives up
waiting (a timeout, a cancel) drops the connection, so no late reply is ever taken for
another's, and the next call connects again. ``redis://``, ``rediss://`` (TLS checked against
the system's certificate authorities) and ``unix://`` URLs, with a username, password and
database, are read as redis-py reads them; redis-py's other URL options are not used here.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url
from redis.commands.core import CoreCommands
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

Command = tuple[Any, ...]
"""One command and its arguments: ``("SET", key, value, "NX")``."""


def hash_reply(reply: Any) -> dict[bytes, Any]:
    """An ``HGETALL`` reply (a flat list of fields and values) as a dict."""
    return dict(zip(reply[::2], reply[1::2], strict=True)) if reply else {}


class _Protocol(asyncio.Protocol):
    """Feeds what arrives to hiredis and resolves the waiting batches in the order they were sent."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader(replyError=ResponseError)
        # per batch sent: how many replies it needs, those read so far, who waits for them
        self.waiting: deque[tuple[int, list[Any], asyncio.Future[list[Any]]]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while self.waiting:
                count, replies, future = self.waiting[0]
                while len(replies) < count:
                    reply = self.reader.gets()
                    if reply is False:  # the rest has not arrived yet
                        return
                    replies.append(reply)
                self.waiting.popleft()
                if not future.done():  # a caller that stopped waiting dropped the connection already
                    future.set_result(replies)
        except hiredis.ProtocolError as exc:
            self.fail(RedisConnectionError(f"redis protocol error: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError(f"connection to redis lost: {exc}" if exc else "connection to redis closed"))

    def fail(self, error: Exception) -> None:
        """Every batch still waiting fails with ``error``; the connection is closed."""
        if self.lost is None:
            self.lost = error
        while self.waiting:
            _, _, future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)
        if self.transport is not None:
            self.transport.close()

    def send(self, commands: Sequence[Command]) -> asyncio.Future[list[Any]]:
        if self.lost is not None or self.transport is None or self.transport.is_closing():
            raise self.lost or RedisConnectionError("connection to redis closed")
        payload = b"".join([hiredis.pack_command(command) for command in commands])
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.waiting.append((len(commands), [], future))
        self.transport.write(payload)
        return future


def _expire(protocol: _Protocol, future: asyncio.Future[list[Any]], timeout_s: float) -> None:
    if not future.done():
        future.set_exception(TimeoutError(f"no reply from redis within {timeout_s:.1f}s; connection dropped"))
        protocol.fail(RedisConnectionError("a round trip timed out; connection dropped"))


class RespPipe:
    """One pipelined connection to ``url``; :meth:`execute` sends a batch of commands and returns their replies.

    Args:
        url: ``redis://[user:password@]host:port/db``, ``rediss://...`` or ``unix:///path?db=N``.
        connect_timeout_s: how long connecting (and authenticating) may take.
    """

    def __init__(self, url: str, connect_timeout_s: float = 2.0) -> None:
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self._options: dict[str, Any] = dict(parse_url(url))
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None

    async def execute(self, commands: Sequence[Command], timeout_s: float | None = None) -> list[Any]:
        """Send ``commands`` in one write; their replies in order (a refused command: a ResponseError in its place).

        ``timeout_s`` bounds the round trip: past it the connection is dropped and TimeoutError raised
        (cheaper than ``asyncio.timeout``, which a per-batch call would pay for on every message).
        """
        if not commands:
            return []
        protocol = await self._connected()
        future = protocol.send(commands)
        timer = None
        if timeout_s is not None:
            timer = asyncio.get_running_loop().call_later(timeout_s, _expire, protocol, future, timeout_s)
        try:
            return await future
        except BaseException:
            if not future.done():  # gave up waiting (a cancel): a late reply must not reach the next caller
                protocol.fail(RedisConnectionError("a caller stopped waiting for redis; connection dropped"))
            raise
        finally:
            if timer is not None:
                timer.cancel()

    async def _connected(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and protocol.lost is None:
            return protocol
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is None or self._protocol.lost is not None:
                self._protocol = await self._connect()
            return self._protocol

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        options = self._options
        kind = options.get("connection_class")
        where = options.get("path") or f"{options.get('host', 'localhost')}:{options.get('port', 6379)}"
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                if kind is UnixDomainSocketConnection:
                    _, protocol = await loop.create_unix_connection(_Protocol, options["path"])
                else:
                    context = ssl.create_default_context() if kind is SSLConnection else None
                    _, protocol = await loop.create_connection(
                        _Protocol, options.get("host", "localhost"), int(options.get("port", 6379)), ssl=context
                    )
                hello: list[Command] = []
                if options.get("password") is not None:
                    user = options.get("username")
                    hello.append(("AUTH", user, options["password"]) if user else ("AUTH", options["password"]))
                if int(options.get("db") or 0):
                    hello.append(("SELECT", int(options["db"])))
                if hello:
                    for reply in await protocol.send(hello):
                        if isinstance(reply, ResponseError):
                            protocol.fail(RedisConnectionError("closed after a refused handshake"))
                            raise AuthenticationError(f"redis refused the connection set-up: {reply}")
        except (OSError, TimeoutError) as exc:
            raise RedisConnectionError(f"error connecting to redis at {where}: {exc or type(exc).__name__}") from None
        return protocol

    async def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            protocol.fail(RedisConnectionError("connection closed"))


class Scripts:
    """Lua scripts called by ``EVALSHA`` through a :class:`RespPipe`, loaded into the server when needed.

    A script is loaded in the round trip of the first batch after it was added (``SCRIPT LOAD`` ahead of
    the batch's commands), and again whenever the server answers ``NOSCRIPT`` (it restarted empty): then
    the refused commands alone are sent again, so a caller never sees that error.
    """

    def __init__(self) -> None:
        self._bodies: dict[str, str] = {}  # sha1 -> body
        self._unloaded: set[str] = set()  # not loaded into the server yet, as far as we know
        #: batches sent a second time after NOSCRIPT (round trips beyond one per execute)
        self.reloads = 0

    def add(self, body: str) -> str:
        """Register ``body``; its SHA1, for ``EVALSHA`` in the commands given to :meth:`execute`."""
        sha = hashlib.sha1(body.encode()).hexdigest()
        if sha not in self._bodies:
            self._bodies[sha] = body
            self._unloaded.add(sha)
        return sha

    async def execute(
        self, pipe: RespPipe, commands: Sequence[Command], timeout_s: float | None = None, reload: bool = True
    ) -> list[Any]:
        """:meth:`RespPipe.execute` of ``commands``, with the scripts loaded first where needed.

        A script the server refuses to load raises :class:`redis.exceptions.ResponseError`.
        """
        loading = list(self._unloaded)
        if loading:
            commands = [*(("SCRIPT", "LOAD", self._bodies[sha]) for sha in loading), *commands]
        results = await pipe.execute(commands, timeout_s)
        if loading:
            loaded, results = results[: len(loading)], results[len(loading) :]
            commands = commands[len(loading) :]
            refused = next((r for r in loaded if isinstance(r, Exception)), None)
            if refused is not None:
                raise ResponseError(f"redis refused a Lua script: {refused}")
            self._unloaded.difference_update(loading)
        if not reload:
            return results
        missing = [i for i, r in enumerate(results) if isinstance(r, ResponseError) and str(r).startswith("NOSCRIPT")]
        if missing:  # the server lost its scripts (restarted empty): nothing of those commands ran
            self._unloaded.update(self._bodies)
            self.reloads += 1
            again = await self.execute(pipe, [commands[i] for i in missing], timeout_s, reload=False)
            for i, reply in zip(missing, again, strict=True):
                results[i] = reply
        return results


class Recorder(CoreCommands):
    """Records the commands redis-py's command methods build (``rec.set(key, value, nx=True)``) instead of sending them.

    The stores' and the bus's writes are written against redis-py's command methods; recorded
    here, they travel through a :class:`RespPipe` or inside the bus's apply script.
    """

    _event_dispatcher: Any = None  # part of redis-py's command protocol; nothing is dispatched here

    def __init__(self) -> None:
        self.commands: list[Command] = []

    def execute_command(self, *args: Any, **options: Any) -> Recorder:
        self.commands.append(args)
        return self
