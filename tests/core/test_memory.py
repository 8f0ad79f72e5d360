"""The per-chat memory API and finding facts in messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.memory import ChatMemory, asked_fact, extract_facts, recall_answer
from core.stores.memory import MemorySettingsStore
from core.stores.sqlite import SqliteDatabase, SqliteSettingsStore


@pytest.mark.parametrize(
    ("text", "facts"),
    [
        ("My name is Sam", {"name": "Sam"}),
        ("Hi, I'm Sam", {"name": "Sam"}),
        ("call me alex please", {"name": "Alex"}),
        ("My name is Sam, I live in Paris", {"name": "Sam", "home": "Paris"}),
        ("I'm from New York and I love jazz", {"home": "New York", "likes": "jazz"}),
        ("my favourite food is sushi", {"likes": "sushi"}),
        ("我叫小明", {"name": "小明"}),
        ("我住在上海。", {"home": "上海"}),
        ("我很喜欢猫", {"likes": "猫"}),
        # not facts
        ("I'm tired", {}),
        ("I don't like rain", {}),
        ("What's my name?", {}),
        ("我叫什么名字？", {}),
        ("Do you like jazz? I love it", {}),
    ],
)
def test_extract_facts(text: str, facts: dict[str, str]) -> None:
    assert extract_facts(text) == facts


def test_questions_about_facts_are_recognised() -> None:
    assert asked_fact("Do you remember my name?") == "name"
    assert asked_fact("where do I live?") == "home"
    assert asked_fact("我叫什么名字？") == "name"
    assert asked_fact("what is your name?") is None
    assert recall_answer("name", {"name": "Sam"}) == "Of course! You're Sam."
    assert "haven't told me your name" in recall_answer("name", {})


async def test_remember_merges_likes_and_forget_clears() -> None:
    memory = ChatMemory(MemorySettingsStore())
    await memory.remember("c", name="Sam", likes="jazz")
    await memory.remember("c", likes="tea")
    await memory.remember("c", likes="Jazz")
    assert await memory.facts("c") == {"name": "Sam", "likes": "tea; Jazz"}
    assert await memory.facts("other") == {}
    await memory.forget("c", "likes")
    assert await memory.facts("c") == {"name": "Sam"}
    await memory.forget("c")
    assert await memory.facts("c") == {}


async def test_facts_survive_a_restart_with_the_sqlite_store(tmp_path: Path) -> None:
    path = tmp_path / "bots.sqlite3"
    async with SqliteSettingsStore(SqliteDatabase(path)) as store:
        await ChatMemory(store).remember("telegram:1", name="Sam", home="Lyon")
    async with SqliteSettingsStore(SqliteDatabase(path)) as again:
        assert await ChatMemory(again).facts("telegram:1") == {"name": "Sam", "home": "Lyon"}
