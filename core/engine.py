"""The dialogue engine contract.

An engine receives a :class:`Conversation` and yields its answer as an async
stream of text pieces. A non-streaming engine yields once. An engine that has
nothing good enough raises :class:`core.errors.NoAnswer` so that the next
engine in a chain can answer.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from core.lifecycle import Resource
from core.model import IncomingMessage, Turn


@dataclass(frozen=True, slots=True)
class Persona:
    """Who the bot is: a name, a description used as a system prompt, a greeting."""

    name: str = "Bot"
    description: str = "A friendly, helpful chat bot."
    greeting: str = "Hello! How can I help?"
    language: str = "en"


@dataclass(frozen=True, slots=True)
class Conversation:
    """What an engine sees: recent turns (oldest first), the new message, persona, language.

    ``facts``: what the user told about themselves in this chat (``name``, ``home``, ``likes``;
    see :mod:`core.memory`). ``citations``: an engine that answers from a source appends the
    source's id here; the pipeline logs them and puts them on the reply (``ReplyDone.sources``).
    """

    text: str
    turns: tuple[Turn, ...] = ()
    persona: Persona = field(default_factory=Persona)
    language: str = "en"
    chat_key: str = ""
    message: IncomingMessage | None = None
    facts: Mapping[str, str] = field(default_factory=dict)
    citations: list[str] = field(default_factory=list)


class DialogueEngine(Resource, abc.ABC):
    """Produces answers. Subclasses implement :meth:`reply` (an async generator)."""

    #: Short name used in logs, config and benchmarks.
    name: str = "engine"

    @abc.abstractmethod
    def reply(self, conversation: Conversation) -> AsyncIterator[str]:
        """Yield the answer to ``conversation`` piece by piece.

        Raises:
            NoAnswer: when the engine has no answer it is confident in.
            EngineError: on any other failure.
        """
