"""Loading (prompt, response) pairs from the ``chatterbot-corpus`` package and from YAML files."""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

#: Short language codes to the corpus's folder names.
CORPUS_LANGUAGES = {
    "en": "english",
    "zh": "chinese",
    "de": "german",
    "es": "spanish",
    "fr": "french",
    "it": "italian",
    "ja": "japanese",
    "ko": "korean",
    "pt": "portuguese",
    "ru": "russian",
}


@dataclass(frozen=True, slots=True)
class Pair:
    """One exchange: a prompt and the response that followed it."""

    prompt: str
    response: str
    language: str
    topic: str = ""


def corpus_root() -> Path:
    """The data folder of the installed ``chatterbot-corpus`` package."""
    import chatterbot_corpus

    return Path(chatterbot_corpus.__file__).parent / "data"


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):  # some corpus lines are lists of lines
        return " ".join(_as_text(v) for v in value).strip()
    return str(value).strip() if value is not None else ""


def pairs_from_file(path: Path, language: str) -> list[Pair]:
    """Consecutive statements of each conversation in a chatterbot-style YAML file."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        log.warning("skipping corpus file %s: %s", path, exc)
        return []
    topic = path.stem
    out: list[Pair] = []
    for conversation in doc.get("conversations") or []:
        if not isinstance(conversation, list):
            continue
        lines = [_as_text(x) for x in conversation]
        for prompt, response in itertools.pairwise(lines):
            if prompt and response:
                out.append(Pair(prompt, response, language, topic))
    return out


def load_corpus(languages: Sequence[str], root: Path | None = None) -> list[Pair]:
    """All pairs for the given language codes (``en``, ``zh``, ...).

    Parsed once per process and language set: several bots with a retrieval engine share the work.
    """
    with _load_lock:  # bots start concurrently: the second waits for the first parse instead of repeating it
        return list(_load_corpus(tuple(languages), root or corpus_root()))


_load_lock = threading.Lock()


@functools.lru_cache(maxsize=8)
def _load_corpus(languages: tuple[str, ...], base: Path) -> tuple[Pair, ...]:
    pairs: list[Pair] = []
    for code in languages:
        folder = base / CORPUS_LANGUAGES.get(code, code)
        if not folder.is_dir():
            log.warning("chatterbot-corpus has no folder for language %r", code)
            continue
        for path in sorted(folder.glob("*.yml")):
            pairs.extend(pairs_from_file(path, code))
    return tuple(pairs)
