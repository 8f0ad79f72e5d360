"""Sampling settings and models side by side on held-out replies, with paired differences.

Sampling settings are chosen on the **validation** conversations (``--split valid``, the
default), never on the test split; ``--split test`` then compares the chosen setting's models
once. For each (model, setting) row: the metrics ``run.py eval`` prints (distinct-1/2, average
length, F1, BLEU-2, coherence) on the same sampled (context, reply) pairs with the same seed,
and the paired difference of F1 and coherence against the first row, with its 95% interval
(1.96 standard errors of the per-reply differences), so a change can be told from noise.

A setting is ``temperature,top_k,top_p,repetition_penalty``; the first one given is the baseline.
The load average is printed: the machine is shared.

Usage::

    .venv/bin/python bench/decoding.py [--split valid] [--samples 300] [--model models/chitchat ...]
        [--settings "0.8,40,0.9,1.2;0.7,40,0.9,1.2"]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import torch

from bench.stats import percentile
from core.engines.generative.data import load_splits
from core.engines.generative.engine import GenerativeEngine
from core.engines.generative.evaluate import answer, as_conversation, sample_pairs, scores
from core.engines.generative.generate import Sampling
from core.engines.generative.metrics import f1, words
from core.engines.generative.text import tokenize
from core.engines.kb.embedders import load_embedder

#: The shipped sampling first (the baseline), then cooler, hotter, and other penalties.
DEFAULT_SETTINGS = (
    "0.8,40,0.9,1.2;0.7,40,0.9,1.2;0.6,40,0.9,1.2;0.9,40,0.9,1.2;"
    "0.8,40,0.9,1.0;0.8,40,0.9,1.4;0.7,40,0.9,1.4;0.8,40,0.8,1.2"
)


def parse_settings(text: str, max_tokens: int) -> list[Sampling]:
    """``"t,k,p,r;t,k,p,r"`` as :class:`Sampling` values."""
    out = []
    for part in filter(None, (s.strip() for s in text.split(";"))):
        t, k, p, r = part.split(",")
        out.append(Sampling(float(t), int(k), float(p), float(r), max_tokens))
    return out


def cosines(a: np.ndarray, b: np.ndarray, keep: list[bool]) -> list[float]:
    """Per-pair cosine of normalized rows; 0 where ``keep`` is False (an empty reply)."""
    sims = iter((a * b).sum(axis=1).tolist())
    return [next(sims) if k else 0.0 for k in keep]


def interval(diffs: list[float]) -> str:
    """``+mean ± 1.96·SE``."""
    se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else 0.0
    return f"{statistics.fmean(diffs):+.4f} ± {1.96 * se:.4f}"


async def run(args: argparse.Namespace) -> None:
    splits = load_splits(1234, [], chitchat=True, chatterbot=True)
    held_out = splits.valid if args.split == "valid" else splits.test
    pairs = sample_pairs(held_out, args.samples, args.seed, 5)
    refs, contexts = [r for _, r in pairs], [c for c, _ in pairs]
    ref_words = [words(tokenize(r)) for r in refs]
    embedder = load_embedder("e5")
    assert embedder is not None
    last_turns = embedder.embed([c[-1] for c in contexts], query=True)
    print(f"{args.split} split: {len(held_out)} conversations, {len(pairs)} sampled replies (seed {args.seed})")
    cols = ["distinct-1", "distinct-2", "avg length", "F1", "BLEU-2", "coherence", "p50 ms"]
    print(
        f"{'model':<22}{'t,k,p,rep':<18}" + "".join(f"{c:>11}" for c in cols) + "   ΔF1 (95%)          Δcoherence (95%)"
    )
    base: tuple[list[float], list[float]] | None = None
    for model in args.model:
        for sampling in parse_settings(args.settings, args.max_tokens):
            gen = GenerativeEngine(model, sampling, context_turns=4, seed=args.seed, threads=args.threads)
            replies, took = [], []
            async with gen:
                for ctx in contexts:
                    started = time.perf_counter()
                    replies.append(await answer(gen, as_conversation(ctx)))
                    took.append(time.perf_counter() - started)
            keep = [bool(r.strip()) for r in replies]
            embedded = embedder.embed([r if r.strip() else "." for r in replies], query=True)
            coh = cosines(last_turns, embedded, keep)
            f1s = [f1(words(tokenize(h)), r) for h, r in zip(replies, ref_words, strict=True)]
            row = scores(replies, refs) | {"coherence": statistics.fmean(coh), "p50 ms": percentile(took, 50) * 1000}
            base = base or (f1s, coh)
            delta = f"   {interval([a - b for a, b in zip(f1s, base[0])]):<19}{interval([a - b for a, b in zip(coh, base[1])])}"
            setting = f"{sampling.temperature:g},{sampling.top_k},{sampling.top_p:g},{sampling.repetition_penalty:g}"
            name = Path(model).name if Path(model).name != "model.pt" else Path(model).parent.name
            print(f"{name:<22}{setting:<18}" + "".join(f"{row[c]:>11.4f}" for c in cols) + delta, flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", default=[], help="model directory; repeatable (default models/chitchat)")
    p.add_argument("--split", choices=["valid", "test"], default="valid")
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--seed", type=int, default=1234, help="pair sampling and reply sampling seed")
    p.add_argument("--settings", default=DEFAULT_SETTINGS, help="t,k,p,rep;... (the first is the baseline)")
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--threads", type=int, default=1, help="torch threads of the generative engine")
    args = p.parse_args()
    args.model = args.model or ["models/chitchat"]
    torch.set_num_threads(args.threads)
    print("load average:", Path("/proc/loadavg").read_text().split()[:3])
    asyncio.run(run(args))
    print("load average:", Path("/proc/loadavg").read_text().split()[:3])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
