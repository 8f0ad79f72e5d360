"""Rate limits: 50 chats at once under the real default limits; the defaults' windows on a fake clock."""

from __future__ import annotations

from adapters.telegram.config import RateLimitConfig
from adapters.telegram.ratelimit import RateLimiter

DEFAULTS = {"per_chat": 1, "per_chat_period_s": 1.0, "per_group": 20, "per_group_period_s": 60.0, "overall": 30, "overall_period_s": 1.0}


async def test_fifty_chats_at_once_respect_limits_and_all_answered(bot_factory, api):
    chats = [1000 + i for i in range(50)]
    twice = chats[:5]
    async with bot_factory(rate_limits=DEFAULTS) as h:
        for chat in chats:
            api.inject_message(chat, f"hi from {chat}")
        for chat in twice:
            api.inject_message(chat, f"again from {chat}")
        await api.wait_for(lambda: all(api.texts(c) for c in chats) and all(len(api.texts(c)) == 2 for c in twice), timeout=20)
        await h.pipeline.idle()
    for chat in chats:
        expected = [f"hi from {chat}"] + ([f"again from {chat}"] if chat in twice else [])
        assert api.texts(chat) == expected
    writes = sorted(c.at for c in api.calls if c.method in {"sendMessage", "sendChatAction"})
    worst = max(sum(1 for t in writes if start <= t < start + 1.0) for start in writes)
    # measured at the server: transit jitter can bunch requests a little across a window edge
    assert worst <= 36, f"{worst} requests in one second (limit 30)"
    assert writes[-1] - writes[0] >= (len(writes) - 30) / 30 - 0.05, "30 per second overall"
    for chat in twice:
        sends = api.answered("sendMessage", chat)
        assert sends[1].at - sends[0].at >= 0.98, "at most one message per second per chat"


def test_default_windows_on_a_fake_clock():
    now = [0.0]
    limiter = RateLimiter(RateLimitConfig(), clock=lambda: now[0])
    group, private = -1009, 77
    for i in range(20):  # 20 group messages, one per second: each fits
        assert limiter.delay(group) == 0.0, i
        limiter.record(group)
        now[0] += 1.0
    assert abs(limiter.delay(group) - 40.0) < 1e-9, "the 21st waits until a minute after the first"
    limiter.record(private)
    assert limiter.delay(private) == 1.0, "one per second per private chat"
    assert limiter.delay(private, per_chat=False) == 0.0, "chat actions only count overall"
    for _ in range(29):
        limiter.record(None)
    assert limiter.delay(None) > 0, "30 per second overall"
    now[0] += 1.0
    assert limiter.delay(None) == 0.0


def test_pause_holds_one_chat_or_all():
    now = [0.0]
    limiter = RateLimiter(RateLimitConfig(per_chat=0, per_group=0, overall=0), clock=lambda: now[0])
    limiter.pause(5, 2.0)
    assert limiter.delay(5) == 2.0 and limiter.delay(6) == 0.0
    limiter.pause(None, 3.0)
    assert limiter.delay(6) == 3.0
