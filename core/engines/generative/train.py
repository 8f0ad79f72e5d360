"""Training the generative model: ``python run.py train [options]`` calls :func:`main`.

Data: ``chitchat-dataset`` (split by conversation with ``--seed``), ``chatterbot-corpus``
English (training split only) and any ``--jsonl`` files (format in
:mod:`core.engines.generative.data`). Progress is shown with tqdm (loss, learning
rate); the validation split is scored after every epoch; the best model is
exported (fp16) to ``--out``; ``--work-dir/last.pt`` holds the full training state
for ``--resume``. A GPU is used when present (``--device``).
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from core.engines.generative.checkpoint import load_model, save_model
from core.engines.generative.data import Window, load_splits, make_windows
from core.engines.generative.engine import resolve_model_path
from core.engines.generative.model import ChatTransformer, ModelConfig
from core.engines.generative.text import tokenize
from core.engines.generative.vocab import Vocab

log = logging.getLogger(__name__)


def batches(windows: Sequence[Window], batch_size: int, pad: int, seed: int | None) -> Iterator[torch.Tensor]:
    """Right-padded ``(batch, time)`` id tensors; shuffled with ``seed`` (None keeps the order)."""
    order = list(range(len(windows)))
    if seed is not None:
        random.Random(seed).shuffle(order)
    for start in range(0, len(order), batch_size):
        rows = [windows[i].ids for i in order[start : start + batch_size]]
        width = max(len(r) for r in rows)
        yield torch.tensor([r + [pad] * (width - len(r)) for r in rows], dtype=torch.long)


def lm_loss(model: ChatTransformer, batch: torch.Tensor, pad: int) -> torch.Tensor:
    """Mean next-token cross-entropy over the non-pad targets of ``batch``."""
    logits, _ = model(batch[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), ignore_index=pad)


@torch.no_grad()
def mean_loss(
    model: ChatTransformer, windows: Sequence[Window], pad: int, batch_size: int = 64, device: str = "cpu"
) -> float:
    """Token-weighted mean loss over ``windows`` (eval mode)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in batches(windows, batch_size, pad, None):
        batch = batch.to(device)
        n = int((batch[:, 1:] != pad).sum())
        total += float(lm_loss(model, batch, pad)) * n
        count += n
    model.train(was_training)
    return total / max(count, 1)


