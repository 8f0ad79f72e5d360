"""Saving and loading the shipped model: one ``model.pt`` holding config, vocabulary and weights.

The file is a plain dict (loadable with ``torch.load(weights_only=True)``)::

    {"format": 1, "config": {...ModelConfig...}, "vocab": [tokens...],
     "state_dict": {name: fp16 tensor}, "meta": {...training settings and scores...}}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core.engines.generative.model import ChatTransformer, ModelConfig
from core.engines.generative.vocab import Vocab

FORMAT = 1
MODEL_FILE = "model.pt"


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A model ready for inference, with its vocabulary and training metadata."""

    model: ChatTransformer
    vocab: Vocab
    meta: dict[str, Any]


def model_file(path: str | Path) -> Path:
    """``path`` itself when it is a file, else ``path/model.pt``."""
    p = Path(path)
    return p if p.suffix == ".pt" else p / MODEL_FILE


def save_model(
    path: str | Path, model: ChatTransformer, vocab: Vocab, meta: dict[str, Any] | None = None, half: bool = True
) -> Path:
    """Write ``model`` (fp16 weights unless ``half`` is False) and ``vocab`` to ``path``.

    Returns:
        The file written.
    """
    target = model_file(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.detach().half() if half and v.is_floating_point() else v.detach()).cpu()
        for k, v in model.state_dict().items()
    }
    payload = {
        "format": FORMAT,
        "config": model.cfg.to_dict(),
        "vocab": vocab.tokens,
        "state_dict": state,
        "meta": dict(meta or {}),
    }
    tmp = target.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(target)
    return target


def load_model(path: str | Path, device: str = "cpu") -> LoadedModel:
    """Load a model written by :func:`save_model`, in float32 and eval mode.

    Raises:
        FileNotFoundError: when there is no model file.
        ValueError: when the file is not a model of this format.
    """
    payload = torch.load(model_file(path), map_location=device, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a generative model checkpoint (format {FORMAT})")
    cfg = ModelConfig(**payload["config"])
    model = ChatTransformer(cfg)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()})
    model.to(device).eval()
    return LoadedModel(model, Vocab(payload["vocab"]), payload.get("meta", {}))
