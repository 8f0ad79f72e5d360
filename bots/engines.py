"""Builds dialogue engines and the engine chain from config."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bots.config import BotConfig, EngineConfig
from bots.paths import REPO_ROOT, resolve, resolve_existing
from bots.plugin import ENGINE, BuildEnv
from bots.registry import Registry
from core.engine import DialogueEngine
from core.engines.chain import EngineChain

__all__ = ["REPO_ROOT", "build_chain", "build_engine", "resolve", "resolve_existing"]

def build_engine(config: EngineConfig, base: Path, registry: Registry | None = None, bot: str = "") -> DialogueEngine:
    """One engine from its config section, by the factory its ``kind`` is registered with."""
    return (registry or Registry.with_builtins()).build(ENGINE, config, BuildEnv(base=base, bot=bot))


def build_chain(
    bot: BotConfig, base: Path, engines: Sequence[DialogueEngine] | None = None, registry: Registry | None = None
) -> EngineChain:
    """The bot's engine chain, with the pipeline's timeouts."""
    registry = registry or Registry.with_builtins()
    built = list(engines) if engines is not None else [build_engine(e, base, registry, bot.name) for e in bot.engines]
    return EngineChain(built, timeout_s=bot.pipeline.engine_timeout_s, first_piece_timeout_s=bot.pipeline.first_piece_timeout_s)
