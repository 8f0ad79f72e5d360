"""Voice preferences: on/off per chat, voice and rate per user (falling back to the chat's).

Voice replies are switched on or off for a whole chat (a group decides together),
while the voice and the speaking rate are personal: a user's choice follows them
into every chat with the bot. Both are stored in the settings store, beside the
chat's memory.
"""

from __future__ import annotations

from core.pipeline.context import Context
from core.speech import VoiceSettings
from core.stores.base import SettingsStore


def chat_scope(ctx: Context) -> str:
    """Settings scope of the message's chat."""
    return chat_scope_of(ctx.services.name, ctx.message.chat_key)


def chat_scope_of(bot: str, chat_key: str) -> str:
    """Settings scope of chat ``chat_key`` (``platform:id``) with bot ``bot``."""
    return f"{bot}:{chat_key}"


def user_scope(ctx: Context) -> str:
    """Settings scope of the message's author."""
    return user_scope_of(ctx.services.name, ctx.message.user_key)


def user_scope_of(bot: str, user_key: str) -> str:
    """Settings scope of user ``user_key`` (``platform:id``) with bot ``bot``."""
    return f"{bot}:user:{user_key}"


async def user_voice(store: SettingsStore, bot: str, user_key: str) -> tuple[str, float | None]:
    """The voice name (empty: none chosen) and rate (None: none chosen) a user picked with ``/voice``."""
    user = await store.get(user_scope_of(bot, user_key))
    rate = user.get("voice_rate")
    return str(user.get("voice_name") or ""), float(rate) if rate else None


async def resolve(ctx: Context, language: str) -> VoiceSettings:
    """The voice settings for answering this message."""
    store = ctx.services.settings
    chat = await store.get(chat_scope(ctx))
    user = await store.get(user_scope(ctx))
    defaults = ctx.services.config
    return VoiceSettings(
        enabled=bool(chat.get("voice", defaults.voice_by_default)),
        voice=str(user.get("voice_name") or chat.get("voice_name") or defaults.default_voice),
        rate=float(user.get("voice_rate") or chat.get("voice_rate") or 1.0),
        language=language,
    )
