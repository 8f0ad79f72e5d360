"""Builds dialogue engines and the engine chain from config."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bots.config import BotConfig, EngineConfig
from core.engine import DialogueEngine
from core.engines.chain import EngineChain
from core.engines.config import EchoEngineConfig, FaqEngineConfig, RetrievalEngineConfig
from core.engines.echo import EchoEngine
from core.engines.faq import FaqEngine
from core.engines.generative.config import GenerativeEngineConfig
from core.engines.kb.config import KnowledgeBaseEngineConfig
from core.engines.llm.config import OpenAIEngineConfig
from core.engines.retrieval import RetrievalEngine

REPO_ROOT = Path(__file__).resolve().parent.parent


def resolve(path: str, base: Path) -> Path:
    """A path to create: absolute as given, relative to the config file's folder otherwise."""
    p = Path(path)
    return p if p.is_absolute() else base / p


def resolve_existing(path: str, base: Path) -> Path:
    """A path to read: relative to the config file's folder, else to the repository root (where the
    shipped model and examples live), so ``--config`` from another folder still finds them."""
    p = Path(path)
    if p.is_absolute():
        return p
    for candidate in (base / p, REPO_ROOT / p):
        if candidate.exists():
            return candidate
    return base / p


def build_engine(config: EngineConfig, base: Path) -> DialogueEngine:
    """One engine from its config section."""
    if isinstance(config, EchoEngineConfig):
        return EchoEngine(config.prefix, config.pieces, config.delay_s)
    if isinstance(config, RetrievalEngineConfig):
        return RetrievalEngine(config.languages, [resolve_existing(p, base) for p in config.extra_files], config.min_confidence)
    if isinstance(config, FaqEngineConfig):
        return FaqEngine(resolve_existing(config.path, base), config.threshold)
    if isinstance(config, GenerativeEngineConfig):
        from core.engines.generative.engine import GenerativeEngine

        return GenerativeEngine.from_config(config.model_copy(update={"path": str(resolve_existing(config.path, base))}))
    if isinstance(config, OpenAIEngineConfig):
        from core.engines.llm.openai import OpenAIEngine

        return OpenAIEngine.from_config(config)
    if isinstance(config, KnowledgeBaseEngineConfig):
        from core.engines.kb.engine import KnowledgeBaseEngine

        return KnowledgeBaseEngine.from_config(config, lambda p: resolve_existing(p, base), lambda p: resolve(p, base))
    raise TypeError(f"unknown engine config {type(config).__name__}")


def build_chain(bot: BotConfig, base: Path, engines: Sequence[DialogueEngine] | None = None) -> EngineChain:
    """The bot's engine chain, with the pipeline's timeouts."""
    built = list(engines) if engines is not None else [build_engine(e, base) for e in bot.engines]
    return EngineChain(built, timeout_s=bot.pipeline.engine_timeout_s, first_piece_timeout_s=bot.pipeline.first_piece_timeout_s)
