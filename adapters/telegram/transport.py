"""python-telegram-bot's HTTP layer on aiohttp instead of httpx.

:class:`AiohttpRequest` is a :class:`telegram.request.BaseRequest`: the ``Bot`` still builds every
request and parses every answer; only the bytes go over aiohttp. httpx/httpcore spend most of a
bot's CPU per message in their connection pool (each request start and end checks every idle
connection's socket through anyio) and, without ``sniffio``, a failed import per call; aiohttp's
connector hands out a keep-alive connection in constant time. Bodies are what ``HTTPXRequest``
sends: form-encoded JSON values, or multipart when files are attached.
"""

from __future__ import annotations

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_UNSET = BaseRequest.DEFAULT_NONE


class AiohttpRequest(BaseRequest):
    """Bot API requests over one :class:`aiohttp.ClientSession` with at most ``connection_pool_size`` connections.

    Args:
        connection_pool_size: connections kept open to the Bot API server, at most.
        read_timeout: seconds to wait for an answer (a method's own ``read_timeout`` wins).
        write_timeout: kept for python-telegram-bot's interface (aiohttp has no separate write timeout).
        connect_timeout: seconds to connect.
        pool_timeout: seconds to wait for a free connection.
        media_write_timeout: as ``write_timeout``, for requests with files.
    """

    def __init__(
        self,
        connection_pool_size: int = 8,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=self._pool_size)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | None | object = _UNSET,
        write_timeout: float | None | object = _UNSET,
        connect_timeout: float | None | object = _UNSET,
        pool_timeout: float | None | object = _UNSET,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        fields = request_data.json_parameters if request_data else None
        body: aiohttp.FormData | dict[str, str] | None = fields
        if files:
            form = aiohttp.FormData()
            for name, value in (fields or {}).items():
                form.add_field(name, value)
            for name, (filename, content, mime) in files.items():
                form.add_field(name, content, filename=filename, content_type=mime)
            body = form
        read = self._read_timeout if read_timeout is _UNSET else read_timeout
        connect = self._connect_timeout if connect_timeout is _UNSET else connect_timeout
        pool = self._pool_timeout if pool_timeout is _UNSET else pool_timeout
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=_seconds(pool, connect),
            sock_connect=_seconds(connect),
            sock_read=_seconds(read),
        )
        try:
            async with session.request(method, url, data=body, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc


def _seconds(*parts: object) -> float | None:
    """The sum of the given timeouts (None when any is None: no limit)."""
    total = 0.0
    for part in parts:
        if part is None:
            return None
        assert isinstance(part, int | float)
        total += float(part)
    return total
