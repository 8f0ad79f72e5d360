"""The framework's own plugin: the built-in commands, dialogue engines, TTS engines and adapters.

Registered exactly as a plugin's are (``bots.plugin``); every registry starts with this plugin.
Imports of the heavy parts happen inside the factories, when a config uses them.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import SecretStr

from adapters.console.config import ConsoleConfig
from adapters.discord.config import DiscordConfig
from adapters.telegram.config import TelegramConfig
from adapters.web.config import WebConfig
from bots.plugin import BuildEnv, Plugin
from core.adapter import Adapter
from core.engine import DialogueEngine
from core.engines.config import EchoEngineConfig, FaqEngineConfig, RetrievalEngineConfig
from core.engines.generative.config import GenerativeEngineConfig
from core.engines.kb.config import KnowledgeBaseEngineConfig
from core.engines.llm.config import OpenAIEngineConfig
from core.pipeline.commands import builtin_commands
from voice.config import EdgeEngineConfig, PiperEngineConfig

log = logging.getLogger(__name__)

plugin = Plugin("builtin", description="Commands")

for _command in builtin_commands():
    plugin.command(_command.name, _command.description, options=_command.options)(_command.handler)


# -- dialogue engines --------------------------------------------------------------------


@plugin.engine("echo", config=EchoEngineConfig)
def echo_engine(config: EchoEngineConfig) -> DialogueEngine:
    from core.engines.echo import EchoEngine

    return EchoEngine(config.prefix, config.pieces, config.delay_s)


@plugin.engine("retrieval", config=RetrievalEngineConfig)
def retrieval_engine(config: RetrievalEngineConfig, env: BuildEnv) -> DialogueEngine:
    from bots.paths import resolve_existing
    from core.engines.retrieval import RetrievalEngine

    extra = [resolve_existing(p, env.base) for p in config.extra_files]
    return RetrievalEngine(config.languages, extra, config.min_confidence)


@plugin.engine("faq", config=FaqEngineConfig)
def faq_engine(config: FaqEngineConfig, env: BuildEnv) -> DialogueEngine:
    from bots.paths import resolve_existing
    from core.engines.faq import FaqEngine

    return FaqEngine(resolve_existing(config.path, env.base), config.threshold)


@plugin.engine("kb", config=KnowledgeBaseEngineConfig)
def kb_engine(config: KnowledgeBaseEngineConfig, env: BuildEnv) -> DialogueEngine:
    from bots.paths import resolve, resolve_existing
    from core.engines.kb.engine import KnowledgeBaseEngine

    return KnowledgeBaseEngine.from_config(config, lambda p: resolve_existing(p, env.base), lambda p: resolve(p, env.base))


@plugin.engine("generative", config=GenerativeEngineConfig)
def generative_engine(config: GenerativeEngineConfig, env: BuildEnv) -> DialogueEngine:
    from bots.paths import resolve_existing
    from core.engines.generative.engine import GenerativeEngine

    return GenerativeEngine.from_config(config.model_copy(update={"path": str(resolve_existing(config.path, env.base))}))


@plugin.engine("openai", config=OpenAIEngineConfig)
def openai_engine(config: OpenAIEngineConfig) -> DialogueEngine:
    from core.engines.llm.openai import OpenAIEngine

    return OpenAIEngine.from_config(config)


# -- TTS engines -------------------------------------------------------------------------


@plugin.tts_engine("piper", config=PiperEngineConfig)
def piper_engine(config: PiperEngineConfig) -> Any:
    from voice.engines.piper import PiperEngine

    return PiperEngine(config)


@plugin.tts_engine("edge", config=EdgeEngineConfig)
def edge_engine(config: EdgeEngineConfig, env: BuildEnv) -> Any:
    from voice.engines.edge import EdgeEngine

    return EdgeEngine(config, env.ffmpeg)


# -- adapters ----------------------------------------------------------------------------


def _has_token(token: SecretStr | None) -> bool:
    return bool(token and token.get_secret_value().strip())


@plugin.adapter("web", config=WebConfig)
def web_adapter(config: WebConfig, env: BuildEnv) -> Adapter | None:
    if not config.enabled:
        return None
    from adapters.web.adapter import WebAdapter

    assert env.bus is not None
    return WebAdapter(
        env.adapter_id,
        env.bus,
        config,
        title=config.title or env.persona_name,
        greeting=env.greeting,
        max_input_chars=env.max_input_chars or None,
        clips_dir=env.clips_dir,
    )


@plugin.adapter("console", config=ConsoleConfig)
def console_adapter(config: ConsoleConfig, env: BuildEnv) -> Adapter | None:
    if not config.enabled:
        return None
    from adapters.console.adapter import ConsoleAdapter

    assert env.bus is not None
    return ConsoleAdapter(env.adapter_id, env.bus, config, env.persona_name)


@plugin.adapter("telegram", config=TelegramConfig)
def telegram_adapter(config: TelegramConfig, env: BuildEnv) -> Adapter | None:
    if not _has_token(config.token):
        log.info("bot %s: telegram adapter disabled: no token (%s)", env.bot, env.token_hint)
        return None
    from adapters.telegram.adapter import TelegramAdapter

    assert env.bus is not None
    journal = env.journal_dir / "telegram-journal.sqlite3" if env.journal_dir is not None and config.journal else None
    return TelegramAdapter(env.adapter_id, env.bus, config, commands=env.commands or None, journal_path=journal)


@plugin.adapter("discord", config=DiscordConfig)
def discord_adapter(config: DiscordConfig, env: BuildEnv) -> Adapter | None:
    if not _has_token(config.token):
        log.info("bot %s: discord adapter disabled: no token (%s)", env.bot, env.token_hint)
        return None
    from adapters.discord.adapter import DiscordAdapter
    from adapters.discord.voice import voice_of_store

    assert env.bus is not None
    voice_of = voice_of_store(env.settings, env.bot) if env.settings is not None else None
    hearing, policy = _voice_channel_listening(config, env)
    return DiscordAdapter(
        env.adapter_id, env.bus, config, env.speech, commands=list(env.commands) or None, voice_of=voice_of,
        hearing=hearing, listening=policy, settings=env.settings, bot_name=env.bot,
    )


def _voice_channel_listening(config: DiscordConfig, env: BuildEnv) -> tuple[Any, Any]:
    """The hearing factory and listening policy of a Discord adapter (None, None: it does not listen)."""
    from adapters.discord.listen_state import ListenPolicy
    from core.hearing import SpeechStartHandler, UtteranceHandler
    from core.wakeword import wake_words_for
    from voice.listening import ListeningConfig, build_hearing

    listening: ListeningConfig | None = env.listening
    if listening is None or not listening.enabled:
        return None, None
    if env.listener is None:
        log.warning("bot %s: voice_channel.listening is on but speech-to-text is off (voice.stt): not listening",
                    env.bot)
        return None, None
    stt = env.listener

    def hearing(on_utterance: UtteranceHandler, on_speech_start: SpeechStartHandler) -> Any:
        return build_hearing(listening, stt, on_utterance, on_speech_start)

    policy = ListenPolicy(enabled=config.voice.listen_by_default, mode=listening.mode,
                          wake_words=wake_words_for(env.persona_name, listening.wake_words),
                          barge_in=listening.barge_in)
    return hearing, policy
