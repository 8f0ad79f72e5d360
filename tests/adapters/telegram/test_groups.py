"""Group rules: silent unless addressed; a mention, a reply to the bot and a command are answered."""

from __future__ import annotations

import asyncio

from tests.adapters.telegram.fake_bot_api import BOT_USER, message_json

GROUP = -1001234


def _record_published(h) -> list:
    """The messages the adapter publishes on the bus from now on (they still reach the pipeline)."""
    published: list = []
    original = h.bus.publish

    async def spy(message):
        published.append(message)
        await original(message)

    h.bus.publish = spy  # type: ignore[method-assign]
    return published


async def test_group_silent_unless_addressed(bot_factory, api):
    async with bot_factory() as h:
        api.inject_message(GROUP, "just chatting with friends")
        api.inject_message(GROUP, "/help@otherbot")
        api.inject_message(GROUP, "hey @someoneelse look")
        mention = api.inject_message(GROUP, "@testbot what is up")
        bot_msg = {**message_json(GROUP, "earlier answer"), "from": BOT_USER}
        reply = api.inject_message(GROUP, "and then?", reply_to=bot_msg)
        api.inject_message(GROUP, "/start@TestBot")
        await api.wait_for(lambda: len(api.answered("sendMessage", GROUP)) >= 3)
        await asyncio.sleep(0.3)
        await h.pipeline.idle()
        sends = api.answered("sendMessage", GROUP)
        assert len(sends) == 3, [c.params["text"] for c in sends]
        assert sends[0].params["text"] == "what is up"  # our mention is stripped
        assert sends[0].params["reply_parameters"]["message_id"] == mention["message_id"]
        assert sends[1].params["text"] == "and then?"
        assert sends[1].params["reply_parameters"]["message_id"] == reply["message_id"]
        assert "Hello" in sends[2].params["text"] or sends[2].params["text"]  # the /start greeting
        assert not any("chatting" in c.params["text"] for c in sends)


async def test_group_command_with_our_name_is_normalized(bot_factory, api):
    async with bot_factory() as h:
        seen = _record_published(h)
        api.inject_message(GROUP, "/voice@testbot on")
        api.inject_message(GROUP, "/voice@otherbot on")
        await api.wait_for(lambda: len(seen) == 2)
        ours, theirs = seen
        assert ours.text == "/voice on" and ours.addressed.value == "command"
        assert theirs.addressed.value == "no"
        await api.wait_for(lambda: api.answered("sendMessage", GROUP))


async def test_group_answers_everything_when_configured(bot_factory, api):
    async with bot_factory(reply_in_groups_only_when_addressed=False):
        api.inject_message(GROUP, "plain group chatter")
        await api.wait_for(lambda: api.answered("sendMessage", GROUP))
        assert api.texts(GROUP) == ["plain group chatter"]


async def test_edits_and_service_messages_do_not_answer(bot_factory, api):
    async with bot_factory():
        original = api.inject_message(601, "first")
        api.inject({"edited_message": {**original, "text": "first, edited", "edit_date": original["date"] + 1}})
        api.inject({"message": {**message_json(GROUP, None), "new_chat_members": [{"id": 5, "is_bot": False, "first_name": "N"}]}})
        api.inject({"message": {**message_json(GROUP, None), "pinned_message": message_json(GROUP, "x")}})
        api.inject_message(601, "second")
        await api.wait_for(lambda: len(api.answered("sendMessage")) >= 2)
        await asyncio.sleep(0.3)
        assert api.texts(601) == ["first", "second"]
        assert api.texts(GROUP) == []


async def test_same_update_after_restart_is_answered_once(bot_factory, api, tmp_path):
    from core.stores.sqlite import SqliteDatabase, SqliteDedupeStore

    db = SqliteDatabase(tmp_path / "dedupe.sqlite")
    update = {"message": message_json(602, "only once")}
    published = []
    for _ in range(2):  # the same update id and message id arrive again after a restart
        store = SqliteDedupeStore(db)
        await store.start()
        async with bot_factory(dedupe=store) as h:
            original = h.bus.publish

            async def spy(message, original=original):
                published.append(message.key)
                await original(message)

            h.bus.publish = spy  # type: ignore[method-assign]
            api._updates.append((900, __import__("json").dumps({"update_id": 900, **update}).encode()))
            api._new_update.set()
            await api.wait_for(lambda: 900 not in [i for i, _ in api._updates] and api.calls[-1].method == "getUpdates", timeout=5)
            await asyncio.sleep(0.2)
            await h.pipeline.idle()
        await store.stop()
    assert len(published) == 2 and published[0] == published[1], "the update must really come twice"
    assert api.texts(602) == ["only once"]


