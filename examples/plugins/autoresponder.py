"""A keyword auto-responder driven by its settings: canned answers without touching the engine.

```yaml
plugin_config:
  autoresponder:
    rules:
      - keywords: [price, pricing, cost]
        reply: "Plans start at $10/month: https://example.com/pricing"
      - keywords: [opening hours, open]
        reply: "We're open 9:00-17:00, Monday to Friday."
```

A message containing one of a rule's keywords (whole words, case-insensitive by default) gets the
rule's reply instead of the dialogue engine's. ``/keywords`` lists what it reacts to.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, field_validator

from bots.plugin import Context, Plugin


class Rule(BaseModel):
    """One canned answer and the keywords (words or phrases) that trigger it."""

    keywords: list[str] = Field(min_length=1)
    reply: str = Field(min_length=1)

    @field_validator("keywords")
    @classmethod
    def _not_blank(cls, value: list[str]) -> list[str]:
        if any(not k.strip() for k in value):
            raise ValueError("keywords must not be blank")
        return [k.strip() for k in value]


class AutoResponderSettings(BaseModel):
    """``plugin_config: {autoresponder: {rules: [...], case_sensitive: false}}``."""

    rules: list[Rule] = Field(default_factory=list)
    case_sensitive: bool = False

    def compiled(self) -> list[tuple[re.Pattern[str], Rule]]:
        flags = 0 if self.case_sensitive else re.IGNORECASE
        return [
            (re.compile(r"\b(?:" + "|".join(re.escape(k) for k in rule.keywords) + r")\b", flags), rule)
            for rule in self.rules
        ]


plugin = Plugin("autoresponder", description="Auto-replies", config=AutoResponderSettings)

_compiled: dict[int, list[tuple[re.Pattern[str], Rule]]] = {}


def _rules() -> list[tuple[re.Pattern[str], Rule]]:
    settings: AutoResponderSettings = plugin.settings
    key = id(settings)
    if key not in _compiled:  # settings are replaced when a config is loaded again
        _compiled.clear()
        _compiled[key] = settings.compiled()
    return _compiled[key]


@plugin.on_message()
async def respond(ctx: Context) -> None:
    for pattern, rule in _rules():
        if pattern.search(ctx.message.text):
            await ctx.reply(rule.reply)
            return


@plugin.command("keywords", "What I answer automatically")
async def keywords(ctx: Context) -> None:
    rules = plugin.settings.rules
    if not rules:
        await ctx.reply("No automatic answers are configured.")
        return
    await ctx.reply("I answer these right away:\n" + "\n".join(f"- {', '.join(r.keywords)}" for r in rules))
