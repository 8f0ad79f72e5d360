"""The pipeline remembers facts users state, answers questions about them, and hands them to the engines."""

from __future__ import annotations

from pathlib import Path

from core.engine import Conversation, Persona
from core.engines.llm.openai import build_messages
from core.stores.sqlite import SqliteDatabase, SqliteSettingsStore
from tests.harness import Harness, ScriptedEngine, message


async def test_do_you_remember_my_name_after_my_name_is_sam() -> None:
    engine = ScriptedEngine(["Nice to meet you!"])
    async with Harness([engine]) as h:
        await h.send(message("My name is Sam"))
        await h.send(message("I live in Lyon and I love jazz"))
        await h.send(message("Do you remember my name?"))
        await h.send(message("where do I live?"))
        await h.send(message("what's my name?", chat="c2"))
    texts = h.texts()
    assert texts[2] == "Of course! You're Sam."
    assert texts[3] == "You told me you live in Lyon."
    assert "haven't told me your name" in texts[4]  # another chat knows nothing
    assert engine.seen[0].facts == {"name": "Sam"}
    assert engine.seen[1].facts == {"name": "Sam", "home": "Lyon", "likes": "jazz"}
    assert len(engine.seen) == 2  # the questions were answered from memory, not by the engine


async def test_facts_survive_a_restart_and_reset_forgets_them(tmp_path: Path) -> None:
    path = tmp_path / "bots.sqlite3"
    async with SqliteSettingsStore(SqliteDatabase(path)) as store, Harness([ScriptedEngine()], settings_store=store) as h:
        await h.send(message("我叫小明"))
    async with SqliteSettingsStore(SqliteDatabase(path)) as store, Harness([ScriptedEngine()], settings_store=store) as h:
        await h.send(message("我叫什么名字？"))
        await h.send(message("/reset"))
        await h.send(message("Do you remember my name?"))
    assert h.texts()[0] == "当然记得，你叫小明。"
    assert "haven't told me your name" in h.texts()[2]


def test_the_llm_system_prompt_carries_the_facts() -> None:
    conversation = Conversation(text="hi", persona=Persona("Joe", "A friend."), facts={"name": "Sam", "home": "Lyon"})
    system = build_messages(conversation, 100)[0]["content"]
    assert system.startswith("You are Joe. A friend.") and "name: Sam; home: Lyon" in system
