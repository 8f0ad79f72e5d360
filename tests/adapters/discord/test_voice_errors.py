"""Voice that cannot run (davey missing, Discord's 4017 close) answers with install advice and breaks nothing.

There is no fake voice gateway, so a 4017 close is raised where discord.py raises it: from
``VoiceChannel.connect`` (with ``reconnect=False``; with ``True`` discord.py retries the refused
handshake until its timeout and the 4017 never surfaces).
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import discord
import pytest

from adapters.discord import voice as voice_module
from adapters.discord.config import DiscordVoiceConfig
from adapters.discord.errors import DAVE_HELP, VoiceUnavailable
from adapters.discord.voice import VoiceManager
from tests.adapters.discord.conftest import ALICE, DM, GENERAL, GUILD, start_bot
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.adapters.discord.stand_in_voice import StandInVoice
from tests.adapters.discord.test_voice_channel import until, voiced
from voice.service import VoiceService


def closed_4017() -> discord.ConnectionClosed:
    """What discord.py raises when the voice gateway closes the handshake with 4017."""
    return discord.ConnectionClosed(None, shard_id=None, code=4017)  # type: ignore[arg-type]


class DroppableVoice(StandInVoice):
    """A stand-in voice connection whose link can drop."""

    connected = True

    def is_connected(self) -> bool:
        return self.connected


async def join_answer(fake: FakeDiscord) -> str:
    data = await fake.interaction("join", {}, guild_id=GUILD, channel_id=GENERAL, member=ALICE)
    hook = await fake.wait_for(lambda: [s for s in fake.sent if s.path.startswith("/webhooks/") and data["token"] in s.path
                                        and s.method == "POST"])
    return hook[0].json["content"]


async def test_join_without_davey_answers_with_install_advice(
    fake: FakeDiscord, speech: VoiceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(discord.voice_client, "has_dave", False)
    bot = await start_bot(fake, speech=speech)
    try:
        assert await join_answer(fake) == f"I can't join: {DAVE_HELP}"
        assert "pip install 'discord.py[voice]>=2.7.1'" in DAVE_HELP and "4017" in DAVE_HELP
        assert not bot.adapter.voice.sessions
    finally:
        await bot.stop()


async def test_join_closed_with_4017_answers_with_install_advice_and_adapter_keeps_working(
    fake: FakeDiscord, speech: VoiceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    async def refused(self: discord.VoiceChannel, **kwargs: Any) -> Any:
        calls.append(kwargs)
        raise closed_4017()

    monkeypatch.setattr(discord.VoiceChannel, "connect", refused)
    bot = await start_bot(fake, speech=speech)
    try:
        assert await join_answer(fake) == f"I can't join: {DAVE_HELP}"
        assert calls and calls[0]["reconnect"] is False  # else discord.py swallows the 4017 in its retries
        assert not bot.adapter.voice.sessions
        await fake.message(DM, ALICE, "still there?")
        await fake.wait_for(lambda: [s for s in fake.messages(DM) if s.json["content"] == "still there?"])
    finally:
        await bot.stop()


async def test_voice_dropped_then_4017_on_rejoin_leaves_with_advice_and_other_guilds_keep_playing(
    speech: VoiceService, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(voice_module, "REJOIN_AFTER_S", 0.0)
    manager = VoiceManager(speech, DiscordVoiceConfig(lead_in_ms=0), tick_s=0.02)
    other = manager.attach(2, StandInVoice(), None).vc
    dropped = DroppableVoice()
    answers: list[Any] = [dropped, closed_4017(), DroppableVoice()]

    async def connect(**kwargs: Any) -> Any:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    channel = SimpleNamespace(guild=SimpleNamespace(id=1), connect=connect)
    await manager.start()
    try:
        assert (await manager.join(channel, None)).vc is dropped  # type: ignore[arg-type]
        caplog.set_level(logging.ERROR, logger="adapters.discord.voice")
        dropped.connected = False  # the link drops; the watchdog rejoins and Discord answers 4017
        await until(lambda: 1 not in manager.sessions)
        assert any(DAVE_HELP in r.getMessage() for r in caplog.records)
        manager.say(2, "The other guild is still speaking.")
        await until(lambda: len(voiced(other.frames)) > 20 and not other.is_playing())
        rejoined = await manager.join(channel, None)  # type: ignore[arg-type]
        assert rejoined.vc.is_connected() and not answers  # a later /join works again
    finally:
        await manager.stop()


async def test_join_4017_is_voice_unavailable_with_install_advice(speech: VoiceService) -> None:
    async def connect(**kwargs: Any) -> Any:
        raise closed_4017()

    manager = VoiceManager(speech, DiscordVoiceConfig())
    channel = SimpleNamespace(guild=SimpleNamespace(id=1), connect=connect)
    with pytest.raises(VoiceUnavailable) as refused:
        await manager.join(channel, None)  # type: ignore[arg-type]
    assert str(refused.value) == DAVE_HELP and not manager.sessions


async def test_join_without_libopus_answers_with_install_advice(
    speech: VoiceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(voice_module, "libopus_version", lambda: None)
    calls: list[Any] = []

    async def connect(**kwargs: Any) -> Any:
        calls.append(kwargs)

    manager = VoiceManager(speech, DiscordVoiceConfig())
    channel = SimpleNamespace(guild=SimpleNamespace(id=1), connect=connect)
    with pytest.raises(VoiceUnavailable) as refused:
        await manager.join(channel, None)  # type: ignore[arg-type]
    assert str(refused.value) == voice_module.OPUS_HELP and "libopus0" in str(refused.value)
    assert not calls and not manager.sessions
