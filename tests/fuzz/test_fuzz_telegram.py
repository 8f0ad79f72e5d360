"""Seeded fuzzing of Telegram updates: junk among valid messages against the fake Bot API.

Every valid message is answered exactly once and in order, junk is skipped with at most
one warning each and no traceback, and the bot keeps polling.
"""

from __future__ import annotations

import itertools
import logging
import random
from collections import Counter

from tests.fuzz.cases import telegram_update

CHATS = [2001 + i for i in range(8)]
JUNK_CHATS = [2101 + i for i in range(8)]
UPDATES = 600


async def test_junk_updates_among_valid_ones_each_valid_answered_exactly_once_in_order(bot_factory, api, caplog, seed):
    caplog.set_level(logging.WARNING)
    rng = random.Random(seed)
    message_ids = itertools.count(1)
    cases = [telegram_update(rng, CHATS, JUNK_CHATS, message_ids) for _ in range(UPDATES)]
    expected = {chat: [c.answer for c in cases if c.chat_id == chat] for chat in CHATS}
    async with bot_factory() as h:
        for case in cases:
            api.inject(case.body)
        total = sum(len(v) for v in expected.values())
        await api.wait_for(lambda: sum(len(api.texts(c)) for c in CHATS) >= total, timeout=40)
        await h.pipeline.idle()
        await h.adapter.outboxes.drain(10)
        assert h.adapter.poller is not None and h.adapter.poller._task is not None and not h.adapter.poller._task.done()
    for chat in CHATS:
        assert api.texts(chat) == expected[chat], f"seed {seed}, chat {chat}"
    kinds = Counter(c.kind for c in cases)
    for chat in JUNK_CHATS:  # junk that happens to be answerable is answered at most once
        sent = Counter(api.texts(chat))
        assert all(n == 1 for n in sent.values()), (seed, chat, sent)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    junk = UPDATES - kinds["valid"]
    assert len(warnings) <= junk, [r.getMessage()[:120] for r in warnings][:20]
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert not tracebacks, [r.getMessage() for r in tracebacks][:5]
