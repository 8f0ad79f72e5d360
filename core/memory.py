"""Per-chat memory of what the user told about themselves: the memory API of engines and plugins.

Facts are short strings under a few well-known keys (``name``, ``home``, ``likes``; plugins may
add their own), kept in the bot's :class:`~core.stores.base.SettingsStore` under the scope
``facts:<chat_key>``, so they survive restarts with the SQLite store and are shared by every
worker with the Redis one. Usage::

    memory = ChatMemory(services.settings)        # or ctx.services.memory in a middleware/command
    await memory.remember(chat_key, name="Sam")
    await memory.facts(chat_key)                   # {"name": "Sam"}
    await memory.forget(chat_key)                  # everything (or forget(chat_key, "name"))

Engines receive the facts of the chat as ``Conversation.facts`` (the pipeline loads them);
:func:`extract_facts` finds them in a message ("my name is Sam", "I live in Lyon", "我叫小明").
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

from core.stores.base import SettingsStore

NAME, HOME, LIKES = "name", "home", "likes"
MAX_LIKES = 5
MAX_VALUE_CHARS = 60


def _scope(chat_key: str) -> str:
    return f"facts:{chat_key}"


def known_facts(stored: Mapping[str, Any]) -> dict[str, str]:
    """The facts in a chat's stored settings: the values that are set, as text."""
    return {k: str(v) for k, v in stored.items() if v not in (None, "")}


class ChatMemory:
    """Facts per chat on top of a settings store (a thin, stateless wrapper: create one where needed)."""

    def __init__(self, store: SettingsStore) -> None:
        self.store = store

    async def facts(self, chat_key: str) -> dict[str, str]:
        """Every fact known in ``chat_key`` (empty when none)."""
        return known_facts(await self.store.get(_scope(chat_key)))

    def read_stored(self, chat_key: str) -> asyncio.Future[dict[str, Any]]:
        """The chat's facts as stored, read from now on (see :meth:`SettingsStore.read`); :func:`known_facts`
        of the result is what :meth:`facts` returns."""
        return self.store.read(_scope(chat_key))

    async def remember(self, chat_key: str, **facts: str) -> dict[str, str]:
        """Store (replace) facts; ``likes`` is added to the earlier likes. Returns all facts."""
        if not facts:
            return await self.facts(chat_key)
        values: dict[str, str] = {k: v.strip()[:MAX_VALUE_CHARS] for k, v in facts.items() if v and v.strip()}
        if LIKES in values:
            earlier = (await self.facts(chat_key)).get(LIKES, "")
            likes = [x for x in earlier.split("; ") if x]
            new = values[LIKES]
            likes = [x for x in likes if x.lower() != new.lower()] + [new]
            values[LIKES] = "; ".join(likes[-MAX_LIKES:])
        merged = await self.store.update(_scope(chat_key), values)
        return {k: str(v) for k, v in merged.items() if v not in (None, "")}

    async def move(self, old_key: str, new_key: str) -> int:
        """Move the facts of ``old_key`` to ``new_key`` (a chat that got a new id); facts known there win."""
        return await self.store.move(_scope(old_key), _scope(new_key))

    async def forget(self, chat_key: str, key: str | None = None) -> None:
        """Forget one fact, or all of them."""
        keys = [key] if key else list((await self.store.get(_scope(chat_key))).keys())
        if keys:
            await self.store.update(_scope(chat_key), {k: None for k in keys})


# --- finding facts in what the user says -------------------------------------------------------

