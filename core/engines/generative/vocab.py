"""The word vocabulary of the generative model: special tokens, frequency cut-off, save/load."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

PAD, UNK, USER, BOT, EOS = "<pad>", "<unk>", "<user>", "<bot>", "<eos>"
#: Special tokens, always ids 0..4. ``<user>``/``<bot>`` open a turn (``<bot>`` is the
#: separator between the context and the reply); ``<eos>`` closes every turn.
SPECIALS = (PAD, UNK, USER, BOT, EOS)


class Vocab:
    """Maps tokens to ids and back.

    Args:
        tokens: every token in id order; must start with :data:`SPECIALS`.
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError("a vocabulary must start with the special tokens")
        self.tokens = list(tokens)
        self.index = {tok: i for i, tok in enumerate(self.tokens)}
        self.pad, self.unk, self.user, self.bot, self.eos = (self.index[t] for t in SPECIALS)

    @classmethod
    def build(cls, texts: Iterable[Sequence[str]], max_size: int = 8000, min_count: int = 2) -> Vocab:
        """The ``max_size`` most frequent tokens seen at least ``min_count`` times.

        Args:
            texts: tokenized texts.
            max_size: vocabulary size including the special tokens.
            min_count: frequency cut-off.
        """
        counts: Counter[str] = Counter()
        for toks in texts:
            counts.update(toks)
        for special in SPECIALS:
            counts.pop(special, None)
        kept = [t for t, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count]
        return cls(list(SPECIALS) + kept[: max(0, max_size - len(SPECIALS))])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of ``tokens``; unknown tokens map to ``<unk>``."""
        return [self.index.get(t, self.unk) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids``."""
        return [self.tokens[i] for i in ids]

    def to_json(self) -> str:
        """The vocabulary as JSON (a list of tokens in id order)."""
        return json.dumps({"tokens": self.tokens}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Vocab:
        """The vocabulary saved by :meth:`to_json`."""
        return cls(json.loads(text)["tokens"])

    def save(self, path: str | Path) -> None:
        """Write the vocabulary to ``path`` as JSON."""
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read a vocabulary written by :meth:`save`."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))
