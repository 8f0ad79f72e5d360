"""examples/plugins/autoresponder.py: canned answers from its settings, the engine for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.errors import PluginError
from tests.bots.plugin_app import EXAMPLES, app_config, load, running, web_chat

RULES = {
    "rules": [
        {"keywords": ["price", "pricing"], "reply": "Plans start at $10/month."},
        {"keywords": ["opening hours"], "reply": "We're open 9-17."},
    ]
}


async def test_keywords_answer_from_settings_and_other_messages_reach_the_engine(tmp_path: Path) -> None:
    config = load(app_config(tmp_path, plugin_dirs=[str(EXAMPLES)], plugin_config={"autoresponder": RULES}), tmp_path)
    async with running(config, tmp_path) as app, web_chat(app) as chat:
        assert (await chat.ask("What is the PRICE?"))["text"] == "Plans start at $10/month."
        assert (await chat.ask("your opening hours please"))["text"] == "We're open 9-17."
        assert (await chat.ask("priceless art"))["text"] == "echo: priceless art"  # whole words only
        assert (await chat.ask("/keywords"))["text"] == "I answer these right away:\n- price, pricing\n- opening hours"


async def test_case_sensitive_setting_and_no_rules(tmp_path: Path) -> None:
    settings = {**RULES, "case_sensitive": True}
    config = load(app_config(tmp_path, plugin_dirs=[str(EXAMPLES)], plugin_config={"autoresponder": settings}), tmp_path)
    async with running(config, tmp_path) as app, web_chat(app) as chat:
        assert (await chat.ask("PRICE?"))["text"] == "echo: PRICE?"
        assert (await chat.ask("price?"))["text"] == "Plans start at $10/month."
    config = load(app_config(tmp_path, plugin_dirs=[str(EXAMPLES)]), tmp_path)
    async with running(config, tmp_path) as app, web_chat(app) as chat:
        assert (await chat.ask("/keywords"))["text"] == "No automatic answers are configured."


def test_a_rule_without_keywords_is_a_start_up_error(tmp_path: Path) -> None:
    bad = {"rules": [{"keywords": [], "reply": "x"}]}
    with pytest.raises(PluginError, match=r"plugin_config.autoresponder \(plugin autoresponder, .*\): rules.0.keywords: List should"):
        load(app_config(tmp_path, plugin_dirs=[str(EXAMPLES)], plugin_config={"autoresponder": bad}), tmp_path)
