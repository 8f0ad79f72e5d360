"""Evaluating the generative model against the retrieval engine: ``python run.py eval`` calls :func:`main`.

On the held-out test conversations (the same by-conversation split as training,
same ``--seed``; ``--split valid`` scores the validation conversations instead, the
split on which to choose sampling settings) it prints:

* perplexity of reply tokens given up to a window of preceding turns, and the
  perplexity of an add-one unigram model fitted on the training split;
* for ``--samples`` (context, reply) pairs: distinct-1/2, average reply length,
  unigram F1 and BLEU-2 against the real reply, and a coherence proxy (mean cosine
  similarity of multilingual-e5-small embeddings of the last context turn and the
  reply), for the generative model (with
  its configured sampling and a fixed seed) and for
  :class:`~core.engines.retrieval.RetrievalEngine` given the training split's
  consecutive turns as its pairs (so neither has seen the test conversations).

So that a run stays under two minutes on two loaded cores, the defaults sample: perplexity on
``--ppl-conversations`` test conversations (40 of 200), the unigram baseline fitted on
``--unigram-conversations`` training conversations (2,000), ``--samples`` 100 replies; all with
the seed, and 0 means all. A progress bar follows the stages and the replies.

``--model`` may be given more than once: each model gets its own perplexity and row, on the
same sampled pairs with the same sampling seed, next to one retrieval engine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import random
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from tqdm import tqdm

from core.engine import Conversation, DialogueEngine
from core.engines.corpus import Pair
from core.engines.generative.data import Window, load_splits, make_windows
from core.engines.generative.engine import GenerativeEngine
from core.engines.generative.generate import Sampling
from core.engines.generative.metrics import bleu2, distinct, f1, unigram_perplexity, words
from core.engines.generative.text import tokenize
from core.engines.generative.train import batches
from core.engines.generative.vocab import Vocab
from core.engines.retrieval import RetrievalEngine
from core.errors import NoAnswer
from core.model import Turn


def reply_targets(window: Window, vocab: Vocab) -> list[tuple[int, int]]:
    """(index, id) of the tokens scored in ``window``: words and ``<eos>`` of every turn after the first."""
    speakers = (vocab.user, vocab.bot)
    return [(t, window.ids[t]) for t in range(window.context_end, len(window.ids)) if window.ids[t] not in speakers]


@torch.no_grad()
def model_perplexity(engine: GenerativeEngine, windows: Sequence[Window], batch_size: int = 64) -> float:
    """Per-token perplexity of the reply tokens of ``windows``."""
    assert engine.loaded is not None
    model, vocab = engine.loaded.model, engine.loaded.vocab
    nll, count = 0.0, 0
    for start in range(0, len(windows), batch_size):
        chunk = windows[start : start + batch_size]
        batch = next(batches(chunk, len(chunk), vocab.pad, None))
        logits, _ = model(batch[:, :-1])
        losses = F.cross_entropy(logits.transpose(1, 2), batch[:, 1:], reduction="none")
        keep = torch.zeros_like(losses, dtype=torch.bool)
        for row, w in enumerate(chunk):
            for t, _ in reply_targets(w, vocab):
                keep[row, t - 1] = True
        nll += float(losses[keep].sum())
        count += int(keep.sum())
    return math.exp(nll / max(count, 1))


def sample_pairs(
    conversations: Sequence[list[str]], n: int, seed: int, context_turns: int
) -> list[tuple[list[str], str]]:
    """``n`` random (context turns, real reply) pairs from ``conversations``."""
    all_pairs = [(conv[max(0, i - context_turns) : i], conv[i]) for conv in conversations for i in range(1, len(conv))]
    random.Random(seed).shuffle(all_pairs)
    return all_pairs[:n]


def as_conversation(context: Sequence[str]) -> Conversation:
    """The engine input for ``context``: its last turn is the user's message, turns alternate before it."""
    turns = tuple(Turn("user" if (len(context) - 1 - i) % 2 == 0 else "bot", t) for i, t in enumerate(context[:-1]))
    return Conversation(text=context[-1], turns=turns)


