"""Exceptions of the web chat adapter.

The tree::

    WebError                 anything the web adapter raises
    ├── ProtocolError        a client frame broke the WebSocket protocol (answered with an error frame)
    └── ServerStartError     the HTTP server could not bind its host and port
"""

from __future__ import annotations


class WebError(Exception):
    """Base of the web adapter's errors."""


class ProtocolError(WebError):
    """A client frame could not be accepted.

    Args:
        code: a stable, machine-readable reason (``bad_json``, ``binary``, ``too_large``...).
        message: a short human-readable explanation, shown in the page.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ServerStartError(WebError):
    """The web server could not start (address in use, bad host)."""
