"""``python run.py say "text" --out reply.ogg [--voice NAME]``: synthesize a voice note from the terminal."""

from __future__ import annotations

import asyncio
import pathlib

from core.model import VoiceClip
from core.speech import VoiceSettings
from voice.config import VoiceConfig
from voice.errors import UnknownVoice
from voice.service import build_speech


async def say(text: str, out: pathlib.Path, voice: str | None, config: VoiceConfig) -> VoiceClip:
    """Synthesize ``text`` into an OGG/Opus file at ``out``.

    Args:
        text: what to say (markdown is stripped like for replies).
        out: where to write the ``.ogg`` file (parent directories are created).
        voice: a configured voice name, or None for the default of the text's language.
        config: the ``voice:`` config.

    Returns:
        The clip that was written.

    Raises:
        UnknownVoice: ``voice`` is not a configured voice (the message lists them).
        SpeechError: synthesis failed (the reason is in the message).
    """
    service = build_speech(config)
    async with service:
        if voice and service.router.find(voice) is None:
            names = ", ".join(sorted(v.name for v in await service.voices()))
            raise UnknownVoice(f"no voice named {voice!r}; configured voices: {names}")
        clip = await service.voice_note(text, VoiceSettings(enabled=True, voice=voice or ""))
    out.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(out.write_bytes, clip.data)
    return clip
