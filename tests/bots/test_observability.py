"""The observability server over real HTTP: metrics exposition, health checks, a taken port."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from bots.errors import BotsError, ObservabilityError
from bots.observability import ObservabilityServer
from core import metrics


def returns(value: bool) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return value

    return check


async def raises() -> bool:
    raise ConnectionError("redis is down")


async def hangs() -> bool:
    await asyncio.sleep(30)
    return True


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers["Content-Type"], await response.text()


async def get_json(url: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


@pytest.fixture
async def server() -> AsyncIterator[ObservabilityServer]:
    async with ObservabilityServer("127.0.0.1", 0, "worker", {"bus": returns(True), "store": returns(True)}) as srv:
        yield srv


async def test_metrics_serves_the_default_registry_in_prometheus_format(server: ObservabilityServer) -> None:
    metrics.ERRORS.labels("obs-test", "probe").inc()
    metrics.STAGE.labels("obs-test", "engine").observe(0.2)
    status, content_type, body = await get(f"{server.url}metrics")
    assert status == 200
    assert content_type.startswith("text/plain") and "version=" in content_type
    assert 'bot_errors_total{bot="obs-test",kind="probe"}' in body
    assert 'bot_stage_seconds_bucket{bot="obs-test",le="0.25",stage="engine"}' in body
    assert "# TYPE bot_end_to_end_seconds histogram" in body


async def test_healthz_is_ok_when_every_check_passes(server: ObservabilityServer) -> None:
    assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}/"
    status, body = await get_json(f"{server.url}healthz")
    assert status == 200
    assert body == {"status": "ok", "role": "worker", "checks": {"bus": True, "store": True}}


async def test_healthz_is_degraded_when_a_check_fails_raises_or_hangs() -> None:
    checks = {"bus": returns(True), "store": returns(False), "engine": raises, "speech": hangs}
    async with ObservabilityServer("127.0.0.1", 0, "gateway", checks, check_timeout_s=0.2) as srv:
        started = time.monotonic()
        status, body = await get_json(f"{srv.url}healthz")
        elapsed = time.monotonic() - started
    assert status == 503
    assert body == {
        "status": "degraded",
        "role": "gateway",
        "checks": {"bus": True, "store": False, "engine": False, "speech": False},
    }
    assert elapsed < 2.0  # the checks run concurrently and the hanging one is cut off


async def test_a_taken_port_is_a_clear_error_naming_the_address() -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        srv = ObservabilityServer("127.0.0.1", port, "all", {})
        with pytest.raises(ObservabilityError, match=f"127.0.0.1:{port}: address already in use") as caught:
            await srv.start()
    assert isinstance(caught.value, BotsError)
    await srv.stop()  # nothing started: still safe


async def test_start_and_stop_are_idempotent_and_free_the_port() -> None:
    srv = ObservabilityServer("127.0.0.1", 0, "all", {})
    await srv.start()
    port = srv.port
    await srv.start()
    assert srv.port == port
    second = ObservabilityServer("127.0.0.1", port, "all", {})
    with pytest.raises(ObservabilityError, match="address already in use"):
        await second.start()
    await srv.stop()
    await srv.stop()
    with pytest.raises(RuntimeError):
        _ = srv.url
    async with ObservabilityServer("127.0.0.1", port, "all", {}) as again:
        status, body = await get_json(f"{again.url}healthz")
    assert (status, body["status"]) == (200, "ok")
