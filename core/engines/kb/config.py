"""Config of the knowledge-base engine (``kind: kb``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.engines.llm.config import OpenAIEngineConfig

DEFAULT_HANDOFF = (
    "I'm sorry, I don't know the answer to that. I've noted your question for the team; "
    "to reach a person, write to support@example.com."
)


class KnowledgeBaseEngineConfig(BaseModel):
    """Answers from a knowledge base (Q&A entries in YAML and/or Markdown/text documents).

    ``fallback``: what happens when nothing matches well enough. ``handoff`` answers
    ``handoff_message`` and records the question in ``unanswered_path`` (see ``/unanswered``);
    ``smalltalk`` declines, so the next engine of the chain answers.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["kb"]
    path: str | None = Field(default=None, description="YAML file of entries (questions + answer)")
    documents: list[str] = Field(default_factory=list, description="Markdown/text files or folders of them")
    embedder: Literal["e5", "minilm", "none"] = "e5"
    #: minimum hybrid score to answer; unset: the calibrated value from ``calibration``
    threshold: float | None = Field(default=None, ge=0, le=1)
    #: share of the embedding similarity in the score; unset: the calibrated value
    weight: float | None = Field(default=None, ge=0, le=1)
    #: calibration results (python -m core.engines.kb.calibrate); default: next to ``path``, *.calibration.json
    calibration: str | None = None
    #: scaled BM25 score (0..1) from which a question is answered by its lexical match without being
    #: embedded; ``calibrated``: the value chosen on the validation set (none: off); null: always embed
    fast_lexical: Annotated[float, Field(ge=0, le=1)] | Literal["calibrated"] | None = "calibrated"
    fallback: Literal["handoff", "smalltalk"] = "handoff"
    handoff_message: str = DEFAULT_HANDOFF
    #: the hand-off in other languages, by language code ("zh": ...); others get ``handoff_message``
    handoff_messages: dict[str, str] = Field(default_factory=dict)
    unanswered_path: str = "data/kb/unanswered.jsonl"
    cache_dir: str = "data/cache/kb"
    max_passage_chars: int = Field(default=700, ge=100, le=10_000)
    #: passages (or entries) given to the LLM
    top_k: int = Field(default=3, ge=1, le=10)
    #: write grounded answers from the retrieved passages with this OpenAI-compatible model
    llm: OpenAIEngineConfig | None = None
