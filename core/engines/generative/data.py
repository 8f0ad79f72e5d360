"""Training data: conversations from ``chitchat-dataset``, ``chatterbot-corpus`` and JSONL files.

A conversation is a list of turns (strings) by two speakers taking turns.
Splits are made by conversation (never by line) with a fixed seed.

User JSONL format (one conversation per line; blank lines and lines starting
with ``#`` are skipped)::

    {"turns": ["hi there", "hey! how are you?", "good, you?"]}
    ["a plain list of turns", "also works"]

Consecutive turns are assumed to alternate between two speakers.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.engines.generative.text import tokenize
from core.engines.generative.vocab import Vocab

Conversation = list[str]


@dataclass(frozen=True, slots=True)
class Splits:
    """Conversations for training, validation and test."""

    train: list[Conversation]
    valid: list[Conversation]
    test: list[Conversation]


def chitchat_conversations() -> list[Conversation]:
    """All chitchat-dataset conversations, in the dataset's key order (sorted), messages as turns."""
    import chitchat_dataset

    data = json.loads(Path(chitchat_dataset._PATH).read_text(encoding="utf-8"))
    out: list[Conversation] = []
    for key in sorted(data):
        turns = [" ".join(u["text"] for u in message).strip() for message in data[key]["messages"]]
        turns = [t for t in turns if t]
        if len(turns) >= 2:
            out.append(turns)
    return out


def chatterbot_conversations(languages: Sequence[str] = ("en",)) -> list[Conversation]:
    """The chatterbot-corpus pairs, each as a two-turn conversation."""
    from core.engines.corpus import load_corpus

    return [[p.prompt, p.response] for p in load_corpus(list(languages))]


def jsonl_conversations(path: str | Path) -> list[Conversation]:
    """Conversations from a JSONL file in the format of the module docstring.

    Raises:
        ValueError: on a line that is not a conversation.
    """
    out: list[Conversation] = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        value = json.loads(line)
        turns = value.get("turns") if isinstance(value, dict) else value
        if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
            raise ValueError(f'{path}:{n}: expected a list of strings or {{"turns": [...]}}')
        turns = [t.strip() for t in turns if t.strip()]
        if len(turns) >= 2:
            out.append(turns)
    return out


def split(conversations: Sequence[Conversation], seed: int, valid: float = 0.05, test: float = 0.05) -> Splits:
    """Shuffle whole conversations with ``seed`` and cut them into train/valid/test."""
    order = list(range(len(conversations)))
    random.Random(seed).shuffle(order)
    n_valid, n_test = int(len(order) * valid), int(len(order) * test)
    pick = lambda idx: [list(conversations[i]) for i in idx]
    return Splits(
        train=pick(order[n_valid + n_test :]),
        valid=pick(order[:n_valid]),
        test=pick(order[n_valid : n_valid + n_test]),
    )


def load_splits(
    seed: int,
    jsonl: Iterable[str | Path] = (),
    chitchat: bool = True,
    chatterbot: bool = True,
    chatterbot_repeat: int = 3,
) -> Splits:
    """The standard splits: chitchat and user files split by conversation; chatterbot-corpus in train only.

    Args:
        seed: shuffling seed (the split is a pure function of it and the data).
        jsonl: extra conversation files (see module docstring).
        chitchat: include chitchat-dataset.
        chatterbot: add chatterbot-corpus English to the training split.
        chatterbot_repeat: how many times the (small) chatterbot corpus is repeated.
    """
    base = split(chitchat_conversations(), seed) if chitchat else Splits([], [], [])
    train, valid, test = base.train, base.valid, base.test
    for path in jsonl:
        extra = split(jsonl_conversations(path), seed)
        train += extra.train
        valid += extra.valid
        test += extra.test
    if chatterbot:
        train += chatterbot_conversations() * chatterbot_repeat
    return Splits(train, valid, test)


def encode_turns(vocab: Vocab, turns: Sequence[Sequence[str]], first_is_bot: bool, max_turn: int) -> list[list[int]]:
    """Each tokenized turn as ``<speaker> ids <eos>`` with speakers alternating, cut to ``max_turn`` words."""
    out: list[list[int]] = []
    for i, toks in enumerate(turns):
        bot = (i % 2 == 0) == first_is_bot
        out.append([vocab.bot if bot else vocab.user, *vocab.encode(toks[:max_turn]), vocab.eos])
    return out


@dataclass(frozen=True, slots=True)
class Window:
    """A training/evaluation sequence: ids, and where the first turn (which has no context) ends."""

    ids: list[int]
    context_end: int


def windows(encoded_turns: Sequence[list[int]], max_len: int) -> list[Window]:
    """Pack whole encoded turns into sequences of at most ``max_len`` ids, starting at turn boundaries."""
    out: list[Window] = []
    i = 0
    while i < len(encoded_turns):
        ids = list(encoded_turns[i][:max_len])
        first_end = len(ids)
        j = i + 1
        while j < len(encoded_turns) and len(ids) + len(encoded_turns[j]) <= max_len:
            ids += encoded_turns[j]
            j += 1
        if j > i + 1:  # one turn alone teaches nothing about replying
            out.append(Window(ids, first_end))
        # Overlap by one turn, so every turn is once a reply with context.
        i = j - 1 if j - 1 > i else j
        if j >= len(encoded_turns):
            break
    return out


def make_windows(vocab: Vocab, conversations: Iterable[Conversation], max_len: int, max_turn: int = 60) -> list[Window]:
    """Windows of every conversation; the first speaker alternates between conversations."""
    out: list[Window] = []
    for n, conv in enumerate(conversations):
        out += windows(encode_turns(vocab, [tokenize(t) for t in conv], n % 2 == 1, max_turn), max_len)
    return out
