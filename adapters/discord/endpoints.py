"""Discord endpoints per client: a REST base and a gateway URL that belong to one client, not the process.

discord.py keeps both process-wide (``Route.BASE``, ``DiscordWebSocket.DEFAULT_GATEWAY``); setting
them for one bot would move every other Discord bot of the process too. The clients built here
rewrite their own requests instead: REST routes under Discord's base go to the configured base,
and a gateway connection to Discord's default gateway goes to the configured one (the gateway
URLs Discord hands out itself, to resume or for shards, are kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import HTTPClient, Route


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where one client talks to Discord (None: Discord's own).

    Attributes:
        api_base: REST base, e.g. ``http://127.0.0.1:8080/api/v10`` (a rate-limit proxy, a test server).
        gateway: gateway WebSocket URL.
    """

    api_base: str | None = None
    gateway: yarl.URL | None = None

    @classmethod
    def of(cls, api_base_url: str | None, gateway_url: str | None) -> Endpoints:
        return cls(api_base_url.rstrip("/") if api_base_url else None, yarl.URL(gateway_url) if gateway_url else None)

    @property
    def rest(self) -> str:
        """The REST base in use (for messages)."""
        return self.api_base or Route.BASE

    def rest_url(self, url: str) -> str:
        """``url`` moved from Discord's REST base to this one."""
        if self.api_base and url.startswith(Route.BASE):
            return self.api_base + url[len(Route.BASE) :]
        return url

    def gateway_url(self, url: str) -> str:
        """``url`` moved from Discord's default gateway to this one (query kept)."""
        asked = yarl.URL(url)
        if self.gateway is not None and asked.host == DiscordWebSocket.DEFAULT_GATEWAY.host:
            return str(self.gateway.with_query(asked.query))
        return url


class ScopedHTTPClient(HTTPClient):
    """discord.py's HTTP client, sending to this client's :class:`Endpoints`.

    REST calls and the gateway go through this client; interaction responses and follow-ups go
    through discord.py's webhook adapter with this client's aiohttp session, which is wrapped
    after login to send there too.
    """

    endpoints: Endpoints = Endpoints()

    async def request(self, route: Route, **kwargs: Any) -> Any:
        route.url = self.endpoints.rest_url(route.url)
        return await super().request(route, **kwargs)

    async def ws_connect(self, url: str, *, compress: int = 0) -> aiohttp.ClientWebSocketResponse:
        return await super().ws_connect(self.endpoints.gateway_url(url), compress=compress)

    async def static_login(self, token: str) -> Any:
        data = await super().static_login(token)
        if self.endpoints.api_base:
            # discord.py keeps the session in a private attribute, read by each interaction it builds
            private = vars(self)
            private["_HTTPClient__session"] = _RedirectedSession(private["_HTTPClient__session"], self.endpoints)
        return data


class _RedirectedSession:
    """An aiohttp session whose ``request`` goes to the client's REST base (everything else is the session's)."""

    def __init__(self, session: aiohttp.ClientSession, endpoints: Endpoints) -> None:
        self._session = session
        self._endpoints = endpoints

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        return self._session.request(method, self._endpoints.rest_url(str(url)), **kwargs)


class _Scoped:
    """Gives a discord.py client a :class:`ScopedHTTPClient` before anything holds its HTTP client."""

    http: HTTPClient
    _endpoints: Endpoints

    def _get_state(self, **options: Any) -> Any:
        http = self.http
        scoped = ScopedHTTPClient(
            http.loop,
            http.connector,
            proxy=http.proxy,
            proxy_auth=http.proxy_auth,
            unsync_clock=not http.use_clock,
            http_trace=http.http_trace,
            max_ratelimit_timeout=http.max_ratelimit_timeout,
        )
        scoped.endpoints = self._endpoints
        self.http = scoped
        return super()._get_state(**options)  # type: ignore[misc]


class ScopedClient(_Scoped, discord.Client):
    """A ``discord.Client`` talking to its own endpoints."""

    def __init__(self, endpoints: Endpoints, **options: Any) -> None:
        self._endpoints = endpoints
        super().__init__(**options)


class ScopedShardedClient(_Scoped, discord.AutoShardedClient):
    """A ``discord.AutoShardedClient`` talking to its own endpoints."""

    def __init__(self, endpoints: Endpoints, **options: Any) -> None:
        self._endpoints = endpoints
        super().__init__(**options)
