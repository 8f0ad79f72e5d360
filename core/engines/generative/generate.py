"""Sampling and batched incremental decoding for :class:`~core.engines.generative.model.ChatTransformer`.

Prompts of different lengths are left-padded into one batch; a boolean mask
hides the padding and position ids start at each prompt's first real token.
After the prompt is read once (projecting only its last position onto the
vocabulary), each step feeds one token per row and reuses the key/value cache,
so the cost per token does not grow with the context. A row that ends leaves the
batch, so a batch costs what its replies' tokens cost, not its longest reply's
length times its rows.
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
    return pick_rows(logits[None], [seen], [s], [generator])[0]


def pick_rows(
    logits: Tensor,
    seen: Sequence[Sequence[int]],
    sampling: Sequence[Sampling],
    generators: Sequence[torch.Generator | None],
) -> list[int]:
    """The next token id of every row of ``logits`` (``(rows, vocab)``, float).

    Rows that share a :class:`Sampling` are filtered together, a handful of tensor operations for
    the whole batch instead of for each row; each row still draws from its own generator, so a
    seeded row picks what it would pick alone.
    """
    penalised = [(i, t) for i, ids in enumerate(seen) if sampling[i].repetition_penalty != 1.0 for t in set(ids)]
    if penalised:
        logits = logits.clone()
        rows = torch.tensor([i for i, _ in penalised], dtype=torch.long)
        cols = torch.tensor([t for _, t in penalised], dtype=torch.long)
        penalty = torch.tensor([sampling[i].repetition_penalty for i, _ in penalised], dtype=logits.dtype)
        vals = logits[rows, cols]
        logits[rows, cols] = torch.where(vals > 0, vals / penalty, vals * penalty)
    groups: dict[Sampling, list[int]] = {}
    for i, s in enumerate(sampling):
        groups.setdefault(s, []).append(i)
    picked = [0] * len(sampling)
    for s, members in groups.items():
        x = logits if len(members) == len(sampling) else logits[members]
        if s.temperature <= 0:
            chosen = x.argmax(-1)
        else:
            x = x / s.temperature
            # Work on the candidates only: the k best (sorted by topk) or the whole vocabulary sorted.
            if 0 < s.top_k < x.shape[-1]:
                values, ids = torch.topk(x, s.top_k)
            else:
                values, ids = torch.sort(x, descending=True)
            probs = torch.softmax(values, dim=-1)
            if s.top_p < 1.0:
                drop = probs.cumsum(-1) - probs >= s.top_p  # keep the token that crosses p
                probs = probs.masked_fill(drop, 0.0)
            draws = [torch.multinomial(probs[j], 1, generator=generators[i]) for j, i in enumerate(members)]
            chosen = ids.gather(1, torch.cat(draws)[:, None])[:, 0]
        for i, token in zip(members, chosen.tolist(), strict=True):
            picked[i] = token
    return picked


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
    logits, cache = model(ids, positions, mask, last_only=True)
    last = logits[:, -1].float()
    next_pos = positions[:, -1:] + 1
    ban = torch.tensor(list(banned), dtype=torch.long) if banned else None
    out: list[list[int]] = [[] for _ in range(rows)]
    batch = list(range(rows))  # the prompt each row of the batch belongs to: finished rows leave it
    for step in range(cap):
        if ban is not None:
            last[:, ban] = -torch.inf
        chosen: list[int] = []
        kept: list[int] = []
        picked = pick_rows(last, [out[r] for r in batch], [sampling[r] for r in batch], [gens[r] for r in batch])
        for i, (r, tok) in enumerate(zip(batch, picked, strict=True)):
            if tok == eos:
                continue
            out[r].append(tok)
            if (on_token is None or on_token(r, tok)) and len(out[r]) < sampling[r].max_tokens:
                kept.append(i)
                chosen.append(tok)
        if not kept or step == cap - 1:
            break
        if len(kept) < len(batch):
            # A finished row costs nothing from here on: the next steps read only the rows still talking.
            index = torch.tensor(kept, dtype=torch.long)
            cache = [(k.index_select(0, index), v.index_select(0, index)) for k, v in cache]
            valid, next_pos = valid.index_select(0, index), next_pos.index_select(0, index)
            batch = [batch[i] for i in kept]
        if padded:
            valid = torch.cat((valid, torch.ones((len(batch), 1), dtype=torch.bool)), dim=1)
            step_mask = valid[:, None, None, :]
        else:
            step_mask = None
        logits, cache = model(torch.tensor(chosen, dtype=torch.long)[:, None], next_pos, step_mask, cache)
        last = logits[:, -1].float()
        next_pos = next_pos + 1
    return out
