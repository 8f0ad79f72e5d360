"""Errors of the LLM engines, under the core's engine errors.

The tree::

    EngineError (core.errors)
    ├── EngineUnavailable
    │   ├── LLMAuthError        401/403: the API key is missing or refused
    │   ├── LLMNotFound         404: wrong base URL or unknown model
    │   └── LLMConnectionError  the server cannot be reached (after retries)
    ├── EngineTimeout           no answer within the timeout
    └── LLMServerError          any other HTTP error (after retries for 429/5xx)
        └── LLMRateLimited      429 after every retry
"""

from __future__ import annotations

from core.errors import EngineError, EngineUnavailable


class LLMAuthError(EngineUnavailable):
    """The server refused the API key (401/403)."""


class LLMNotFound(EngineUnavailable):
    """The endpoint or the model does not exist (404)."""


class LLMConnectionError(EngineUnavailable):
    """The server could not be reached."""


class LLMServerError(EngineError):
    """The server answered with an error status.

    Attributes:
        status: the HTTP status.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class LLMRateLimited(LLMServerError):
    """Still rate limited (429) after every retry."""
