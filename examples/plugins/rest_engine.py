"""A dialogue engine that asks your own REST service: ``engines: [{kind: rest, url: ...}]``.

The engine POSTs ``{"text", "language", "chat", "user", "history": [{"role", "text"}...]}`` as JSON and
reads the answer from the response's ``answer_field`` (``answer`` by default). An empty answer, a
404 or a ``null`` field mean "no answer" (the next engine in the chain answers); other failures are
engine errors (logged; the chain moves on too).

```yaml
engines:
  - kind: rest
    url: http://127.0.0.1:9000/answer
    headers: {Authorization: "Bearer ${FAQ_API_TOKEN}"}
  - kind: retrieval
```
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from pydantic import BaseModel, Field, SecretStr

from bots.plugin import Plugin
from core.engine import Conversation, DialogueEngine
from core.errors import EngineError, NoAnswer


class RestEngineConfig(BaseModel):
    """The service's address and how to read its answer."""

    url: str = Field(pattern=r"^https?://")
    answer_field: str = "answer"
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    history_turns: int = Field(default=6, ge=0, le=100)
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="sent with every request (secrets)")


class RestEngine(DialogueEngine):
    """Answers with what a REST endpoint returns."""

    name = "rest"

    def __init__(self, config: RestEngineConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        headers = {k: v.get_secret_value() for k, v in self.config.headers.items()}
        self._session = aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=self.config.timeout_s))

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:  # type: ignore[override]
        if self._session is None:
            raise EngineError("rest engine used before start()")
        turns = conversation.turns[-self.config.history_turns :] if self.config.history_turns else ()
        payload = {
            "text": conversation.text,
            "language": conversation.language,
            "chat": conversation.chat_key,
            "user": conversation.message.user_key if conversation.message else "",
            "history": [{"role": t.role, "text": t.text} for t in turns],
        }
        try:
            async with self._session.post(self.config.url, json=payload) as response:
                if response.status == 404:
                    raise NoAnswer("the service has no answer")
                if response.status >= 400:
                    raise EngineError(f"{self.config.url} answered HTTP {response.status}")
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise EngineError(f"{self.config.url}: {type(exc).__name__}: {exc}") from exc
        answer = data.get(self.config.answer_field) if isinstance(data, dict) else None
        if not isinstance(answer, str) or not answer.strip():
            raise NoAnswer("the service returned no answer")
        yield answer.strip()


plugin = Plugin("rest_engine", description="REST engine")


@plugin.engine("rest", config=RestEngineConfig)
def make_rest(config: RestEngineConfig) -> DialogueEngine:
    return RestEngine(config)
