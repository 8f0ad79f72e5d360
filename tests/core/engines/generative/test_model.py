"""The Transformer: training, checkpoints, sampling and incremental decoding."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.engines.generative.checkpoint import load_model, save_model
from core.engines.generative.generate import Sampling, decode, pick, pick_rows
from core.engines.generative.model import ChatTransformer, ModelConfig
from core.engines.generative.text import tokenize

from .conftest import train_tiny


def _prompt(vocab, text: str) -> list[int]:  # type: ignore[no-untyped-def]
    return [vocab.user, *vocab.encode(tokenize(text)), vocab.eos, vocab.bot]


def _generate(loaded, text: str, sampling: Sampling, seed: int | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    v = loaded.vocab
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    out = decode(
        loaded.model,
        [_prompt(v, text)],
        [sampling],
        v.eos,
        v.pad,
        banned=[v.pad, v.unk, v.user, v.bot],
        generators=[gen],
    )
    return v.decode(out[0])


def test_loss_falls_on_a_tiny_corpus() -> None:
    _, _, losses = train_tiny(steps=60)
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


def test_incremental_decoding_matches_a_full_forward_pass() -> None:
    torch.manual_seed(0)
    model = ChatTransformer(ModelConfig(50, d_model=32, n_layers=2, n_heads=2, d_ff=64, max_len=16, dropout=0.0)).eval()
    ids = torch.randint(5, 50, (1, 10))
    full, _ = model(ids)
    logits, cache = model(ids[:, :6])
    steps = [logits[:, -1]]
    for t in range(6, 10):
        logits, cache = model(ids[:, t : t + 1], cache=cache)
        steps.append(logits[:, -1])
    assert torch.allclose(torch.stack(steps[:-1], 1), full[:, 5:9], atol=1e-5)


def test_last_only_projects_just_the_last_position() -> None:
    torch.manual_seed(0)
    model = ChatTransformer(ModelConfig(50, d_model=32, n_layers=2, n_heads=2, d_ff=64, max_len=16, dropout=0.0)).eval()
    ids = torch.randint(5, 50, (3, 7))
    full, full_cache = model(ids)
    last, cache = model(ids, last_only=True)
    assert last.shape == (3, 1, 50)
    assert torch.allclose(last[:, 0], full[:, -1], atol=1e-6)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(cache, full_cache, strict=True))


def test_saved_checkpoint_loads_and_generates_deterministically(tiny_model_dir: Path) -> None:
    loaded = load_model(tiny_model_dir)
    assert loaded.meta == {"test": True}
    s = Sampling(temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0, max_tokens=12)
    first = _generate(loaded, "hello", s, seed=7)
    assert first and first == _generate(load_model(tiny_model_dir), "hello", s, seed=7)


def test_fp16_checkpoint_keeps_what_the_model_learned(tiny_model_dir: Path) -> None:
    greedy = Sampling(temperature=0, max_tokens=20)
    assert _generate(load_model(tiny_model_dir), "hello", greedy) == tokenize("hi there, how are you?")


def test_generation_stops_at_the_end_token(tiny_model_dir: Path) -> None:
    loaded = load_model(tiny_model_dir)
    reply = _generate(loaded, "good morning", Sampling(temperature=0, max_tokens=30))
    assert reply == tokenize("good morning to you too!")  # 6 tokens, well under the cap of 30


def test_generation_stops_at_the_length_cap(tiny_model_dir: Path) -> None:
    loaded = load_model(tiny_model_dir)
    reply = _generate(loaded, "what is your name?", Sampling(temperature=0, max_tokens=4))
    assert reply == ["my", "name", "is", "tiny"]


def test_batched_prompts_of_different_lengths_decode_as_alone(tiny_model_dir: Path) -> None:
    loaded = load_model(tiny_model_dir)
    v = loaded.vocab
    greedy = Sampling(temperature=0, max_tokens=20)
    prompts = [_prompt(v, "hello"), _prompt(v, "what is your name?"), _prompt(v, "do you like music?")]
    together = decode(loaded.model, prompts, [greedy] * 3, v.eos, v.pad)
    alone = [decode(loaded.model, [p], [greedy], v.eos, v.pad)[0] for p in prompts]
    assert together == alone


def test_a_finished_row_is_not_decoded_further(tiny_model_dir: Path) -> None:
    """Guards the batch shrinking as rows end: before, every row ran to the longest reply's end."""
    loaded = load_model(tiny_model_dir)
    v = loaded.vocab
    batch_sizes: list[int] = []
    hook = loaded.model.register_forward_pre_hook(lambda _m, args: batch_sizes.append(args[0].shape[0]))
    try:
        prompts = [_prompt(v, "hello"), _prompt(v, "what is your name?"), _prompt(v, "do you like music?")]
        caps = [Sampling(temperature=0, max_tokens=n) for n in (1, 3, 12)]
        out = decode(loaded.model, prompts, caps, v.eos, v.pad)
    finally:
        hook.remove()
    assert [len(o) for o in out] == [1, 3, len(out[2])] and len(out[2]) > 3
    # the prompts together, then 2 rows for two steps, then the last row alone
    assert batch_sizes[:4] == [3, 2, 2, 1] and set(batch_sizes[4:]) <= {1}
    assert out == [decode(loaded.model, [p], [s], v.eos, v.pad)[0] for p, s in zip(prompts, caps, strict=True)]