async def answer(engine: DialogueEngine, conversation: Conversation) -> str:
    """The engine's whole reply ('' when it declines)."""
    try:
        return "".join([piece async for piece in engine.reply(conversation)])
    except NoAnswer:
        return ""


def coherence(contexts: Sequence[Sequence[str]], replies: Sequence[str]) -> float:
    """Mean embedding cosine between each context's last turn and its reply (empty replies count 0)."""
    from core.engines.kb.embedders import load_embedder

    embedder = load_embedder("e5")
    assert embedder is not None
    kept = [(ctx[-1], r) for ctx, r in zip(contexts, replies, strict=True) if r.strip()]
    if not kept:
        return 0.0
    a = embedder.embed([c for c, _ in kept], query=True)
    b = embedder.embed([r for _, r in kept], query=True)
    return float((a * b).sum(axis=1).sum()) / len(replies)


def scores(replies: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """distinct-1/2, average length (tokens), F1 and BLEU-2 of ``replies`` against ``references``."""
    hyp = [tokenize(r) for r in replies]
    ref = [tokenize(r) for r in references]
    return {
        "distinct-1": distinct(hyp, 1),
        "distinct-2": distinct(hyp, 2),
        "avg length": sum(map(len, hyp)) / max(len(hyp), 1),
        "F1": sum(f1(words(h), words(r)) for h, r in zip(hyp, ref)) / max(len(hyp), 1),
        "BLEU-2": bleu2([words(h) for h in hyp], [words(r) for r in ref]),
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line of :func:`main`."""
    p = argparse.ArgumentParser(
        prog="run.py eval", description="Evaluate the generative model and the retrieval engine."
    )
    p.add_argument(
        "--model",
        action="append",
        default=[],
        help="model directory (relative to the repository root); repeat to compare models (default: models/chitchat)",
    )
    p.add_argument("--seed", type=int, default=1234, help="the split seed used for training")
    p.add_argument(
        "--split",
        choices=["test", "valid"],
        default="test",
        help="held-out conversations to score: test, or valid to choose sampling settings on",
    )
    p.add_argument("--jsonl", action="append", default=[], help="extra conversation files used for training")
    p.add_argument("--no-chitchat", action="store_true")
    p.add_argument("--no-chatterbot", action="store_true")
    p.add_argument("--samples", type=int, default=100, help="(context, reply) pairs to generate for")
    p.add_argument("--ppl-conversations", type=int, default=40, help="test conversations for perplexity (0: all)")
    p.add_argument(
        "--unigram-conversations",
        type=int,
        default=2000,
        help="training conversations for the unigram baseline (0: all)",
    )
    p.add_argument("--context-turns", type=int, default=4)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=40)
    p.add_argument("--top-p", type=float, default=0.9)
    p.add_argument("--repetition-penalty", type=float, default=1.2)
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    args.model = args.model or ["models/chitchat"]
    return args


async def _run(args: argparse.Namespace) -> int:
    stages = tqdm(
        total=3 + 2 * len(args.model),
        desc="eval",
        unit="stage",
        bar_format="{desc}: {n}/{total} stages {elapsed} {postfix}",
    )
    stages.set_postfix_str("loading data")
    splits = load_splits(args.seed, args.jsonl, chitchat=not args.no_chitchat, chatterbot=not args.no_chatterbot)
    held_out: list[list[str]] = getattr(splits, args.split)
    if not held_out:
        print(f"no {args.split} conversations")
        return 2
    stages.update(1)
    sampling = Sampling(args.temperature, args.top_k, args.top_p, args.repetition_penalty, args.max_tokens)
    gens = [
        GenerativeEngine(path, sampling, context_turns=args.context_turns, seed=args.seed, threads=args.threads)
        for path in args.model
    ]
    names = ["generative"] if len(gens) == 1 else [f"generative ({path})" for path in args.model]
    train_pairs = [Pair(a, b, "en") for conv in splits.train for a, b in itertools.pairwise(conv)]
    retrieval = RetrievalEngine(languages=["en"], pairs=train_pairs, min_confidence=0.0)
    ppl_convs = list(held_out)
    if args.ppl_conversations and args.ppl_conversations < len(ppl_convs):
        ppl_convs = random.Random(args.seed).sample(ppl_convs, args.ppl_conversations)
    uni_convs = list(splits.train)
    if args.unigram_conversations and args.unigram_conversations < len(uni_convs):
        uni_convs = random.Random(args.seed).sample(uni_convs, args.unigram_conversations)
    pairs = sample_pairs(held_out, args.samples, args.seed, args.context_turns + 1)
    refs = [reply for _, reply in pairs]
    contexts = [ctx for ctx, _ in pairs]
    perplexities: dict[str, tuple[float, float, int]] = {}
    results: dict[str, dict[str, float]] = {}
    stages.set_postfix_str("loading engines")
    async with contextlib.AsyncExitStack() as stack:
        for engine in (*gens, retrieval):
            await stack.enter_async_context(engine)
        for name, gen in zip(names, gens, strict=True):
            stages.set_postfix_str(f"perplexity, {name}")
            assert gen.loaded is not None
            vocab, max_len = gen.loaded.vocab, gen.loaded.model.cfg.max_len
            test_w = make_windows(vocab, ppl_convs, max_len)
            train_w = make_windows(vocab, uni_convs, max_len)
            speakers = {vocab.user, vocab.bot}
            train_ids = (i for w in train_w for i in w.ids if i not in speakers)
            test_ids = [i for w in test_w for _, i in reply_targets(w, vocab)]
            ppl = await asyncio.to_thread(model_perplexity, gen, test_w)
            perplexities[name] = (ppl, unigram_perplexity(train_ids, test_ids, len(vocab)), len(test_ids))
            stages.update(1)
        for name, engine in (*zip(names, gens, strict=True), ("retrieval", retrieval)):
            stages.set_postfix_str(f"{name} replies")
            started = time.perf_counter()
            replies = []
            for ctx in tqdm(contexts, desc=f"{name} replies", unit="reply", leave=False):
                replies.append(await answer(engine, as_conversation(ctx)))
            elapsed = (time.perf_counter() - started) / len(pairs)
            results[name] = scores(replies, refs) | {"s/reply": elapsed, "coherence": coherence(contexts, replies)}
            stages.update(1)
        stages.set_postfix_str("coherence")
        results["human (reference)"] = scores(refs, refs) | {
            "F1": math.nan,
            "BLEU-2": math.nan,
            "coherence": coherence(contexts, refs),
        }
        stages.update(1)
    stages.close()
    tokens = next(iter(perplexities.values()))[2]
    print(
        f"{args.split} split: {len(held_out)} conversations; perplexity on {len(ppl_convs)} of them "
        f"({tokens} reply tokens); {len(pairs)} sampled replies"
    )
    for name, (ppl, uni, _) in perplexities.items():
        print(f"perplexity: model {ppl:.2f}, unigram baseline {uni:.2f}" + (f"  [{name}]" if len(gens) > 1 else ""))
    cols = ["distinct-1", "distinct-2", "avg length", "F1", "BLEU-2", "coherence"]
    width = max(18, *(len(n) + 2 for n in results))
    print(f"{'engine':<{width}}" + "".join(f"{c:>12}" for c in cols))
    for name, row in results.items():
        print(f"{name:<{width}}" + "".join(f"{row[c]:>12.4f}" for c in cols))
    return 0


def main(argv: list[str]) -> int:
    """Evaluate; returns a process exit status."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    return asyncio.run(_run(args))
