"""Retrieve-and-refine without retraining: does a retrieved reply help the shipped model?

On the same held-out (context, reply) pairs as ``run.py eval`` (seed 1234, the by-conversation
split), side by side with the metrics ``run.py eval`` prints:

* ``generative``: the shipped model as it answers today;
* ``generative + retrieved``: the shipped model with the best BM25 match from the training
  split (its prompt and reply) put before the context as an earlier exchange, so the model can
  copy from it (retrieve-and-refine by conditioning, Weston et al. 2018, without their training);
* ``retrieval``: the retrieval engine given the training split, as ``run.py eval`` has it;
* ``retrieval, reranked``: the 8 best BM25 replies reranked by the shipped model's mean token
  log-probability of each reply given the context;
* ``retrieval, context``: retrieval queried with the previous turn and the message together, for a
  message of at most four words ("why?", "really? where").

Also the time per reply (p50, the whole reply) of each variant on this machine.

Usage::

    .venv/bin/python bench/refine.py [--samples 300] [--variants generative,generative+retrieved]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch
import torch.nn.functional as F

from bench.stats import percentile
from core.engine import Conversation
from core.engines.corpus import Pair
from core.engines.generative.data import load_splits
from core.engines.generative.engine import GenerativeEngine
from core.engines.generative.evaluate import answer, as_conversation, coherence, sample_pairs, scores
from core.engines.generative.generate import Sampling
from core.engines.generative.text import tokenize
from core.engines.retrieval import RetrievalEngine
from core.engines.tokens import match_tokens
from core.model import Turn

VARIANTS = ("generative", "generative+retrieved", "retrieval", "retrieval-reranked", "retrieval-context")


def candidates(engine: RetrievalEngine, text: str, k: int) -> list[Pair]:
    """The ``k`` training pairs whose prompt best matches ``text`` (BM25), best first."""
    index, rows = engine._index["en"], engine._rows["en"]
    query = match_tokens(text)
    return [engine.pairs[rows[d]] for d, _ in index.search(query, top=k)] if query else []


@torch.inference_mode()
def reply_logprob(gen: GenerativeEngine, conversation: Conversation, reply: str) -> float:
    """Mean log-probability of the tokens of ``reply`` (and the end token) after ``conversation``."""
    assert gen.loaded is not None
    vocab, model = gen.loaded.vocab, gen.loaded.model
    prompt = gen.prompt(conversation)
    target = vocab.encode(tokenize(reply))[:30] + [vocab.eos]
    ids = torch.tensor([prompt + target])
    logits, _ = model(ids[:, :-1])
    logp = F.log_softmax(logits[0, len(prompt) - 1 :].float(), -1)
    return float(logp[torch.arange(len(target)), torch.tensor(target)].mean())


async def run(samples: int, variants: list[str]) -> None:
    splits = load_splits(1234, [], chitchat=True, chatterbot=True)
    gen = GenerativeEngine("models/chitchat", Sampling(0.8, 40, 0.9, 1.2, 32), context_turns=4, seed=1234)
    train = [Pair(a, b, "en") for conv in splits.train for a, b in itertools.pairwise(conv)]
    retrieval = RetrievalEngine(languages=["en"], pairs=train, min_confidence=0.0)
    async with gen, retrieval:
        pairs = sample_pairs(splits.test, samples, 1234, 5)
        refs, contexts = [r for _, r in pairs], [c for c, _ in pairs]
        print(f"{len(pairs)} held-out replies, {len(train)} training pairs to retrieve from")
        cols = ["distinct-1", "distinct-2", "avg length", "F1", "BLEU-2", "coherence", "p50 ms"]
        print(f"{'variant':<22}" + "".join(f"{c:>12}" for c in cols))
        for name in variants:
            replies, took = [], []
            for ctx in contexts:
                conversation = as_conversation(ctx)
                started = time.perf_counter()
                if name == "generative":
                    reply = await answer(gen, conversation)
                elif name == "generative+retrieved":
                    found = candidates(retrieval, ctx[-1], 1)
                    if found:
                        primed = (Turn("user", found[0].prompt), Turn("bot", found[0].response))
                        conversation = Conversation(text=conversation.text, turns=primed + conversation.turns)
                    reply = await answer(gen, conversation)
                elif name == "retrieval":
                    reply = await answer(retrieval, conversation)
                elif name == "retrieval-context":
                    short = len(ctx) > 1 and len(ctx[-1].split()) <= 4
                    asked = Conversation(text=f"{ctx[-2]} {ctx[-1]}" if short else ctx[-1], turns=conversation.turns)
                    reply = await answer(retrieval, asked)
                else:
                    found = candidates(retrieval, ctx[-1], 8)
                    reply = max(found, key=lambda p: reply_logprob(gen, conversation, p.response)).response if found else ""
                took.append(time.perf_counter() - started)
                replies.append(reply)
            row = scores(replies, refs) | {"coherence": coherence(contexts, replies), "p50 ms": percentile(took, 50) * 1000}
            print(f"{name:<22}" + "".join(f"{row[c]:>12.4f}" for c in cols), flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    args = p.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        p.error(f"unknown variants: {', '.join(sorted(unknown))}")
    print("load average:", Path("/proc/loadavg").read_text().split()[:3])
    asyncio.run(run(args.samples, variants))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
