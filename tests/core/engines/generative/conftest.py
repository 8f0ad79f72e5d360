"""A tiny model trained in a second on a tiny corpus, shared by the generative tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.engines.generative.checkpoint import save_model
from core.engines.generative.data import make_windows
from core.engines.generative.model import ChatTransformer, ModelConfig
from core.engines.generative.text import tokenize
from core.engines.generative.train import batches, lm_loss
from core.engines.generative.vocab import Vocab

TINY_CORPUS = [
    ["hello", "hi there, how are you?"],
    ["how are you?", "i'm fine, thanks. and you?"],
    ["what is your name?", "my name is tiny bot and i like to talk about trains all day long with everyone"],
    ["good morning", "good morning to you too!"],
    ["do you like music?", "yes, i love jazz."],
] * 2

torch.set_num_threads(1)


def train_tiny(steps: int = 120, seed: int = 0) -> tuple[ChatTransformer, Vocab, list[float]]:
    """Train a 2-layer, 64-wide model on :data:`TINY_CORPUS`; returns it, its vocab and the losses."""
    torch.manual_seed(seed)
    vocab = Vocab.build((tokenize(t) for conv in TINY_CORPUS for t in conv), max_size=200, min_count=1)
    model = ChatTransformer(
        ModelConfig(len(vocab), d_model=64, n_layers=2, n_heads=2, d_ff=128, max_len=48, dropout=0.0)
    )
    windows = make_windows(vocab, TINY_CORPUS, 48)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses: list[float] = []
    model.train()
    while len(losses) < steps:
        for batch in batches(windows, 10, vocab.pad, seed + len(losses)):
            loss = lm_loss(model, batch, vocab.pad)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    model.eval()
    return model, vocab, losses


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding a trained tiny ``model.pt``."""
    model, vocab, _ = train_tiny()
    path = tmp_path_factory.mktemp("tiny") / "model"
    save_model(path, model, vocab, {"test": True})
    return path