def test_streaming_callback_sees_every_token_and_can_stop_a_row(tiny_model_dir: Path) -> None:
    loaded = load_model(tiny_model_dir)
    v = loaded.vocab
    seen: list[int] = []

    def on_token(row: int, token: int) -> bool:
        seen.append(token)
        return len(seen) < 2

    out = decode(loaded.model, [_prompt(v, "hello")], [Sampling(temperature=0)], v.eos, v.pad, on_token=on_token)
    assert out[0] == seen and len(seen) == 2


def test_sampling_filters() -> None:
    logits = torch.tensor([0.0, 5.0, 4.9, -1.0])
    gen = torch.Generator().manual_seed(0)
    assert pick(logits, [], Sampling(temperature=0), None) == 1
    # top-k 1 is greedy whatever the temperature
    assert {pick(logits, [], Sampling(temperature=5, top_k=1), gen) for _ in range(20)} == {1}
    # the repetition penalty turns the argmax away from a token already said
    assert pick(logits, [1], Sampling(temperature=0, repetition_penalty=2.0), None) == 2
    # top-p keeps only the two nearly equal tokens
    assert {pick(logits, [], Sampling(temperature=1, top_k=0, top_p=0.9), gen) for _ in range(50)} <= {1, 2}


def test_rows_picked_together_pick_what_each_would_alone() -> None:
    torch.manual_seed(1)
    logits = torch.randn(6, 40)
    seen = [[1, 2], [], [3], [5, 5, 7], [], [9]]
    samplings = [Sampling(), Sampling(temperature=0), Sampling(top_k=0, top_p=0.5), Sampling(), Sampling(temperature=0),
                 Sampling(repetition_penalty=1.0, top_k=5)]
    for seed in range(20):
        together = pick_rows(logits, seen, samplings, [torch.Generator().manual_seed(seed + r) for r in range(6)])
        alone = [pick(logits[r], seen[r], samplings[r], torch.Generator().manual_seed(seed + r)) for r in range(6)]
        assert together == alone


def test_a_prompt_too_long_for_the_model_is_refused(tiny_model_dir: Path) -> None:
    loaded = load_model(tiny_model_dir)
    with pytest.raises(ValueError):
        decode(loaded.model, [[5] * 40], [Sampling(max_tokens=20)], loaded.vocab.eos, loaded.vocab.pad)


def test_save_model_writes_half_precision(tmp_path: Path) -> None:
    model, vocab, _ = train_tiny(steps=1)
    path = save_model(tmp_path, model, vocab)
    state = torch.load(path, weights_only=True)["state_dict"]
    assert all(t.dtype == torch.float16 for t in state.values() if t.is_floating_point())
