"""The grounded prompt: retrieved passages in the system message, with the rule to answer only from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from core.engine import Conversation
from core.engines.kb.index import KbHit

INSTRUCTION = (
    "Answer the user's question using ONLY the knowledge-base passages below. "
    "If they do not cover the question, say that you don't know and suggest contacting support; "
    "never invent facts. Keep the answer short. End with the id of the passage you used in square "
    "brackets, for example [refund]."
)


def passages_block(hits: Sequence[KbHit]) -> str:
    """The passages as numbered, id-tagged sections."""
    parts = []
    for hit in hits:
        item = hit.item
        body = item.answer if item.kind == "passage" else f"Q: {item.title}\nA: {item.answer}"
        parts.append(f"[{item.id}] {item.title}\n{body}" if item.kind == "passage" else f"[{item.id}]\n{body}")
    return "\n\n".join(parts)


def grounded_conversation(conversation: Conversation, hits: Sequence[KbHit]) -> Conversation:
    """``conversation`` with the grounding instruction and the passages added to the persona's system prompt."""
    persona = conversation.persona
    description = f"{persona.description}\n\n{INSTRUCTION}\n\nKnowledge-base passages:\n\n{passages_block(hits)}"
    return replace(conversation, persona=replace(persona, description=description.strip()))
