"""Listening in voice channels: speakers' PCM -> utterances (implements :class:`core.hearing.Hearing`).

``build_hearing(config, stt, on_utterance, on_speech_start)`` assembles it; see :mod:`voice.listening.hearing`.
"""

from __future__ import annotations

from core.hearing import Hearing, SpeechStartHandler, UtteranceHandler
from core.stt import SpeechToText
from voice.listening.config import ListeningConfig
from voice.listening.hearing import SileroHearing


def build_hearing(
    config: ListeningConfig,
    stt: SpeechToText,
    on_utterance: UtteranceHandler,
    on_speech_start: SpeechStartHandler,
) -> Hearing:
    """The hearing layer for one bot (not started; ``async with`` it or call ``start``).

    Args:
        config: the bot's listening settings.
        stt: the speech-to-text service; its owner starts and stops it.
        on_utterance: awaited with each transcribed utterance, a speaker's in the order spoken.
        on_speech_start: called on the event loop the moment a speaker starts speaking (barge-in).
    """
    return SileroHearing(config, stt, on_utterance, on_speech_start)


__all__ = ["ListeningConfig", "SileroHearing", "build_hearing"]