async def test_replies_follow_a_group_that_became_a_supergroup(bot_factory, api):
    """Telegram refuses writes to a migrated group (ChatMigrated): the reply is sent again to the supergroup,
    and later replies for the old group go straight there."""
    supergroup = -1009876543210
    api.migrate(GROUP, supergroup)
    async with bot_factory() as h:
        api.inject_message(GROUP, "@testbot first question")
        await api.wait_for(lambda: "first question" in api.texts(supergroup))
        api.inject_message(GROUP, "@testbot second question")
        await api.wait_for(lambda: "second question" in api.texts(supergroup))
        await h.pipeline.idle()
        assert api.texts(GROUP) == []
        refused = [c for c in api.calls if c.chat_id == GROUP and c.status == 400]
        assert len(refused) == 1, [c.method for c in refused]  # only the first write learned of the move
        assert h.adapter.outboxes.replier.moved == {GROUP: supergroup}


async def _remember_in_group(api, h) -> None:
    """A conversation, a fact and a chat setting stored under the group."""
    api.inject_message(GROUP, "@testbot my name is Sam")
    api.inject_message(GROUP, "/voice@testbot on")
    await api.wait_for(lambda: len(api.answered("sendMessage", GROUP)) >= 2)
    await h.pipeline.idle()


async def _assert_remembered_in(api, h, supergroup: int) -> None:
    """The supergroup's bot knows what was said in the group, and the group's keys are empty."""
    api.inject_message(supergroup, "@testbot what's my name?")
    await api.wait_for(lambda: any("Sam" in t for t in api.texts(supergroup)))
    await h.pipeline.idle()
    services = h.pipeline.services
    history = [t.text for t in await services.conversations.recent(f"telegram:{supergroup}")]
    assert history[0] == "my name is Sam", history  # the group's conversation, oldest first
    assert await services.memory.facts(f"telegram:{supergroup}") == {"name": "Sam"}
    assert (await services.settings.get(f"tg:telegram:{supergroup}"))["voice"] is True  # /voice on followed
    assert await services.conversations.recent(f"telegram:{GROUP}") == []
    assert await services.memory.facts(f"telegram:{GROUP}") == {}


async def test_a_group_refused_as_migrated_keeps_its_memory_in_the_supergroup(bot_factory, api):
    """A reply refused with ChatMigrated moves the group's conversation, facts and /voice choice to the
    supergroup: asked there, the bot still knows the name said in the group."""
    supergroup = -1009876543211
    async with bot_factory() as h:
        await _remember_in_group(api, h)
        api.migrate(GROUP, supergroup)
        api.inject_message(GROUP, "@testbot one more in the old group")
        await api.wait_for(lambda: "one more in the old group" in api.texts(supergroup))
        await _assert_remembered_in(api, h, supergroup)
        assert h.adapter.outboxes.replier.moved == {GROUP: supergroup}


async def test_a_group_migration_service_message_moves_its_memory_to_the_supergroup(bot_factory, api):
    """Telegram's service messages (``migrate_to_chat_id`` in the group, ``migrate_from_chat_id`` in the
    supergroup) move the group's state once, and replies still meant for the group go to the supergroup."""
    supergroup = -1009876543212
    async with bot_factory() as h:
        published = _record_published(h)
        await _remember_in_group(api, h)
        api.inject({"message": {**message_json(GROUP, None), "migrate_to_chat_id": supergroup}})
        api.inject({"message": {**message_json(supergroup, None), "migrate_from_chat_id": GROUP}})
        await _assert_remembered_in(api, h, supergroup)
        notices = [m for m in published if m.moved is not None]
        assert len(notices) == 2 and {m.chat.id for m in notices} == {str(supergroup)}
        assert {(m.moved.old_chat_id, m.moved.new_chat_id) for m in notices} == {(str(GROUP), str(supergroup))}
        assert not any(m.is_addressed for m in notices)
        assert h.adapter.outboxes.replier.moved == {GROUP: supergroup}
