"""The command line: ``python run.py [run|chat|check|say|train|eval]``, also installed as ``voicebots``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from bots.config import AppConfig, load_config
from bots.errors import ConfigError
from bots.logs import collect_secrets, setup_logging
from core import eventloop, gctune

log = logging.getLogger("bots")

_CHECKOUT_CONFIG = Path(__file__).resolve().parent.parent / "config.yaml"
# a source checkout (run.py, or `pip install -e .`) uses its config.yaml; an installed package the current folder's
DEFAULT_CONFIG = _CHECKOUT_CONFIG if _CHECKOUT_CONFIG.is_file() else Path("config.yaml")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voicebots" if Path(sys.argv[0]).name == "voicebots" else "run.py",
        description="Voice-capable chat bots for Discord, Telegram and the web. "
        "With no command, runs every bot in the config (the web chat on localhost by default); "
        "the options of 'run' work without naming it: run.py --metrics-port 9464.",
    )
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="config file (default: config.yaml)")
    parser.add_argument("--log-level", default=None, help="override logging.level (DEBUG, INFO, ...)")
    # the same two options are accepted after the command too: run.py worker --config prod.yaml
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="config file (default: config.yaml)")
    common.add_argument("--log-level", default=argparse.SUPPRESS, help="override logging.level")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", parents=[common], help="run the bots in the config, adapters and pipeline in one process (the default)")
    run.add_argument("--metrics-port", type=int, default=None, help="serve /metrics and /healthz on this port (0: any free port)")
    gateway = sub.add_parser("gateway", parents=[common], help="run only the adapters, publishing to the redis bus (scale-out)")
    gateway.add_argument("--name", default="", help="this gateway's name; suffixes its adapter ids so replies return here")
    gateway.add_argument("--shards", default=None, help="Discord shard ids this gateway runs, e.g. 0,1 (needs shard_count)")
    gateway.add_argument("--metrics-port", type=int, default=None, help="serve /metrics and /healthz on this port")
    worker = sub.add_parser("worker", parents=[common], help="run only the pipeline, engines and voice, reading the redis bus (scale-out)")
    worker.add_argument("--name", default="", help="consumer name in the redis group (default: host:pid)")
    worker.add_argument("--metrics-port", type=int, default=None, help="serve /metrics and /healthz on this port")
    chat = sub.add_parser("chat", parents=[common], help="talk to a bot in the terminal")
    chat.add_argument("--bot", default=None, help="bot name (default: the first bot)")
    sub.add_parser("check", parents=[common], help="validate the config and report what is installed and usable")
    say = sub.add_parser("say", parents=[common], help="synthesize text to a voice note")
    say.add_argument("text")
    say.add_argument("--out", default="reply.ogg", help="output file (OGG/Opus)")
    say.add_argument("--voice", default=None, help="voice name (see check or /voices)")
    hear = sub.add_parser("hear", parents=[common], help="transcribe a recording (voice note, audio file) to text")
    hear.add_argument("file")
    hear.add_argument("--language", default=None, help="force a language (default: detect; tiny.en: English)")
    train = sub.add_parser("train", help="train the generative model (args passed on; try: train --help)", add_help=False)
    train.add_argument("args", nargs=argparse.REMAINDER)
    ev = sub.add_parser("eval", help="evaluate the generative model against retrieval (try: eval --help)", add_help=False)
    ev.add_argument("args", nargs=argparse.REMAINDER)
    return parser


_TAKES_VALUE = {"--config", "--log-level"}

COMMANDS = {"run", "gateway", "worker", "chat", "check", "say", "hear", "train", "eval"}


def with_default_command(argv: list[str], commands: set[str]) -> list[str]:
    """``argv`` with ``run`` put first when no command is named, so ``run.py --metrics-port 9464`` works.

    ``--help`` alone is left as is (it shows every command).
    """
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _TAKES_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return argv if arg in commands else ["run", *argv]
    if any(arg in {"-h", "--help"} for arg in argv):
        return argv
    return ["run", *argv]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "train":  # everything after is the trainer's own arguments
        from core.engines.generative.train import main as train_main

        return train_main(argv[1:])
    if argv and argv[0] == "eval":
        from core.engines.generative.evaluate import main as eval_main

        return eval_main(argv[1:])
    parser = _parser()
    args = parser.parse_args(with_default_command(argv, COMMANDS))
    command = args.command or "run"
    if command in {"train", "eval"}:
        print(f"put '{command}' first: python run.py {command} --help", file=sys.stderr)
        return 2
    if not Path(args.config).exists() and args.config == str(DEFAULT_CONFIG):
        print(
            f"no {args.config} in {Path.cwd()}: pass --config FILE, or start from the example config.yaml in the "
            "project's repository (README: Configuration reference)",
            file=sys.stderr,
        )
        return 2
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"config error:\n{exc}", file=sys.stderr)
        return 2
    level = args.log_level or ("WARNING" if command in {"chat", "say", "check", "hear"} else config.logging.level)
    secrets = collect_secrets(config) + [
        secret for plugin in config.registry.plugins if plugin.settings is not None for secret in collect_secrets(plugin.settings)
    ]
    setup_logging(level.upper(), secrets, config.logging.json_format)
    base = Path(args.config).resolve().parent
    if command == "check":
        from bots.check import check

        return eventloop.run(check(config, base))
    if command == "say":
        return eventloop.run(_say(config, args.text, Path(args.out), args.voice))
    if command == "hear":
        return eventloop.run(_hear(config, Path(args.file), args.language))
    if command == "chat":
        return eventloop.run(_chat(config, base, args.bot))
    role = command if command in {"gateway", "worker"} else "all"
    try:
        shards = _shard_list(getattr(args, "shards", None))
    except ValueError as exc:
        print(f"--shards: {exc}", file=sys.stderr)
        return 2
    try:
        return eventloop.run(_run(config, base, role, getattr(args, "name", ""), shards, getattr(args, "metrics_port", None)))
    except KeyboardInterrupt:  # Ctrl+C before the signal handlers were in place
        print("stopped during start-up: 0 replies delivered", flush=True)
        return 130


def _shard_list(value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"expected comma-separated shard ids like 0,1; got {value!r}") from None


def _stop_on_signal() -> asyncio.Event:
    """An event set by Ctrl+C or SIGTERM; installed before start-up, so an early Ctrl+C also stops cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # pragma: no cover - Windows
            pass
    return stop


