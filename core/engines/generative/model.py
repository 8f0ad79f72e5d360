"""A small decoder-only Transformer with a key/value cache for incremental decoding.

Pre-norm blocks, learned positions, tied input/output embeddings, PyTorch's
``scaled_dot_product_attention``. :meth:`ChatTransformer.forward` takes an
optional cache (one ``(k, v)`` per layer) and returns the new one, so a reply
is decoded one token at a time without re-reading the context.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

KVCache = list[tuple[Tensor, Tensor]]


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Shape of the model."""

    vocab_size: int
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 1024
    max_len: int = 128
    dropout: float = 0.1

    def to_dict(self) -> dict[str, int | float]:
        """Plain dict for checkpoints."""
        return asdict(self)


class _Attention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout

    def forward(
        self, x: Tensor, mask: Tensor | None, past: tuple[Tensor, Tensor] | None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        if past is not None:
            k = torch.cat((past[0], k), dim=2)
            v = torch.cat((past[1], v), dim=2)
        causal = mask is None and past is None
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(y.transpose(1, 2).reshape(b, t, d)), (k, v)


class _Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = _Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.ff = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(
        self, x: Tensor, mask: Tensor | None, past: tuple[Tensor, Tensor] | None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        a, kv = self.attn(self.ln1(x), mask, past)
        x = x + self.drop(a)
        x = x + self.drop(self.ff(self.ln2(x)))
        return x, kv


class ChatTransformer(nn.Module):
    """Decoder-only language model over ``<user> context <eos> <bot> reply <eos>`` sequences."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_len, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.n_layers))
        self.ln = nn.LayerNorm(cfg.d_model)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(
        self,
        ids: Tensor,
        positions: Tensor | None = None,
        mask: Tensor | None = None,
        cache: KVCache | None = None,
        last_only: bool = False,
    ) -> tuple[Tensor, KVCache]:
        """Logits for every position (the last one only with ``last_only``), and the updated cache.

        Args:
            ids: ``(batch, time)`` token ids.
            positions: ``(batch, time)`` position ids; defaults to ``0..time-1`` after the cache.
            mask: boolean ``(batch, 1, time, cached + time)``, True where attention is allowed;
                None means plain causal attention (training, unpadded prompts).
            cache: what a previous call returned.
            last_only: project only the last position onto the vocabulary (decoding needs no more;
                projecting every position of a prompt cost about 40 % of reading it).
        """
        if positions is None:
            start = cache[0][0].shape[2] if cache else 0
            positions = torch.arange(start, start + ids.shape[1], device=ids.device).unsqueeze(0)
        x = self.drop(self.tok(ids) + self.pos(positions))
        new_cache: KVCache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, mask, cache[i] if cache else None)
            new_cache.append(kv)
        if last_only:
            x = x[:, -1:]
        return F.linear(self.ln(x), self.tok.weight), new_cache

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters())
