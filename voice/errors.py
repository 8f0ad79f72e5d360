"""Exceptions of the voice layer.

Every one is a :class:`core.errors.SpeechError`, so the core only ever sees that::

    SpeechError (core)
    └── VoiceError
        ├── NothingToSay       the text has nothing speakable (only emoji, punctuation, markup)
        ├── UnknownVoice       a voice name no configured engine offers
        ├── NoVoiceForLanguage no configured voice reads the reply's language
        ├── TtsEngineError     one engine failed (the chain tries the next)
        │   ├── TtsUnavailable the engine cannot run (missing model, breaker open)
        │   └── TtsTimeout     the engine took longer than its budget
        ├── AllEnginesFailed   every candidate engine failed (reasons attached)
        └── AudioError         decoding or encoding audio (ffmpeg) failed
"""

from __future__ import annotations

from core.errors import SpeechError


class VoiceError(SpeechError):
    """Base of the voice layer's errors."""


class NothingToSay(VoiceError):
    """After text preparation nothing speakable is left."""


class UnknownVoice(VoiceError):
    """A voice name that no configured engine offers."""


class NoVoiceForLanguage(VoiceError):
    """No configured voice reads the language of the text."""


class TtsEngineError(VoiceError):
    """A TTS engine failed to synthesize."""


class TtsUnavailable(TtsEngineError):
    """The engine cannot be used right now (not started, model missing, circuit open)."""


class TtsTimeout(TtsEngineError):
    """The engine exceeded its time budget."""


class AllEnginesFailed(VoiceError):
    """Every candidate engine failed; ``reasons`` says why, one line per attempt."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("all TTS engines failed: " + "; ".join(reasons))
        self.reasons = reasons


class AudioError(VoiceError):
    """Audio decoding or encoding failed."""
