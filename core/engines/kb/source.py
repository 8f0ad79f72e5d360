"""Reading a knowledge base: the YAML entries file and the documents, as index items.

The YAML file is the FAQ engine's format, with an optional ``id`` per entry (used in citations,
logs and the evaluation sets; default ``entry-N``) and an optional ``documents`` list::

    entries:
      - id: refund
        questions: ["How do I get a refund?", "money back"]
        answer: "..."
    documents: [support_docs/]      # relative to this file
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError

from core.engines.faq import FaqEntry
from core.engines.kb.documents import document_files, load_passages
from core.engines.kb.index import KbItem
from core.errors import EngineUnavailable


class KbEntry(FaqEntry):
    """A FAQ entry with a stable id."""

    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")


class KbFile(BaseModel):
    """The entries file."""

    threshold: float | None = Field(default=None, ge=0, le=1)
    entries: list[KbEntry] = Field(default_factory=list)
    documents: list[str] = Field(default_factory=list)


def read_kb_file(path: Path) -> KbFile:
    """Parse and validate ``path``.

    Raises:
        EngineUnavailable: unreadable or invalid.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        kb = KbFile.model_validate(raw)
    except OSError as exc:
        raise EngineUnavailable(f"cannot read knowledge base {path}: {exc}") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise EngineUnavailable(f"invalid knowledge base {path}: {exc}") from exc
    ids = [e.id for e in kb.entries if e.id]
    if len(ids) != len(set(ids)):
        raise EngineUnavailable(f"invalid knowledge base {path}: entry ids repeat")
    return kb


def entry_items(kb: KbFile) -> list[KbItem]:
    """One item per entry, matched on its questions."""
    return [
        KbItem(e.id or f"entry-{n}", "faq", e.questions[0], e.answer, tuple(e.questions))
        for n, e in enumerate(kb.entries, start=1)
    ]


def passage_items(paths: list[Path], max_chars: int = 700) -> list[KbItem]:
    """One item per document passage, matched on its headings and text.

    Raises:
        EngineUnavailable: a document is missing or unreadable.
    """
    try:
        passages = load_passages(document_files(paths), max_chars)
    except (OSError, UnicodeDecodeError) as exc:
        raise EngineUnavailable(f"cannot read knowledge-base documents: {exc}") from exc
    return [
        KbItem(p.id, "passage", p.title, p.text, (f"{p.title}\n{p.text}" if p.title else p.text,)) for p in passages
    ]


def load_items(path: Path | None, documents: list[Path], max_chars: int = 700) -> tuple[list[KbItem], KbFile | None]:
    """Every item of the entries file (and the documents it lists) plus ``documents``."""
    kb = read_kb_file(path) if path is not None else None
    docs = list(documents)
    if kb is not None and path is not None:
        docs = [path.parent / d for d in kb.documents] + docs
    items = (entry_items(kb) if kb else []) + passage_items(docs, max_chars)
    if not items:
        raise EngineUnavailable("knowledge base is empty")
    return items, kb


def calibration_path(path: Path) -> Path:
    """Where the calibration of the entries file ``path`` is kept by default."""
    return path.with_name(path.stem + ".calibration.json")


@dataclass(frozen=True, slots=True)
class Calibration:
    """What ``python -m core.engines.kb.calibrate`` chose on the validation set for one embedder."""

    weight: float
    threshold: float
    #: scaled BM25 score from which a question is answered without embedding it (None: no fast path)
    fast_lexical: float | None = None


def read_calibration(path: Path, embedder: str) -> Calibration | None:
    """The calibration for ``embedder``, or None when there is none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entry = data[embedder]
        fast = entry.get("fast_lexical")
        return Calibration(float(entry["weight"]), float(entry["threshold"]), float(fast) if fast is not None else None)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
