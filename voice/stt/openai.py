"""An OpenAI-compatible ``POST {base_url}/audio/transcriptions`` engine.

Works with OpenAI, faster-whisper-server, whisper.cpp's server and vLLM. The decoded
16 kHz mono audio is sent as WAV (any input format works, and it is small). Connection
errors, timeouts, 429 and 5xx answers are retried with exponential backoff; other answers
fail at once with the server's message. The API key comes from the environment and is
never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

import aiohttp

from core.backoff import BackoffPolicy
from voice.breaker import CircuitBreaker
from voice.stt.base import Heard, SttEngine, SttEngineError, SttUnavailable
from voice.stt.config import OpenAISttConfig
from voice.stt.decode import Samples

log = logging.getLogger(__name__)

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class _Retryable(SttEngineError):
    """A failure worth another attempt."""


class OpenAISttEngine(SttEngine):
    """Transcription by an OpenAI-compatible server."""

    def __init__(self, config: OpenAISttConfig, env: dict[str, str] | None = None) -> None:
        super().__init__(
            "openai",
            # the whole budget covers every attempt and the waits between them
            config.timeout_s * (config.retries + 1) + config.backoff_base_s * 2 ** config.retries,
            config.max_concurrency,
            CircuitBreaker(config.breaker_failures, config.breaker_reset_s),
        )
        self.config = config
        self.url = config.base_url.rstrip("/") + "/audio/transcriptions"
        environ = os.environ if env is None else env
        self._key = environ.get(config.api_key_env, "") if config.api_key_env else ""
        self._policy = BackoffPolicy(base_s=config.backoff_base_s, cap_s=max(config.backoff_base_s, 8.0))
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the HTTP session."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.timeout_s))
        await super().start()

    async def stop(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        await super().stop()

    def describe(self) -> str:
        key = f"key from ${self.config.api_key_env}" if self._key else "no key"
        return f"openai-compatible {self.url} (model {self.config.model}, {key})"

    async def _transcribe(self, samples: Samples, language: str | None) -> Heard:
        wav = await asyncio.to_thread(samples.wav)
        language = language or self.config.language or None
        attempt = 0
        while True:
            try:
                return await self._post(wav, language)
            except _Retryable as exc:
                attempt += 1
                if attempt > self.config.retries:
                    raise SttEngineError(f"{exc} (gave up after {attempt} attempts)") from exc
                delay = self._policy.delay(attempt)
                log.warning("stt openai: %s; retry %d in %.2f s", exc, attempt, delay)
                await asyncio.sleep(delay)

    async def _post(self, wav: bytes, language: str | None) -> Heard:
        if self._session is None:
            raise SttUnavailable("openai: not started")
        form = aiohttp.FormData()
        form.add_field("file", wav, filename="audio.wav", content_type="audio/wav")
        form.add_field("model", self.config.model)
        form.add_field("response_format", "verbose_json")
        if language:
            form.add_field("language", language)
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        try:
            async with self._session.post(self.url, data=form, headers=headers) as response:
                status = response.status
                body = await response.text()
        except TimeoutError as exc:
            raise _Retryable(f"openai: no answer from {self.url} within {self.config.timeout_s:g} s") from exc
        except aiohttp.ClientError as exc:
            raise _Retryable(f"openai: cannot reach {self.url}: {type(exc).__name__}: {exc}") from exc
        if status in _RETRY_STATUS:
            raise _Retryable(f"openai: {self.url} answered {status}: {_message(body)}")
        if status in (401, 403):
            hint = f"check ${self.config.api_key_env}" if self.config.api_key_env else "set api_key_env"
            raise SttEngineError(f"openai: {self.url} refused the key ({status}: {_message(body)}); {hint}")
        if status != 200:
            raise SttEngineError(f"openai: {self.url} answered {status}: {_message(body)}")
        return _heard(body, language)


def _message(body: str) -> str:
    """The error message of an OpenAI-style error body, or the body's start."""


    try:
        data: Any = json.loads(body)
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(data, dict) and data.get("detail"):
            return str(data["detail"])[:300]
    except ValueError:
        pass
    return body.strip()[:300] or "(empty body)"


def _heard(body: str, language: str | None) -> Heard:


    try:
        data: Any = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise SttEngineError(f"openai: the answer has no 'text': {body.strip()[:200]!r}")
    detected = str(data.get("language") or language or "")
    return Heard(data["text"].strip(), _base_language(detected))


_NAMES = {"english": "en", "chinese": "zh", "german": "de", "french": "fr", "spanish": "es", "japanese": "ja"}


def _base_language(value: str) -> str:
    """Servers report ``en`` or ``english``; we use base tags."""
    value = value.strip().lower()
    return _NAMES.get(value, value.replace("_", "-").split("-")[0])
