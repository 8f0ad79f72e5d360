"""Fuzz soak: 10,000 seeded hostile cases against the real stack, reporting crashes, lost and doubled.

The same generators as the CI fuzz suite (``tests/fuzz/cases.py``), in bigger numbers:

* Telegram: junk updates among valid messages, long-polled from the fake Bot API while it
  answers a share of sends with 429 and 500; every valid message must be answered once.
* web: hostile frames over parallel WebSocket tabs sharing sessions; every valid message must be
  acknowledged once to its tab and answered once to every tab of its session.
* config: one odd value in a valid config; must validate or raise ``ConfigError``.
* audio: mutated OGG/Opus notes and random bytes through ffmpeg decoding; must decode or raise ``AudioError``.

Columns: ``valid`` is the answers owed (telegram: valid messages; web: valid messages times the
tabs of their session), configs accepted, or audio decoded; ``answered`` counts correct answers.

A crash is an exception of the wrong kind, a socket or poller that died, or a traceback in the log.

Run: ``.venv/bin/python bench/fuzz_soak.py [--seed N] [--cases 10000]`` (not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from adapters.telegram.adapter import TelegramAdapter
from adapters.web.config import WebConfig
from bots.config import parse_config
from bots.errors import ConfigError
from core.bus import InProcessBus
from core.engine import Persona
from core.engines.echo import EchoEngine
from core.pipeline.context import BotServices
from core.pipeline.pipeline import Pipeline
from core.pipeline.settings import FloodLimits, PipelineSettings
from core.stores.memory import MemoryConversationStore, MemoryDedupeStore, MemoryRateCounter, MemorySettingsStore
from tests.adapters.telegram.conftest import make_config
from tests.adapters.telegram.fake_bot_api import FakeBotApi
from tests.adapters.web.harness import running_bot
from tests.fuzz.cases import audio_bytes, config_case, telegram_update, web_frame
from voice.audio import decode_to_pcm, encode_voice_note, find_ffmpeg, polish
from voice.errors import AudioError
from voice.pcm import Pcm


@dataclass
class Report:
    name: str
    cases: int = 0
    valid: int = 0
    answered: int = 0
    lost: int = 0
    doubled: int = 0
    crashes: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        rate = self.cases / self.seconds if self.seconds else 0.0
        return (
            f"{self.name:<9} {self.cases:>6} {self.valid:>6} {self.answered:>8} {self.lost:>5} {self.doubled:>7}"
            f" {self.crashes:>7} {self.seconds:>7.1f} {rate:>9.0f}"
        )


class TracebackCounter(logging.Handler):
    """Counts log records that carry a traceback (each is a crash of some task)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(f"{record.name}: {record.getMessage()[:200]}")


async def soak_telegram(rng: random.Random, n: int, tracebacks: TracebackCounter) -> Report:
    report = Report("telegram", cases=n)
    chats = [3001 + i for i in range(20)]
    junk_chats = [3101 + i for i in range(20)]
    ids = itertools.count(1)
    cases = [telegram_update(rng, chats, junk_chats, ids) for _ in range(n)]
    expected = {c: [x.answer for x in cases if x.chat_id == c and x.answer is not None] for c in chats}
    report.valid = sum(len(v) for v in expected.values())
    before = len(tracebacks.records)
    started = time.perf_counter()
    async with FakeBotApi() as api:
        api.fail_share("429", 0.05, {"sendMessage"}, retry_after=0.05)
        api.fail_share("500", 0.05, {"sendMessage"})
        bus = InProcessBus()
        await bus.start()
        services = BotServices(
            "soak", Persona(), EchoEngine(), MemoryConversationStore(), MemorySettingsStore(), MemoryDedupeStore(),
            MemoryRateCounter(), config=PipelineSettings(flood=FloodLimits(per_user=0, per_chat=0)),
        )
        pipeline = Pipeline(services, bus)
        adapter = TelegramAdapter(
            "soak-tg", bus,
            make_config(api, rate_limits={"per_chat": 1000, "per_group": 1000, "overall": 1000},
                        retry={"max_tries": 20, "backoff_base_s": 0.02, "backoff_max_s": 0.1}, chat_action_delay_s=0),
        )
        await pipeline.start()
        await adapter.start()
        for case in cases:
            api.inject(case.body)
        deadline = time.monotonic() + 120
        while sum(len(api.texts(c)) for c in chats) < report.valid and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await pipeline.idle()
        await asyncio.sleep(0.5)
        alive = adapter.poller is not None and adapter.poller._task is not None and not adapter.poller._task.done()
        await adapter.stop()
        await pipeline.stop()
        await bus.stop()
        report.seconds = time.perf_counter() - started
        for chat in chats:
            got = Counter(api.texts(chat))
            want = Counter(expected[chat])
            report.answered += sum(min(got[t], want[t]) for t in want)
            report.lost += sum(max(0, want[t] - got[t]) for t in want)
            report.doubled += sum(max(0, got[t] - want[t]) for t in got)
        for chat in junk_chats:
            report.doubled += sum(n - 1 for n in Counter(api.texts(chat)).values() if n > 1)
    report.crashes = (0 if alive else 1) + len(tracebacks.records) - before
    return report