async def _run(
    config: AppConfig,
    base: Path,
    role: str = "all",
    name: str = "",
    shards: list[int] | None = None,
    metrics_port: int | None = None,
) -> int:
    from bots.runtime import App

    if metrics_port is not None:
        config.observability.enabled = True
        config.observability.port = metrics_port
    stop = _stop_on_signal()
    log.info("event loop: %s", eventloop.loop_name())
    try:
        app = App(config, base, role=role, instance=name, shard_ids=shards)  # type: ignore[arg-type]
    except ConfigError as exc:
        print(f"config error:\n{exc}", file=sys.stderr)
        return 2
    try:
        await app.start()
    except Exception:
        log.exception("could not start")
        await app.stop()
        return 1
    gctune.tune_for_service()  # after start-up: what it allocated stays for the life of the process
    for bot in app.bots:
        if bot.pipeline is not None and role == "worker":
            print(f"{bot.name}: worker {app.instance_name} reading the redis bus", flush=True)
        for supervisor in bot.supervisors:
            adapter = supervisor.adapter
            url = getattr(adapter, "url", None) if supervisor.running else None
            if supervisor.connecting:
                print(f"{bot.name}: {adapter.platform} still connecting, in the background", flush=True)
            elif not supervisor.running:
                print(f"{bot.name}: {adapter.platform} not connected ({supervisor.last_error}); retrying in the background", flush=True)
            elif url:
                print(f"{bot.name}: web chat at {url}", flush=True)
            else:
                print(f"{bot.name}: {adapter.platform} connected", flush=True)
    if app.observability is not None:
        print(f"metrics at {app.observability.url}metrics, health at {app.observability.url}healthz", flush=True)
    print("Press Ctrl+C to stop.", flush=True)
    try:
        await stop.wait()
    finally:
        before = replies_delivered()
        await app.stop()
        after = replies_delivered()
        print(f"stopped: {after} repl{'y' if after == 1 else 'ies'} delivered, {after - before} of them while stopping", flush=True)
    return 0


def replies_delivered() -> int:
    """Text replies (``ReplyDone``) this process's adapters delivered so far, from the metrics counter."""
    from core import metrics

    return int(
        sum(
            sample.value
            for family in metrics.MESSAGES_OUT.collect()
            for sample in family.samples
            if sample.name.endswith("_total") and sample.labels.get("kind") == "ReplyDone"
        )
    )


async def _chat(config: AppConfig, base: Path, bot_name: str | None) -> int:
    from adapters.console.adapter import ConsoleAdapter
    from bots.runtime import App

    name = bot_name or config.bots[0].name
    if name not in {b.name for b in config.bots}:
        print(f"no bot named {name!r}; the config has: {', '.join(b.name for b in config.bots)}", file=sys.stderr)
        return 2
    app = App(config, base, console_only=name)
    await app.start()
    try:
        console = app.bots[0].adapters[0]
        assert isinstance(console, ConsoleAdapter)
        await console.closed.wait()
        pipeline = app.bots[0].pipeline
        if pipeline is not None:  # answer what was typed last before closing
            await pipeline.idle()
    finally:
        await app.stop()
    return 0


async def _say(config: AppConfig, text: str, out: Path, voice_name: str | None) -> int:
    from voice.cli import say
    from voice.errors import UnknownVoice

    try:
        clip = await say(text, out, voice_name, config.voice)
    except UnknownVoice as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one clear line for the user
        print(f"could not synthesize: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({clip.duration_s:.2f} s, {len(clip.data):,} bytes, voice {clip.voice or '?'} via {clip.engine or '?'})")
    return 0


async def _hear(config: AppConfig, file: Path, language: str | None) -> int:
    from core.stt import BadAudio, TranscriptionError
    from voice.stt.cli import hear

    try:
        transcript, load_s = await hear(file, config.voice.stt, language)
    except OSError as exc:
        print(f"cannot read {file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except BadAudio as exc:
        print(f"{exc.reason}: {exc}", file=sys.stderr)
        return 1
    except TranscriptionError as exc:
        print(f"could not transcribe: {exc}", file=sys.stderr)
        return 1
    print(transcript.text)
    print(
        f"({transcript.duration_s:.2f} s of {transcript.language or '?'} speech "
        f"(p={transcript.language_probability:.2f}) transcribed in {transcript.elapsed_s * 1000:.0f} ms, "
        f"RTF {transcript.real_time_factor:.3f}, via {transcript.engine}; engines started in {load_s * 1000:.0f} ms)",
        file=sys.stderr,
    )
    return 0
