"""``bots[].voice_channel.listening`` wires the bot's speech-to-text into the Discord adapter's hearing."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.discord.adapter import DiscordAdapter
from bots.adapters import build_adapters
from bots.config import parse_config
from core.bus import InProcessBus
from core.hearing import Hearing
from core.stt import SpeechToText
from voice.listening import SileroHearing


def _bot(listening: dict[str, Any], voice: dict[str, Any] | None = None) -> Any:
    config = parse_config({"bots": [{
        "name": "joe", "persona": {"name": "Joe"}, "engines": [{"kind": "echo"}],
        "voice_channel": {"listening": listening},
        "adapters": {"discord": {"token": "t", "voice": voice or {}}},
    }]})
    return config.bots[0]


def _discord(bot: Any, listener: SpeechToText | None) -> DiscordAdapter:
    adapters = build_adapters(bot, InProcessBus(), None, listener=listener)
    assert len(adapters) == 1 and isinstance(adapters[0], DiscordAdapter)
    return adapters[0]


async def _noop(*_: Any) -> None:
    return None


def test_an_enabled_listening_section_gives_the_adapter_a_hearing_with_the_bots_name_as_wake_word(
    unstarted_stt: SpeechToText,
) -> None:
    bot = _bot({"enabled": True, "mode": "always", "wake_words": ["computer"], "barge_in": "duck"},
               {"listen_by_default": True})
    adapter = _discord(bot, unstarted_stt)
    assert adapter.hearing_factory is not None
    hearing = adapter.hearing_factory(_noop, lambda speaker: None)
    assert isinstance(hearing, SileroHearing) and isinstance(hearing, Hearing)
    policy = adapter.listen_policy
    assert policy.wake_words == ("Joe", "computer") and policy.mode == "always" and policy.barge_in == "duck"
    assert policy.enabled, "listen_by_default: on in every guild before /listen"


def test_listening_off_or_without_speech_to_text_leaves_the_adapter_deaf(unstarted_stt: SpeechToText) -> None:
    assert _discord(_bot({"enabled": False}), unstarted_stt).hearing_factory is None
    assert _discord(_bot({"enabled": True}), None).hearing_factory is None


def test_a_bad_listening_mode_is_a_config_error() -> None:
    from bots.errors import ConfigError

    with pytest.raises(ConfigError, match="voice_channel.listening.mode"):
        _bot({"enabled": True, "mode": "sometimes"})


@pytest.fixture
def unstarted_stt() -> SpeechToText:
    """The real speech-to-text service, not started (building the hearing does not start it)."""
    from voice.stt.config import SttConfig
    from voice.stt.service import build_listener

    return build_listener(SttConfig())
