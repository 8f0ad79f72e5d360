"""Scale-out end to end: ``run.py gateway`` and ``run.py worker`` processes over a private redis-server.

Each test checks that every message gets exactly one answer, in order per chat, through
process deaths and a Redis restart.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.bots.scaleout import Chats, Cluster, expected
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


async def test_gateway_and_two_workers_answer_200_messages_once_in_order(tmp_path: Path, redis_server: RedisServer) -> None:
    cluster = Cluster(tmp_path, redis_server.url, delay_s=0.002)
    try:
        cluster.gateway()
        cluster.worker("w1")
        cluster.worker("w2")
        async with Chats(cluster.ws_url, 20) as chats:
            await chats.send_rounds(0, 10)
            await chats.wait_total(200, 60)
            got = dict(chats.replies)
    finally:
        cluster.stop()
    assert got == expected(chats.sessions, 10), cluster.logs()
    for name in ("w1", "w2"):  # both workers did part of the work
        worker_log = (tmp_path / f"worker-{name}.log").read_text()
        assert "Traceback" not in worker_log, worker_log[-3000:]


async def test_kill_9_of_a_worker_holding_messages_loses_none_and_repeats_none(tmp_path: Path, redis_server: RedisServer) -> None:
    cluster = Cluster(tmp_path, redis_server.url, delay_s=0.03)  # the dead worker's messages are taken after 5 s
    try:
        cluster.gateway()
        victim = cluster.worker("w1")
        cluster.worker("w2")
        async with Chats(cluster.ws_url, 10) as chats:
            await chats.send_rounds(0, 12)
            await chats.wait_at_least(15)
            victim.kill()  # it holds read-but-unacknowledged messages now
            killed_at = chats.total()
            await chats.wait_total(120, 60)
            got = dict(chats.replies)
    finally:
        cluster.stop()
    assert killed_at < 120, "the worker was killed after everything was answered: the test proved nothing"
    assert got == expected(chats.sessions, 12), cluster.logs()
    assert "reclaimed from a worker that stopped or died" in (tmp_path / "worker-w2.log").read_text()


async def test_redis_restart_mid_run_messages_during_the_outage_are_answered_after(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    cluster = Cluster(tmp_path, redis_server.url)
    try:
        cluster.gateway()
        cluster.worker("w1")
        async with Chats(cluster.ws_url, 4) as chats:
            await chats.send_rounds(0, 5)
            await chats.wait_total(20, 30)
            redis_server.stop()
            await chats.send_rounds(5, 10)  # sent while redis is down: the gateway keeps them
            await asyncio.sleep(1.0)
            assert chats.total() == 20
            redis_server.start()
            await chats.wait_total(40, 60)
            got = dict(chats.replies)
    finally:
        cluster.stop()
    assert got == expected(chats.sessions, 10), cluster.logs()
    gateway_log = (tmp_path / "gateway-g1.log").read_text()
    assert "unreachable" in gateway_log and "reachable again" in gateway_log


async def test_sigterm_stops_a_worker_gracefully_and_the_other_finishes_its_messages(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    cluster = Cluster(tmp_path, redis_server.url, delay_s=0.05, claim_idle_s=30.0)
    try:
        cluster.gateway()
        leaving = cluster.worker("w1")
        cluster.worker("w2")
        async with Chats(cluster.ws_url, 8) as chats:
            await chats.send_rounds(0, 8)
            await chats.wait_at_least(10)
            assert leaving.terminate() == 0
            started = time.monotonic()
            await chats.wait_total(64, 25)  # far less than the 30 s reclaim idle time
            took = time.monotonic() - started
            got = dict(chats.replies)
    finally:
        cluster.stop()
    assert got == expected(chats.sessions, 8), cluster.logs()
    assert took < 25
