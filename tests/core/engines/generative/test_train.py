"""The training and evaluation commands on a user JSONL file (no chitchat, no chatterbot)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.engines.generative.checkpoint import load_model
from core.engines.generative.data import jsonl_conversations, split, windows
from core.engines.generative.evaluate import main as evaluate_main
from core.engines.generative.metrics import distinct, f1, unigram_perplexity
from core.engines.generative.train import main as train_main

from .conftest import TINY_CORPUS

SMALL = [
    "--d-model",
    "32",
    "--layers",
    "1",
    "--heads",
    "2",
    "--d-ff",
    "64",
    "--max-len",
    "48",
    "--min-count",
    "1",
    "--batch-size",
    "8",
    "--threads",
    "1",
]


@pytest.fixture
def chats(tmp_path: Path) -> Path:
    path = tmp_path / "chats.jsonl"
    lines = ["# our community's logs", ""]
    lines += [json.dumps({"turns": conv}) for conv in TINY_CORPUS * 2]
    lines += [json.dumps(["a plain list", "works too", "yes"])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_format_accepts_objects_and_lists_and_refuses_others(chats: Path, tmp_path: Path) -> None:
    convs = jsonl_conversations(chats)
    assert len(convs) == 21 and convs[-1] == ["a plain list", "works too", "yes"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "no turns"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        jsonl_conversations(bad)


def test_split_is_by_conversation_and_fixed_by_the_seed() -> None:
    convs = [[f"c{i} a", f"c{i} b"] for i in range(100)]
    a, b = split(convs, 1), split(convs, 1)
    assert a == b and a != split(convs, 2)
    seen = [tuple(c) for part in (a.train, a.valid, a.test) for c in part]
    assert sorted(seen) == sorted(tuple(c) for c in convs)  # whole conversations, each in one split
    assert len(a.valid) == len(a.test) == 5


def test_windows_overlap_by_one_turn_so_every_turn_has_context() -> None:
    turns = [[1, 10, 4], [2, 11, 12, 4], [1, 13, 4], [2, 14, 4]]
    ws = windows(turns, max_len=8)
    assert [w.ids for w in ws] == [[1, 10, 4, 2, 11, 12, 4], [2, 11, 12, 4, 1, 13, 4], [1, 13, 4, 2, 14, 4]]
    assert [w.context_end for w in ws] == [3, 4, 3]


def test_train_exports_a_model_and_resumes(chats: Path, tmp_path: Path) -> None:
    out, work = tmp_path / "out", tmp_path / "work"
    args = [
        "--no-chitchat",
        "--no-chatterbot",
        "--jsonl",
        str(chats),
        "--out",
        str(out),
        "--work-dir",
        str(work),
        *SMALL,
    ]
    assert train_main([*args, "--epochs", "1"]) == 0
    loaded = load_model(out)
    assert loaded.meta["epochs_done"] == 1 and loaded.meta["settings"]["d_model"] == 32
    state = torch.load(work / "last.pt", weights_only=False)
    assert state["epoch"] == 1
    steps = state["step"]
    assert train_main([*args, "--epochs", "2", "--resume"]) == 0
    state = torch.load(work / "last.pt", weights_only=False)
    assert state["epoch"] == 2 and state["step"] == 2 * steps
    assert train_main([*args, "--resume", "--work-dir", str(tmp_path / "none")]) == 2


def test_init_from_keeps_the_shape_vocabulary_and_weights_of_the_model(tmp_path: Path) -> None:
    chats = tmp_path / "more.jsonl"  # valid conversations that a trained model knows (chats' one is new)
    chats.write_text("\n".join(json.dumps(conv) for conv in TINY_CORPUS * 4) + "\n", encoding="utf-8")
    common = ["--no-chitchat", "--no-chatterbot", "--jsonl", str(chats), *SMALL]
    base, fresh, tuned = tmp_path / "base", tmp_path / "fresh", tmp_path / "tuned"
    fast = ["--lr", "1e-2"]
    assert train_main([*common, *fast, "--out", str(base), "--work-dir", str(tmp_path / "w1"), "--epochs", "15"]) == 0
    assert train_main([*common, *fast, "--out", str(fresh), "--work-dir", str(tmp_path / "w2"), "--epochs", "1"]) == 0
    # Other shape flags and a learning rate of 0: whatever the flags say, the checkpoint's shape,
    # vocabulary and weights are used, so the export equals the model it started from.
    other_shape = ["--d-model", "64", "--max-len", "32", "--min-count", "5", "--vocab-size", "50"]
    args = ["--out", str(tuned), "--work-dir", str(tmp_path / "w3"), "--epochs", "1", "--lr", "0", "--dropout", "0"]
    assert train_main([*common, *other_shape, *args, "--init-from", str(base)]) == 0
    a, b = load_model(base), load_model(tuned)
    assert b.vocab.tokens == a.vocab.tokens
    assert b.model.cfg.d_model == 32 and b.model.cfg.max_len == 48 and b.model.cfg.dropout == 0.0
    assert a.model.cfg.dropout == 0.1
    for name, value in a.model.state_dict().items():
        assert torch.equal(b.model.state_dict()[name], value), name
    # The first validation already scores as the base model did (fp16 rounding aside), far below a
    # model trained from scratch for one epoch.
    assert abs(b.meta["valid_perplexity"] / a.meta["valid_perplexity"] - 1) < 0.01
    assert b.meta["valid_perplexity"] < 0.8 * load_model(fresh).meta["valid_perplexity"]
    settings = b.meta["settings"]
    assert settings["d_model"] == 32 and settings["max_len"] == 48 and settings["vocab_size"] == len(a.vocab)
    assert settings["initialized_from"] == {"path": str(base), "meta": a.meta}
    assert "resumed_at_step" not in settings
    # --resume of that run still records where it began (in last.pt, and so in the exported meta)
    assert train_main([*common, *args, "--epochs", "2", "--resume"]) == 0
    state = torch.load(tmp_path / "w3" / "last.pt", weights_only=False)
    assert state["epoch"] == 2 and state["initialized_from"] == {"path": str(base), "meta": a.meta}


def test_evaluate_prints_both_engines_side_by_side(
    chats: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    common = ["--no-chitchat", "--no-chatterbot", "--jsonl", str(chats)]
    assert train_main([*common, "--out", str(out), "--work-dir", str(tmp_path / "w"), "--epochs", "3", *SMALL]) == 0
    capsys.readouterr()
    assert evaluate_main([*common, "--model", str(out), "--samples", "3", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "perplexity: model" in text and "unigram baseline" in text
    for row in ("generative", "retrieval", "human (reference)", "coherence"):
        assert row in text
    assert text.startswith("test split: 1 conversations")


def test_evaluate_compares_models_on_the_validation_split(
    chats: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--no-chitchat", "--no-chatterbot", "--jsonl", str(chats)]
    a, b = tmp_path / "a", tmp_path / "b"
    for out, epochs in ((a, "1"), (b, "4")):
        assert (
            train_main([*common, "--out", str(out), "--work-dir", str(tmp_path / "w"), "--epochs", epochs, *SMALL]) == 0
        )
    capsys.readouterr()
    argv = [*common, "--model", str(a), "--model", str(b), "--split", "valid", "--samples", "2", "--threads", "1"]
    assert evaluate_main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    # the one validation conversation of chats.jsonl (the test split's is another)
    assert lines[0].startswith("valid split: 1 conversations") and "2 sampled replies" in lines[0]
    ppl = [float(line.split()[2].rstrip(",")) for line in lines if line.startswith("perplexity: model")]
    assert len(ppl) == 2 and ppl[0] != ppl[1]
    names = [line[: line.index("  ")] for line in lines[4:]]
    assert names == [f"generative ({a})", f"generative ({b})", "retrieval", "human (reference)"]


def test_coherence_proxy_prefers_a_related_reply() -> None:
    from core.engines.generative.evaluate import coherence

    context = [["hi", "do you like dogs?"]]
    related = coherence(context, ["I love dogs, I have two puppies"])
    unrelated = coherence(context, ["The invoice was paid in March"])
    assert related > unrelated + 0.02
    assert coherence(context, [""]) == 0.0


def test_metrics() -> None:
    assert distinct([["a", "b", "a"], ["a"]], 1) == 0.5
    assert distinct([["a", "b", "a", "b"]], 2) == 2 / 3
    assert f1(["a", "b"], ["b", "c"]) == 0.5 and f1([], ["a"]) == 0.0
    # a uniform unigram model over 4 tokens has perplexity 4 on anything
    assert abs(unigram_perplexity([], [0, 1, 2, 3], 4) - 4.0) < 1e-9
