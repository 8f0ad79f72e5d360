"""The observability server every process role runs: Prometheus metrics and a health check.

``GET /metrics``
    The default Prometheus registry (:mod:`core.metrics` and the client's process metrics),
    in the text exposition format.
``GET /healthz``
    ``{"status": "ok" | "degraded", "role": ROLE, "checks": {NAME: bool}}``: HTTP 200 when every
    check passed, 503 otherwise, so a load balancer or an orchestrator's probe can read the code
    alone. A check that raises or answers too late counts as failed (the reason is logged at debug).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from bots.errors import ObservabilityError
from core.lifecycle import Resource

log = logging.getLogger(__name__)

#: A health check: resolves to True when the part it checks works.
HealthCheck = Callable[[], Awaitable[bool]]


class ObservabilityServer(Resource):
    """Serves ``/metrics`` and ``/healthz`` on ``host:port``.

    Args:
        host: the address to listen on (``127.0.0.1``, ``0.0.0.0``, ``::``...).
        port: the port; 0 picks a free one (read :attr:`port` after :meth:`start`).
        role: this process's role (``all``, ``gateway``, ``worker``), echoed by ``/healthz``.
        checks: named health checks, run concurrently on each ``/healthz`` request.
        check_timeout_s: how long one check may take before it counts as failed.
    """

    def __init__(
        self,
        host: str,
        port: int,
        role: str,
        checks: Mapping[str, HealthCheck],
        *,
        check_timeout_s: float = 2.0,
    ) -> None:
        self.host = host
        self.role = role
        self.checks = dict(checks)
        self.check_timeout_s = check_timeout_s
        self._port = port
        self._bound: tuple[str, int] | None = None
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The port listened on once started (the one asked for before)."""
        return self._bound[1] if self._bound is not None else self._port

    @property
    def url(self) -> str:
        """``http://host:port/`` of the running server (append ``metrics`` or ``healthz``).

        Raises:
            RuntimeError: the server is not started.
        """
        if self._bound is None:
            raise RuntimeError("the observability server is not started")
        host, port = self._bound
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    async def start(self) -> None:
        """Listen and serve.

        Raises:
            ObservabilityError: the address is taken, or the host cannot be listened on.
        """
        if self._runner is not None:
            return
        sock = await _listen(self.host, self._port)
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.SockSite(runner, sock).start()
        except BaseException:
            await runner.cleanup()
            sock.close()
            raise
        self._runner = runner
        self._bound = sock.getsockname()[:2]
        log.info("observability (%s) serving /metrics and /healthz on %s", self.role, self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            self._bound = None
            await runner.cleanup()

    async def health(self) -> dict[str, bool]:
        """Run every check concurrently; each result is True only for a check that passed in time."""
        names = list(self.checks)
        results = await asyncio.gather(*(self._check(name) for name in names))
        return dict(zip(names, results, strict=True))

    async def _check(self, name: str) -> bool:
        try:
            return bool(await asyncio.wait_for(self.checks[name](), self.check_timeout_s))
        except TimeoutError:
            log.debug("health check %s took more than %.1fs", name, self.check_timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failing check is an answer, not a crash
            log.debug("health check %s failed: %r", name, exc, exc_info=True)
        return False

    async def _healthz(self, request: web.Request) -> web.Response:
        checks = await self.health()
        ok = all(checks.values())
        body = {"status": "ok" if ok else "degraded", "role": self.role, "checks": checks}
        return web.json_response(body, status=200 if ok else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        # CONTENT_TYPE_LATEST carries a charset, which aiohttp only accepts as a raw header.
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _listen(host: str, port: int) -> socket.socket:
    """A listening, non-blocking socket on ``host:port`` (the first address ``host`` resolves to).

    One socket, not one per address family: with port 0 each would get a different port.
    """
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise ObservabilityError(f"observability server cannot listen on {address}: unknown host ({exc})") from exc
    family, kind, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Lets a restart reuse a port whose old connections linger in TIME_WAIT; a port that
        # another socket is listening on stays taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or repr(exc))
        raise ObservabilityError(f"observability server cannot listen on {address}: {reason}") from exc
    return sock
