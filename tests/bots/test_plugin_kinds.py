"""Kinds a plugin registers besides engines: a TTS engine (its voice notes decoded for real) and a new
platform adapter (messages in, replies out, the bot's commands handed over for its menu)."""

from __future__ import annotations

import asyncio
import itertools
import math
import struct
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bots.errors import ConfigError
from tests.bots.plugin_app import app_config, load, running, web_chat

TONE = '''
import math, struct
from pydantic import BaseModel, Field
from bots.plugin import Plugin
from core.speech import VoiceInfo
from voice.engines.base import TtsEngine
from voice.pcm import Pcm

class ToneConfig(BaseModel):
    hz: float = Field(default=440.0, gt=20, lt=4000)

class ToneEngine(TtsEngine):
    """Half a second of a sine tone per word."""

    def __init__(self, config):
        super().__init__("tone", timeout_s=10)
        self.hz = config.hz

    def voices(self):
        return [VoiceInfo("beeper", "tone", "en")]

    async def _synthesize(self, text, voice, rate):
        n = int(16000 * 0.5 * max(1, len(text.split())))
        data = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * self.hz * i / 16000))) for i in range(n))
        return Pcm(data, 16000)

plugin = Plugin("tone")

@plugin.tts_engine("tone", config=ToneConfig)
def make(config):
    return ToneEngine(config)
'''

LOOPBACK = '''
from pydantic import BaseModel
from bots.plugin import Plugin
from core.adapter import Adapter
from core.model import Addressed, Author, Chat, ChatKind, IncomingMessage

class LoopbackConfig(BaseModel):
    user: str = "tester"

class LoopbackAdapter(Adapter):
    platform = "loopback"

    def __init__(self, adapter_id, bus, config, commands):
        super().__init__(adapter_id, bus)
        self.config, self.commands, self.delivered, self.count = config, commands, [], 0

    async def connect(self):
        pass

    async def deliver(self, event):
        self.delivered.append(event)

    async def say(self, text):
        self.count += 1
        await self.bus.publish(IncomingMessage(
            platform="loopback", origin=self.adapter_id, chat=Chat("room", ChatKind.PRIVATE),
            author=Author(self.config.user, self.config.user), message_id=str(self.count), text=text,
            addressed=Addressed.PRIVATE))

plugin = Plugin("loopback")

@plugin.adapter("loopback", config=LoopbackConfig)
def make(config, env):
    return LoopbackAdapter(env.adapter_id, env.bus, config, env.commands)

@plugin.command("ping", "are you there?")
async def ping(ctx) -> None:
    await ctx.reply(f"pong on {ctx.message.platform}")
'''


def _plugin(tmp_path: Path, name: str, source: str) -> None:
    (tmp_path / "plugins").mkdir(exist_ok=True)
    (tmp_path / "plugins" / f"{name}.py").write_text(textwrap.dedent(source))


def _tone_hz(ogg: bytes, tmp_path: Path) -> float:
    """Decode the voice note with ffmpeg and count zero crossings: the tone's frequency."""
    import subprocess

    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "16000", "pipe:1"]
    pcm = subprocess.run(cmd, input=ogg, capture_output=True, check=True).stdout
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    loud = [s for s in samples if abs(s) > 300]
    crossings = sum(1 for a, b in itertools.pairwise(loud) if (a < 0) != (b < 0))
    return crossings / 2 / (len(loud) / 16000)


async def test_a_plugin_tts_engine_speaks_the_voice_notes(tmp_path: Path) -> None:
    _plugin(tmp_path, "tone", TONE)
    raw = app_config(tmp_path, plugin_dirs=["plugins"])
    raw["voice"] = {"enabled": True, "engines": [{"kind": "tone", "hz": 600}], "cache": {"dir": str(tmp_path / "cache")}}
    config = load(raw, tmp_path)
    async with running(config, tmp_path) as app, web_chat(app) as chat:
        assert (await chat.ask("/voices"))["text"] == "Voices (use /voice NAME):\n- beeper [en, tone]"
        await chat.ask("/voice on")
        await chat.send("hello there")
        voice, _ = await chat.until("voice", timeout=30)
        import aiohttp

        url = app.bots[0].adapters[0].url.rstrip("/")  # type: ignore[attr-defined]
        async with aiohttp.ClientSession() as http, http.get(url + voice["url"]) as response:
            ogg = await response.read()
    assert ogg[:4] == b"OggS" and voice["duration_s"] > 0.5
    assert math.isclose(_tone_hz(ogg, tmp_path), 600, rel_tol=0.1)


async def test_a_plugin_adapter_is_built_from_its_section_and_gets_the_commands(tmp_path: Path) -> None:
    _plugin(tmp_path, "loopback", LOOPBACK)
    bot: dict[str, Any] = {"name": "b", "engines": [{"kind": "echo", "prefix": "heard: "}],
                           "adapters": {"loopback": {"user": "ann"}}}
    config = load(app_config(tmp_path, bots=[bot], plugin_dirs=["plugins"]), tmp_path)
    async with running(config, tmp_path) as app:
        (adapter,) = app.bots[0].adapters
        assert adapter.adapter_id == "b.loopback" and "ping" in [c.name for c in adapter.commands]  # type: ignore[attr-defined]
        await adapter.say("/ping")  # type: ignore[attr-defined]
        await adapter.say("hi")  # type: ignore[attr-defined]
        for _ in range(200):
            texts = [getattr(e, "text", None) for e in adapter.delivered]  # type: ignore[attr-defined]
            if "heard: hi" in texts:
                break
            await asyncio.sleep(0.02)
    assert [t for t in texts if t] == ["pong on loopback", "heard: hi"]


def test_a_plugin_adapter_section_is_validated_by_its_model(tmp_path: Path) -> None:
    _plugin(tmp_path, "loopback", LOOPBACK)
    bot: dict[str, Any] = {"name": "b", "engines": [{"kind": "echo"}], "adapters": {"loopback": {"user": 5}}}
    with pytest.raises(ConfigError, match=r"bots.0.adapters.loopback.user: Input should be a valid string"):
        load(app_config(tmp_path, bots=[bot], plugin_dirs=["plugins"]), tmp_path)
    bot["adapters"] = {"loopbak": {}}
    with pytest.raises(ConfigError, match=r"unknown adapter 'loopbak' \(did you mean 'loopback'\?\); known: console, discord, loopback"):
        load(app_config(tmp_path, bots=[bot], plugin_dirs=["plugins"]), tmp_path)