async def soak_web(rng: random.Random, n: int, tracebacks: TracebackCounter) -> Report:
    report = Report("web", cases=n)
    tabs, sessions, max_bytes = 100, 25, 4096
    per_tab = max(1, n // tabs)
    report.cases = per_tab * tabs
    serial = itertools.count(1)
    plans = [[web_frame(rng, serial, max_bytes) for _ in range(per_tab)] for _ in range(tabs)]
    session_of = [f"soak-session-{i % sessions:03d}" for i in range(tabs)]
    members: dict[str, set[str]] = {}
    for plan, s in zip(plans, session_of, strict=True):
        members.setdefault(s, set()).update(f.msg_id for f in plan if f.msg_id)
    answers = {f.msg_id: f.answer for p in plans for f in p if f.msg_id}
    report.valid = len(answers)
    before = len(tracebacks.records)
    started = time.perf_counter()
    async with aiohttp.ClientSession() as http, running_bot(EchoEngine(), config=WebConfig(port=0, max_frame_bytes=max_bytes)) as bot:
        sockets = [await http.ws_connect(f"{bot.ws_url}?session={s}", max_msg_size=0) for s in session_of]
        for ws in sockets:
            await ws.receive()  # welcome

        async def tab(ws: aiohttp.ClientWebSocketResponse, plan: list, expect: set[str]) -> tuple[Counter[str], Counter[str], dict[str, str], bool]:
            done: Counter[str] = Counter()
            acks: Counter[str] = Counter()
            texts: dict[str, str] = {}

            async def read(until_complete: bool) -> bool:
                while not (until_complete and expect <= set(done)):
                    msg = await ws.receive()
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        return False
                    frame = json.loads(msg.data)
                    if frame["type"] == "done":
                        done[frame["in_reply_to"]] += 1
                        texts[frame["in_reply_to"]] = frame["text"]
                    elif frame["type"] == "ack":
                        acks[frame["id"]] += 1
                return True

            reader = asyncio.create_task(read(True))
            for frame in plan:
                await (ws.send_bytes(frame.data) if isinstance(frame.data, bytes) else ws.send_str(frame.data))
            ok = True
            try:
                ok = await asyncio.wait_for(reader, 120)
            except TimeoutError:
                pass
            extra = asyncio.create_task(read(False))
            await asyncio.sleep(0.5)
            extra.cancel()
            return done, acks, texts, ok and not ws.closed

        results = await asyncio.gather(*(tab(ws, p, members[s]) for ws, p, s in zip(sockets, plans, session_of, strict=True)))
        for ws in sockets:
            await ws.close()
    report.seconds = time.perf_counter() - started
    for (done, acks, texts, ok), plan, s in zip(results, plans, session_of, strict=True):
        report.crashes += 0 if ok else 1
        for msg_id in members[s]:
            if done[msg_id] == 0:
                report.lost += 1
            else:
                report.doubled += done[msg_id] - 1
                report.answered += 1 if texts[msg_id] == answers[msg_id] else 0
        report.doubled += sum(max(0, acks[f.msg_id] - 1) for f in plan if f.msg_id)
    report.valid = sum(len(members[s]) for s in session_of)  # answers owed: one per tab of the session
    report.crashes += len(tracebacks.records) - before
    return report


def soak_config(rng: random.Random, n: int) -> Report:
    report = Report("config", cases=n)
    started = time.perf_counter()
    for _ in range(n):
        case = config_case(rng)
        try:
            parse_config(case.raw, env={"X": "1"})
            report.valid += 1
        except ConfigError:
            pass
        except Exception as exc:  # noqa: BLE001 - counting crashes is the point
            report.crashes += 1
            print(f"config crash: {'.'.join(map(str, case.path))} = {case.value!r}: {exc!r}", file=sys.stderr)
    report.seconds = time.perf_counter() - started
    return report


async def soak_audio(rng: random.Random, n: int) -> Report:
    report = Report("audio", cases=n)
    ffmpeg = find_ffmpeg()
    tone = Pcm(bytes(rng.randrange(256) for _ in range(16000)), 16000)
    sample = (await encode_voice_note(ffmpeg, polish(tone), 32, 1_000_000)).data
    started = time.perf_counter()
    limit = asyncio.Semaphore(4)

    async def one(data: bytes) -> str:
        async with limit:
            try:
                await decode_to_pcm(ffmpeg, data, 16000)
                return "decoded"
            except AudioError:
                return "refused"
            except Exception as exc:  # noqa: BLE001
                print(f"audio crash: {exc!r}", file=sys.stderr)
                return "crash"

    outcomes = Counter(await asyncio.gather(*(one(audio_bytes(rng, sample)) for _ in range(n))))
    report.valid = outcomes["decoded"]
    report.crashes = outcomes["crash"]
    report.seconds = time.perf_counter() - started
    return report


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--cases", type=int, default=10_000)
    args = parser.parse_args()
    tracebacks = TracebackCounter()
    logging.getLogger().addHandler(tracebacks)
    logging.getLogger().setLevel(logging.WARNING)
    rng = random.Random(args.seed)
    n = args.cases
    shares = {"telegram": 0.4, "web": 0.4, "config": 0.15, "audio": 0.05}
    reports = [
        await soak_telegram(rng, int(n * shares["telegram"]), tracebacks),
        await soak_web(rng, int(n * shares["web"]), tracebacks),
        soak_config(rng, int(n * shares["config"])),
        await soak_audio(rng, int(n * shares["audio"])),
    ]
    print(f"fuzz soak, seed {args.seed}, {sum(r.cases for r in reports):,} cases")
    print(f"{'input':<9} {'cases':>6} {'valid':>6} {'answered':>8} {'lost':>5} {'doubled':>7} {'crashes':>7} {'wall s':>7} {'cases/s':>9}")
    for report in reports:
        print(report.line())
    for line in tracebacks.records[:10]:
        print("traceback:", line)


if __name__ == "__main__":
    asyncio.run(main())