def lr_at(progress: float, base: float, warmup: float = 0.03) -> float:
    """Linear warm-up then cosine decay to 10% of ``base``; ``progress`` in [0, 1]."""
    if progress < warmup:
        return base * max(progress / warmup, 0.01)
    p = min(1.0, (progress - warmup) / (1 - warmup))
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line of :func:`main`."""
    p = argparse.ArgumentParser(prog="run.py train", description="Train the generative dialogue model.")
    p.add_argument("--out", default="models/chitchat", help="where the best model.pt goes (relative: to the repo root)")
    p.add_argument(
        "--work-dir", default="runs/generative", help="training state for --resume (relative: to the repo root)"
    )
    p.add_argument("--resume", action="store_true", help="continue from --work-dir/last.pt")
    p.add_argument(
        "--init-from",
        default="",
        help="start from this exported model.pt (its shape, vocabulary and weights; a fresh optimizer and schedule)",
    )
    p.add_argument("--jsonl", action="append", default=[], help="extra conversations (JSONL; repeatable)")
    p.add_argument("--no-chitchat", action="store_true", help="train on --jsonl files (and chatterbot) only")
    p.add_argument("--no-chatterbot", action="store_true", help="leave chatterbot-corpus out")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--time-limit-min", type=float, default=0, help="stop (validate, export) after this many minutes")
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: no limit)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--min-count", type=int, default=3)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--d-ff", type=int, default=1024)
    p.add_argument("--max-len", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--save-every", type=int, default=500, help="steps between last.pt saves")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    return p.parse_args(argv)


def _device(name: str) -> str:
    if name != "auto":
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def _save_state(path: Path, **state: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def main(argv: list[str]) -> int:
    """Train; returns a process exit status."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = _device(args.device)
    torch.manual_seed(args.seed)
    s = load_splits(args.seed, args.jsonl, chitchat=not args.no_chitchat, chatterbot=not args.no_chatterbot)
    train, valid = s.train, s.valid
    if not train:
        log.error("no training conversations")
        return 2
    work = resolve_model_path(args.work_dir)
    out = resolve_model_path(args.out)
    state_path = work / "last.pt"
    resume: dict[str, Any] | None = None
    if args.resume:
        if not state_path.exists():
            log.error("nothing to resume: %s does not exist", state_path)
            return 2
        resume = torch.load(state_path, map_location="cpu", weights_only=False)
        vocab = Vocab(resume["vocab"])
        cfg = ModelConfig(**resume["config"])
    elif args.init_from:
        init = load_model(resolve_model_path(args.init_from))
        vocab = init.vocab
        cfg = replace(init.model.cfg, dropout=args.dropout)
    else:
        vocab = Vocab.build((tokenize(t) for conv in train for t in conv), args.vocab_size, args.min_count)
        cfg = ModelConfig(len(vocab), args.d_model, args.layers, args.heads, args.d_ff, args.max_len, args.dropout)
    train_w = make_windows(vocab, train, cfg.max_len)
    valid_w = make_windows(vocab, valid, cfg.max_len) if valid else train_w[:64]
    model = ChatTransformer(cfg).to(device)
    if resume is None and args.init_from:
        model.load_state_dict(init.model.state_dict())
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr
    )
    epoch, skip, step, elapsed, best = 0, 0, 0, 0.0, math.inf
    if resume is not None:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        epoch, skip, step, elapsed, best = (
            resume["epoch"],
            resume["batch"],
            resume["step"],
            resume["elapsed"],
            resume["best"],
        )
        torch.set_rng_state(resume["rng"])
    per_epoch = math.ceil(len(train_w) / args.batch_size)
    total = per_epoch * args.epochs if not args.max_steps else min(args.max_steps, per_epoch * args.epochs)
    log.info(
        "%d train / %d valid conversations, %d / %d windows, vocab %d, %.2fM parameters, device %s, %d steps",
        len(train),
        len(valid),
        len(train_w),
        len(valid_w),
        len(vocab),
        model.num_parameters() / 1e6,
        device,
        total,
    )
    # The shape comes from the checkpoint when resuming, whatever the shape flags say.
    shape: dict[str, Any] = {
        "vocab_size": len(vocab),
        "d_model": cfg.d_model,
        "layers": cfg.n_layers,
        "heads": cfg.n_heads,
    }
    shape |= {"d_ff": cfg.d_ff, "max_len": cfg.max_len, "dropout": cfg.dropout}
    settings = {k: v for k, v in vars(args).items() if k != "resume"} | shape
    if resume is not None:
        settings["resumed_at_step"] = resume["step"]
        if resume.get("initialized_from"):  # a run begun with --init-from keeps saying so after --resume
            settings["initialized_from"] = resume["initialized_from"]
    elif args.init_from:
        settings["initialized_from"] = {"path": args.init_from, "meta": init.meta}
    meta_base = {"settings": settings, "parameters": model.num_parameters()}
    started = time.monotonic() - elapsed
    limit_s = args.time_limit_min * 60

    def progress() -> float:
        by_time = (time.monotonic() - started) / limit_s if limit_s else 0.0
        return min(1.0, max(step / max(total, 1), by_time))

    def save_state(batch_index: int, ep: int) -> None:
        _save_state(
            state_path,
            model=model.state_dict(),
            optimizer=opt.state_dict(),
            config=cfg.to_dict(),
            vocab=vocab.tokens,
            epoch=ep,
            batch=batch_index,
            step=step,
            elapsed=time.monotonic() - started,
            best=best,
            rng=torch.get_rng_state(),
            initialized_from=settings.get("initialized_from"),
        )

    stop = False
    model.train()
    while epoch < args.epochs and not stop:
        bar = tqdm(
            total=per_epoch, initial=skip, desc=f"epoch {epoch + 1}/{args.epochs}", dynamic_ncols=True, mininterval=5
        )
        next_batch = 0
        for i, batch in enumerate(batches(train_w, args.batch_size, vocab.pad, args.seed + epoch)):
            if i < skip:
                continue
            next_batch = i + 1
            lr = lr_at(progress(), args.lr)
            for group in opt.param_groups:
                group["lr"] = lr
            loss = lm_loss(model, batch.to(device), vocab.pad)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.2e}", refresh=False)
            if step % args.save_every == 0:
                save_state(i + 1, epoch)
            if (args.max_steps and step >= args.max_steps) or (limit_s and time.monotonic() - started >= limit_s):
                stop = True
                break
        bar.close()
        skip = 0
        valid_loss = mean_loss(model, valid_w, vocab.pad, device=device)
        log.info(
            "epoch %d step %d: valid loss %.4f, perplexity %.2f", epoch + 1, step, valid_loss, math.exp(valid_loss)
        )
        partial = stop and next_batch < per_epoch
        if valid_loss < best:
            best = valid_loss
            done = epoch + (next_batch / per_epoch if partial else 1)
            meta = {
                **meta_base,
                "epochs_done": round(done, 3),
                "step": step,
                "valid_perplexity": round(math.exp(valid_loss), 3),
            }
            save_model(out, model, vocab, meta)
            log.info("exported %s", out)
        if partial:  # resume mid-epoch where the limit stopped us
            save_state(next_batch, epoch)
        else:
            epoch += 1
            save_state(0, epoch)
    return 0