_END = r"(?=\s*(?:[.,!?;]|\band\b|\bbut\b|$))"
_EN_NAME = re.compile(
    r"\b(?:my name is|my name's|i am called|i'm called|call me|name'?s)\s+([A-Za-z][\w'-]*)", re.IGNORECASE
)
_EN_IAM = re.compile(r"^(?i:(?:hi|hello|hey)?[\s,!]*(?:i am|i'm|im))\s+([A-Z][a-z'-]+)\s*[.!]?$")
_NOT_NAMES = frozenset({"fine", "good", "ok", "okay", "tired", "sad", "happy", "here", "back", "bored", "sorry", "great", "not", "so", "very", "just"})
_EN_HOME = re.compile(r"\b(?:i live in|i'm living in|i am living in|i'm from|i am from|i come from|i moved to)\s+([A-Za-z][\w .'-]*?)" + _END, re.IGNORECASE)
_EN_LIKES = re.compile(
    r"\b(?:i (?:really |truly )?(?:like|love|enjoy|adore)|my favou?rite (?:\w+ )?is|i'm into|i am into)\s+([\w][\w .'-]*?)" + _END, re.IGNORECASE
)
_PRONOUNS = frozenset({"it", "that", "this", "you", "them", "him", "her", "those", "these", "to", "it so much", "you too"})
_EN_NOT = re.compile(r"\b(?:don't|do not|never|doesn't|didn't)\s+(?:really\s+)?(?:like|love|enjoy)", re.IGNORECASE)
_ZH_NAME = re.compile(r"(?:我叫|我的名字是|我的名字叫|叫我)([\u4e00-\u9fffA-Za-z]{1,8})")
_ZH_HOME = re.compile(r"(?:我住在|我来自|我是从)([\u4e00-\u9fffA-Za-z]{1,12}?)(?:来的|人|[，。,.!！]|$)")
_ZH_LIKES = re.compile(r"我(?:很|非常|特别)?(?:喜欢|爱)([\u4e00-\u9fffA-Za-z]{1,12})")


def extract_facts(text: str) -> dict[str, str]:
    """The facts stated in ``text``: some of ``name``, ``home``, ``likes`` (empty when none)."""
    out: dict[str, str] = {}
    t = " ".join(text.split())
    if asked_fact(t) is not None or t.endswith(("?", "？", "吗")):
        return out  # a question ("what's my name?", "我叫什么名字？") states nothing
    if (m := _EN_NAME.search(t) or _ZH_NAME.search(t)) or (m := _EN_IAM.match(t)) and m.group(1).lower() not in _NOT_NAMES:
        out[NAME] = m.group(1)
    if m := _EN_HOME.search(t) or _ZH_HOME.search(t):
        out[HOME] = m.group(1).strip()
    negated = _EN_NOT.search(t) or "不喜欢" in t
    if not negated and (m := _EN_LIKES.search(t) or _ZH_LIKES.search(t)) and m.group(1).strip().lower() not in _PRONOUNS:
        out[LIKES] = m.group(1).strip()
    if NAME in out:
        name = out[NAME]
        out[NAME] = name[0].upper() + name[1:] if name.isascii() else name
    return out


# --- questions about those facts --------------------------------------------------------------

_ASK = {
    NAME: re.compile(r"\b(?:what(?:'s| is) my name|do you (?:remember|know) (?:my name|who i am))\b|我叫什么|我的名字(?:是什么|叫什么)|记得我(?:的名字|是谁)", re.IGNORECASE),
    HOME: re.compile(r"\b(?:where do i live|where am i from|do you (?:remember|know) where i (?:live|am from|come from))\b|我住在哪|我来自哪", re.IGNORECASE),
    LIKES: re.compile(r"\b(?:what do i (?:like|love|enjoy)|do you (?:remember|know) what i (?:like|love|enjoy))\b|我喜欢什么", re.IGNORECASE),
}


def asked_fact(text: str) -> str | None:
    """The fact a message asks about ("Do you remember my name?" -> ``name``), or None."""
    for key, pattern in _ASK.items():
        if pattern.search(text):
            return key
    return None


def recall_answer(key: str, facts: Mapping[str, str], chinese: bool = False) -> str:
    """A reply to a question about fact ``key``."""
    value = facts.get(key)
    if chinese:
        if value is None:
            return {NAME: "你还没告诉我你的名字呢。", HOME: "你还没告诉我你住在哪里。", LIKES: "你还没告诉我你喜欢什么。"}[key]
        return {NAME: f"当然记得，你叫{value}。", HOME: f"你说过你住在{value}。", LIKES: f"你说过你喜欢{value.replace('; ', '、')}。"}[key]
    if value is None:
        return {NAME: "You haven't told me your name yet. What should I call you?", HOME: "You haven't told me where you live yet.", LIKES: "You haven't told me what you like yet."}[key]
    return {
        NAME: f"Of course! You're {value}.",
        HOME: f"You told me you live in {value}.",
        LIKES: f"You told me you like {value.replace('; ', ', ')}.",
    }[key]
