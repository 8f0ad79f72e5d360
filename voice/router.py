"""Which voice reads which text: per-language preferences with fallbacks across engines."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from voice.engines.base import TtsEngine
from voice.errors import NoVoiceForLanguage

log = logging.getLogger(__name__)


def base_language(tag: str) -> str:
    """``zh-CN`` -> ``zh``; ``EN`` -> ``en``."""
    return tag.replace("_", "-").split("-")[0].lower()


@dataclass(frozen=True, slots=True)
class VoiceChoice:
    """One engine and voice to try."""

    engine: TtsEngine
    voice: str
    language: str


class VoiceRouter:
    """Orders candidate voices for a language.

    Args:
        engines: in fallback order.
        languages: preferred voice names per language (tried first, in order).
    """

    def __init__(self, engines: list[TtsEngine], languages: dict[str, list[str]]) -> None:
        self._engines = engines
        self._prefs = {base_language(k): v for k, v in languages.items()}
        # Voice lists are fixed by config; availability is checked per call by the engine.
        self._all = [
            VoiceChoice(engine, info.name, base_language(info.language))
            for engine in engines
            for info in engine.voices()
        ]

    def find(self, name: str) -> VoiceChoice | None:
        """The voice called ``name`` (case-insensitive), if configured."""
        wanted = name.strip().lower()
        return next((c for c in self._all if c.voice.lower() == wanted), None)

    def languages(self) -> list[str]:
        """Languages some configured voice reads."""
        return sorted({c.language for c in self._all})

    def candidates(self, language: str, voice: str = "") -> list[VoiceChoice]:
        """Voices to try, best first, for text in ``language``.

        The chosen ``voice`` comes first when it reads that language; otherwise (it reads
        another language, or is unknown) the language's own voices are used, so a Chinese
        reply is never read by an English voice.

        Raises:
            NoVoiceForLanguage: no configured voice reads ``language``.
        """
        lang = base_language(language)
        same = [c for c in self._all if c.language == lang]
        prefs = self._prefs.get(lang, [])
        same.sort(key=lambda c: prefs.index(c.voice) if c.voice in prefs else len(prefs))
        if not same:
            raise NoVoiceForLanguage(
                f"no voice configured for language {lang!r} (configured: {', '.join(self.languages()) or 'none'}); "
                "add one under voice.engines, e.g. edge-tts zh-CN-XiaoxiaoNeural or a Piper model"
            )
        chosen = self.find(voice) if voice else None
        if voice and chosen is None:
            log.info("voice %r is not configured; using the %s default", voice, lang)
        if chosen is not None and chosen.language == lang:
            same.remove(chosen)
            same.insert(0, chosen)
        return same
