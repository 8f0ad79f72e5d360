"""Sampling and batched incremental decoding for :class:`~core.engines.generative.model.ChatTransformer`.

Prompts of different lengths are left-padded into one batch; a boolean mask
hides the padding and position ids start at each prompt's first real token.
After the prompt is read once, each step feeds one token per row and reuses the
key/value cache, so the cost per token does not grow with the context.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from core.engines.generative.model import ChatTransformer


@dataclass(frozen=True, slots=True)
class Sampling:
    """How the next token is chosen.

    Attributes:
        temperature: 0 means greedy (argmax).
        top_k: keep the k most likely tokens (0: all).
        top_p: keep the smallest set whose probability reaches p (1: all).
        repetition_penalty: >1 makes tokens already in the reply less likely (CTRL-style).
        max_tokens: length cap of the reply (the end token not counted).
    """

    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.9
    repetition_penalty: float = 1.2
    max_tokens: int = 32


def pick(logits: Tensor, seen: Sequence[int], s: Sampling, generator: torch.Generator | None) -> int:
    """The next token id for one row of ``logits`` (``(vocab,)``, float)."""
    logits = logits.clone()
    if s.repetition_penalty != 1.0 and seen:
        idx = torch.tensor(sorted(set(seen)), dtype=torch.long)
        vals = logits[idx]
        logits[idx] = torch.where(vals > 0, vals / s.repetition_penalty, vals * s.repetition_penalty)
    if s.temperature <= 0:
        return int(torch.argmax(logits))
    logits = logits / s.temperature
    # Work on the candidates only: the k best (sorted by topk) or the whole vocabulary sorted.
    if 0 < s.top_k < logits.shape[0]:
        values, ids = torch.topk(logits, s.top_k)
    else:
        values, ids = torch.sort(logits, descending=True)
    probs = torch.softmax(values, dim=-1)
    if s.top_p < 1.0:
        drop = probs.cumsum(-1) - probs >= s.top_p  # keep the token that crosses p
        probs = probs.masked_fill(drop, 0.0)
    return int(ids[torch.multinomial(probs, 1, generator=generator)])


#: Called with (row, token id) for each new token; returns False to stop that row.
OnToken = Callable[[int, int], bool]


@torch.inference_mode()
def decode(
    model: ChatTransformer,
    prompts: Sequence[Sequence[int]],
    sampling: Sequence[Sampling],
    eos: int,
    pad: int,
    banned: Sequence[int] = (),
    generators: Sequence[torch.Generator | None] | None = None,
    on_token: OnToken | None = None,
) -> list[list[int]]:
    """Generate a continuation of every prompt, all rows in one batch.

    Args:
        model: the model (eval mode).
        prompts: token ids, each at most ``model.cfg.max_len - max_tokens`` long.
        sampling: one :class:`Sampling` per row.
        eos: the end token; a row stops after producing it (it is not returned).
        pad: the padding id.
        banned: ids never produced (``<pad>``, ``<unk>``, speaker tokens).
        generators: one random generator per row (None: the global one).
        on_token: streaming callback, see :data:`OnToken`.

    Returns:
        The generated ids of each row, without the end token.
    """
    rows = len(prompts)
    gens = list(generators) if generators is not None else [None] * rows
    width = max(len(p) for p in prompts)
    cap = max(s.max_tokens for s in sampling)
    if width + cap > model.cfg.max_len:
        raise ValueError(f"prompt of {width} + {cap} tokens exceeds the model's {model.cfg.max_len}")
    ids = torch.full((rows, width), pad, dtype=torch.long)
    valid = torch.zeros((rows, width), dtype=torch.bool)
    for r, p in enumerate(prompts):
        ids[r, width - len(p) :] = torch.tensor(list(p), dtype=torch.long)
        valid[r, width - len(p) :] = True
    padded = not bool(valid.all())
    positions = (valid.cumsum(1) - 1).clamp(min=0)
    mask = None
    if padded:
        causal = torch.tril(torch.ones(width, width, dtype=torch.bool))
        # Every query may see itself, so rows of padding never attend to nothing.
        mask = (valid[:, None, None, :] & causal) | torch.eye(width, dtype=torch.bool)
    logits, cache = model(ids, positions, mask)
    last = logits[:, -1].float()
    next_pos = positions[:, -1:] + 1
    ban = torch.tensor(list(banned), dtype=torch.long) if banned else None
    out: list[list[int]] = [[] for _ in range(rows)]
    live = [True] * rows
    for step in range(cap):
        if ban is not None:
            last[:, ban] = -torch.inf
        chosen = []
        for r in range(rows):
            if not live[r]:
                chosen.append(eos)
                continue
            tok = pick(last[r], out[r], sampling[r], gens[r])
            if tok == eos:
                live[r] = False
            else:
                out[r].append(tok)
                if on_token is not None and not on_token(r, tok) or len(out[r]) >= sampling[r].max_tokens:
                    live[r] = False
            chosen.append(tok)
        if not any(live) or step == cap - 1:
            break
        if padded:
            valid = torch.cat((valid, torch.ones((rows, 1), dtype=torch.bool)), dim=1)
            step_mask = valid[:, None, None, :]
        else:
            step_mask = None
        logits, cache = model(torch.tensor(chosen, dtype=torch.long)[:, None], next_pos, step_mask, cache)
        last = logits[:, -1].float()
        next_pos = next_pos + 1
    return out
