"""The asyncio Redis clients of the bus and the stores: commands packed in C.

redis-py's asyncio connection packs every command in Python (about 9 µs for an ``XADD``
of a message); its synchronous client already uses ``hiredis.pack_command`` (about
1.3 µs). A worker sends about ten commands per message, so the packing alone cost more
CPU than Redis spent on them. :func:`client` builds a ``redis.asyncio.Redis`` whose
connections pack with hiredis, falling back to redis-py's own packer for anything
hiredis refuses (the same bytes either way for str, bytes, int and float arguments).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection

_hiredis_pack: Callable[[tuple[Any, ...]], bytes] | None
try:  # hiredis is a dependency; stay correct without it
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - exercised only without hiredis
    _hiredis_pack = None

_FAST: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def _split_name(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``"SCRIPT LOAD"`` as two arguments, as redis-py does."""
    first = args[0]
    if isinstance(first, str):
        if " " in first:
            return (*first.encode().split(), *args[1:])
    elif isinstance(first, bytes) and b" " in first:
        return (*first.split(), *args[1:])
    return args


def _fast(base: type[AbstractConnection]) -> type[AbstractConnection]:
    """``base`` with ``pack_command`` and ``pack_commands`` done by hiredis (one class per base)."""
    if _hiredis_pack is None or base in _FAST.values():
        return base
    if base in _FAST:
        return _FAST[base]
    pack = _hiredis_pack
    slow_pack = base.pack_command

    def pack_command(self: AbstractConnection, *args: Any) -> list[bytes]:
        try:
            return [pack(_split_name(args))]
        except TypeError:  # memoryview, bool, ...: redis-py's own packer (or its error)
            return slow_pack(self, *args)

    def pack_commands(self: AbstractConnection, commands: Iterable[Iterable[Any]]) -> list[bytes]:
        out: list[bytes] = []
        for cmd in commands:
            out += pack_command(self, *cmd)
        return [b"".join(out)]

    fast = _FAST[base] = type(f"Fast{base.__name__}", (base,), {"pack_command": pack_command, "pack_commands": pack_commands})
    return fast


#: TCP-only options: a ``unix://`` connection refuses them (TypeError when it connects)
_TCP_ONLY = ("socket_keepalive", "socket_keepalive_options")


def client(url: str, **options: Any) -> aioredis.Redis:
    """``redis.asyncio.Redis.from_url(url, **options)`` whose commands are packed by hiredis.

    For a ``unix://`` URL the TCP-only options (keepalive) are left out: redis-py would pass them on to
    its Unix socket connection, which fails on the first command.
    """
    if url.startswith("unix://"):
        options = {k: v for k, v in options.items() if k not in _TCP_ONLY}
    redis = aioredis.Redis.from_url(url, **options)
    pool = redis.connection_pool
    pool.connection_class = _fast(pool.connection_class)
    return redis
