"""The stores every bot of one process shares: SQLite (the default), Redis (shared by workers) or in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bots.config import BusConfig, StorageConfig
from bots.engines import resolve
from core.lifecycle import Resource
from core.stores.base import ConversationStore, DedupeStore, RateCounter, SettingsStore
from core.stores.memory import (
    MemoryConversationStore,
    MemoryDedupeStore,
    MemoryRateCounter,
    MemorySettingsStore,
)
from core.stores.sqlite import SqliteConversationStore, SqliteDatabase, SqliteDedupeStore, SqliteSettingsStore


@dataclass(slots=True)
class Stores:
    """The stores shared by every bot of one process."""

    conversations: ConversationStore
    settings: SettingsStore
    dedupe: DedupeStore
    counter: RateCounter
    resources: list[Resource] = field(default_factory=list)


def build_stores(config: StorageConfig, base: Path, max_turns: int, bus: BusConfig | None = None) -> Stores:
    """SQLite (default: survives restarts), Redis (shared by every worker) or in-memory stores."""
    if config.kind == "redis":
        from core.distributed.redis_stores import (
            RedisConnection,
            RedisConversationStore,
            RedisDedupeStore,
            RedisRateCounter,
            RedisSettingsStore,
        )

        connection = RedisConnection(config.url or (bus.url if bus else "redis://127.0.0.1:6379/0"), config.namespace)
        redis_stores = (
            RedisConversationStore(connection, max_turns),
            RedisSettingsStore(connection),
            RedisDedupeStore(connection),
            RedisRateCounter(connection),
        )
        return Stores(*redis_stores, resources=list(redis_stores))
    if config.kind == "memory":
        return Stores(MemoryConversationStore(max_turns), MemorySettingsStore(), MemoryDedupeStore(), MemoryRateCounter())
    db = SqliteDatabase(resolve(config.path, base))
    conv, settings, dedupe = SqliteConversationStore(db, max_turns), SqliteSettingsStore(db), SqliteDedupeStore(db)
    return Stores(conv, settings, dedupe, MemoryRateCounter(), [conv, settings, dedupe])
