"""An engine for any OpenAI-compatible chat-completions server, streamed over server-sent events.

Works with OpenAI, Ollama, vLLM, llama.cpp's server and LM Studio: ``POST
{base_url}/chat/completions`` with ``"stream": true``. The persona is the system
prompt; earlier turns are sent newest-first until the token budget is spent.
429 and 5xx answers (and refused connections) are retried with exponential
backoff before anything has been yielded; a ``Retry-After`` longer than
``max_retry_after_s`` fails at once, so the chain moves on to its next engine;
401/403/404 fail at once with a clear error (see :mod:`core.engines.llm.errors`).
A 200 answer that is not an event stream of chat-completion chunks (an HTML
page, another JSON schema, undecodable bytes) is an error naming the server,
never "an empty answer". The API key is registered with the log redactor.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp
from pydantic import SecretStr

from core.backoff import BackoffPolicy
from core.engine import Conversation, DialogueEngine, Persona
from core.engines.llm.config import OpenAIEngineConfig
from core.engines.llm.errors import LLMAuthError, LLMConnectionError, LLMNotFound, LLMRateLimited, LLMServerError
from core.engines.llm.sse import sse_data
from core.errors import EngineError, EngineTimeout, EngineUnavailable, NoAnswer
from core.model import Turn
from core.redaction import register_secret

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def estimate_tokens(text: str) -> int:
    """A rough token count (about 4 characters a token, as for English BPE vocabularies)."""
    return max(1, math.ceil(len(text) / 4))


def system_prompt(persona: Persona, facts: Mapping[str, str] | None = None) -> str:
    """The system message for ``persona``, with what the user told about themselves (``facts``)."""
    prompt = f"You are {persona.name}. {persona.description}".strip()
    if facts:
        known = "; ".join(f"{key}: {value}" for key, value in facts.items())
        prompt += f"\n\nWhat the user told you about themselves (use it naturally): {known}."
    return prompt


def build_messages(conversation: Conversation, history_tokens: int) -> list[dict[str, str]]:
    """System prompt, the newest earlier turns that fit in ``history_tokens``, then the new message."""
    turns: Sequence[Turn] = conversation.turns
    if turns and turns[-1].role == "user" and turns[-1].text == conversation.text:
        turns = turns[:-1]  # the pipeline's history may already hold the new message
    history: list[dict[str, str]] = []
    budget = history_tokens
    for turn in reversed(turns):
        cost = estimate_tokens(turn.text)
        if cost > budget:
            break
        budget -= cost
        history.append({"role": "assistant" if turn.role == "bot" else "user", "content": turn.text})
    return [
        {"role": "system", "content": system_prompt(conversation.persona, conversation.facts)},
        *reversed(history),
        {"role": "user", "content": conversation.text},
    ]


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


async def _error_text(response: aiohttp.ClientResponse) -> str:
    try:
        body = await response.text()
    except (aiohttp.ClientError, UnicodeDecodeError):
        return ""
    try:
        err = json.loads(body).get("error")
        if isinstance(err, dict):
            return str(err.get("message", ""))
        return str(err or "")
    except (ValueError, AttributeError):
        return body[:200]


class OpenAIEngine(DialogueEngine):
    """Streams answers from an OpenAI-compatible chat-completions endpoint.

    Args:
        base_url: e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:11434/v1`` (Ollama).
        model: the model name the server knows.
        api_key: bearer token (None: no Authorization header).
        timeout_s: limit for a whole answer.
        connect_timeout_s: limit for connecting, the response headers, and each gap between chunks.
        max_retries: retries after 429/5xx or a refused connection.
        backoff_s: first retry delay, doubled each time up to 30 s, equal jitter (``Retry-After`` wins when given).
        max_retry_after_s: the longest ``Retry-After`` waited for; longer ones fail at once.
        history_tokens: budget of earlier turns sent along.
        temperature: sampling temperature.
        max_tokens: length cap of the answer.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: SecretStr | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 10.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        history_tokens: int = 2000,
        temperature: float = 0.7,
        max_tokens: int = 512,
        max_retry_after_s: float = 30.0,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._api_key = api_key
        if api_key is not None:
            register_secret(api_key.get_secret_value())
        self.max_retry_after_s = max_retry_after_s
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.retry_policy = BackoffPolicy(base_s=backoff_s, cap_s=max(backoff_s, 30.0), jitter="equal")
        self.history_tokens = history_tokens
        self.temperature = temperature
        self.max_tokens = max_tokens
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_config(cls, cfg: OpenAIEngineConfig) -> OpenAIEngine:
        """Build from the ``kind: openai`` entry of config.yaml (key from ``api_key_env`` when unset)."""
        key = cfg.api_key
        if (key is None or not key.get_secret_value()) and os.environ.get(cfg.api_key_env):
            key = SecretStr(os.environ[cfg.api_key_env])
        return cls(
            base_url=cfg.base_url,
            model=cfg.model,
            api_key=key,
            timeout_s=cfg.timeout_s,
            connect_timeout_s=cfg.connect_timeout_s,
            max_retries=cfg.max_retries,
            backoff_s=cfg.backoff_s,
            history_tokens=cfg.history_tokens,
            temperature=cfg.temperature,
            max_tokens=cfg.max_tokens,
            max_retry_after_s=cfg.max_retry_after_s,
        )

    async def start(self) -> None:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(
                total=self.timeout_s, sock_connect=self.connect_timeout_s, sock_read=self.connect_timeout_s
            )
            self._session = aiohttp.ClientSession(timeout=timeout)

    async def stop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self._api_key is not None and self._api_key.get_secret_value():
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        return headers

    def payload(self, conversation: Conversation) -> dict[str, Any]:
        """The JSON body sent for ``conversation``."""
        return {
            "model": self.model,
            "messages": build_messages(conversation, self.history_tokens),
            "stream": True,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }

    async def _open(self, body: dict[str, Any]) -> aiohttp.ClientResponse:
        """A 200 response, after retries; raises the matching error otherwise."""
        assert self._session is not None
        attempt = 0
        while True:
            delay = self.retry_policy.delay(attempt + 1)
            try:
                response = await self._session.post(self.url, json=body, headers=self._headers())
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                if attempt >= self.max_retries:
                    raise LLMConnectionError(f"cannot reach {self.url}: {exc}") from exc
                log.warning("openai engine: %s; retrying in %.1fs", exc, delay)
            else:
                status = response.status
                if status == 200:
                    return response
                detail = await _error_text(response)
                retry_after = _retry_after(response)
                response.release()
                if status in (401, 403):
                    raise LLMAuthError(f"{self.url} refused the API key ({status}): {detail or 'unauthorized'}")
                if status == 404:
                    raise LLMNotFound(f"{self.url} or model {self.model!r} not found (404): {detail or 'not found'}")
                if status not in RETRY_STATUSES:
                    raise LLMServerError(f"{self.url} answered {status}: {detail}", status)
                if attempt >= self.max_retries:
                    cls = LLMRateLimited if status == 429 else LLMServerError
                    raise cls(f"{self.url} answered {status} after {attempt + 1} attempts: {detail}", status)
                if retry_after is not None and retry_after > self.max_retry_after_s:
                    cls = LLMRateLimited if status == 429 else LLMServerError
                    raise cls(
                        f"{self.url} answered {status} asking to retry after {retry_after:g}s, more than"
                        f" max_retry_after_s={self.max_retry_after_s:g}; not waiting",
                        status,
                    )
                delay = retry_after if retry_after is not None else delay
                log.warning("openai engine: %s answered %d; retrying in %.1fs", self.url, status, delay)
            attempt += 1
            await asyncio.sleep(delay)

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:
        if self._session is None:
            raise EngineUnavailable("openai engine is not started")
        produced = False
        events = 0
        try:
            response = await self._open(self.payload(conversation))
            async with response:
                content_type = response.headers.get("Content-Type", "")
                async for data in sse_data(response):
                    if data.strip() == "[DONE]":
                        break
                    try:
                        event = json.loads(data)
                    except ValueError as exc:
                        raise EngineError(f"bad event from {self.url} ({content_type or 'no content type'})") from exc
                    if not isinstance(event, dict):
                        raise EngineError(f"bad event from {self.url}: a JSON {type(event).__name__}, not an object")
                    if "error" in event:
                        raise EngineError(f"{self.url} reported: {event['error']}")
                    choices = event.get("choices")
                    if not isinstance(choices, list):
                        raise EngineError(f"{self.url} sent an event without a choices list: not a chat-completions stream")
                    events += 1
                    for choice in choices:
                        delta = choice.get("delta") if isinstance(choice, dict) else None
                        piece = delta.get("content") if isinstance(delta, dict) else None
                        if isinstance(piece, str) and piece:
                            produced = True
                            yield piece
        except TimeoutError as exc:
            raise EngineTimeout(f"{self.url} did not answer within the timeout") from exc
        except aiohttp.ClientError as exc:
            raise EngineError(f"{self.url} broke off the answer: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise EngineError(f"{self.url} sent bytes that are not UTF-8 in its event stream (at byte {exc.start})") from None
        if not produced:
            if not events:
                raise EngineError(
                    f"{self.url} answered 200 without any chat-completion event"
                    f" (content type {content_type or 'none'}): is base_url an OpenAI-compatible /v1 endpoint?"
                )
            raise NoAnswer(f"{self.model} returned an empty answer")
