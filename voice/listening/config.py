"""Config of listening in voice channels (each bot's ``voice_channel.listening`` section; ``bots`` wires it)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ListeningConfig(BaseModel):
    """How a bot hears people in a voice channel.

    Attributes:
        enabled: listen at all (an admin still turns it on per guild with ``/listen on``).
        mode: ``wake_word``: only utterances that start with the bot's name or a wake word are answered;
            ``always``: every utterance is.
        wake_words: words that address the bot besides its name (``hey bot``, ``computer``).
        barge_in: what the bot's own speech does when someone starts speaking: ``stop`` it (and clear
            the rest of that answer), ``duck`` it (play it quieter), or ``ignore`` it.
        language: force the transcription language; empty detects it (``.en`` models: always ``en``).
        vad_threshold: Silero speech probability at which speech starts (0.5 suits most microphones);
            speech goes on until the probability falls under ``vad_threshold - 0.15`` (hysteresis).
        start_ms: speech needed before the start of speech is reported (barge-in); one VAD window is 32 ms.
        min_utterance_ms: shorter bursts (a cough, a click, "mm") are dropped without transcribing.
        end_silence_ms: silence that ends an utterance.
        eager_ms: after this much silence transcription starts already, before the end is certain (the
            answer comes ``end_silence_ms - eager_ms`` sooner); if the speaker goes on, that transcription
            is thrown away (CPU spent for nothing). 0, or not shorter than ``end_silence_ms``: off.
        preroll_ms: audio kept from before the detected start, so the first syllable is not cut.
        max_utterance_s: longer speech is cut here; the first part is transcribed with ``truncated``.
        max_concurrent: transcriptions running at once per room (guild).
        queue: utterances waiting per room; when full the oldest waiting one is dropped (logged).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    mode: Literal["wake_word", "always"] = "wake_word"
    wake_words: list[str] = Field(default_factory=list)
    barge_in: Literal["stop", "duck", "ignore"] = "stop"
    language: str = ""
    vad_threshold: float = Field(default=0.5, gt=0.15, lt=1.0)
    start_ms: int = Field(default=32, ge=32, le=1000)
    min_utterance_ms: int = Field(default=200, ge=0, le=5000)
    end_silence_ms: int = Field(default=600, ge=100, le=10_000)
    eager_ms: int = Field(default=300, ge=0, le=10_000)
    preroll_ms: int = Field(default=300, ge=0, le=2000)
    max_utterance_s: float = Field(default=15.0, ge=1.0, le=120.0)
    max_concurrent: int = Field(default=2, ge=1, le=16)
    queue: int = Field(default=8, ge=1, le=256)

    @model_validator(mode="after")
    def _wake_words_are_words(self) -> Self:
        if any(not word.strip() for word in self.wake_words):
            raise ValueError("wake_words: an empty wake word would match everything")
        return self
