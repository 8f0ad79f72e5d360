"""The lean pipelined connection of the stores and the worker's writer, against a real redis-server."""

from __future__ import annotations

import asyncio

import pytest
import redis as sync_redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from core import eventloop
from core.distributed.resp_pipe import Recorder, RespPipe, hash_reply
from tests.redis_server import RedisServer, free_port

pytestmark = pytest.mark.timeout(60)


async def test_a_batch_gets_its_replies_in_order_with_a_refused_command_in_its_place(redis_server: RedisServer) -> None:
    pipe = RespPipe(redis_server.url)
    rec = Recorder()
    rec.set("k", b"v", nx=True, px=10_000)
    rec.set("k", b"w", nx=True, px=10_000)  # not set: the claim was taken
    rec.rpush("l", b"a", b"b")
    rec.lpush("k", b"x")  # WRONGTYPE: refused, the others still run
    rec.lrange("l", 0, -1)
    rec.hset("h", mapping={"f": b"1", "g": b"2"})
    rec.hgetall("h")
    try:
        replies = await pipe.execute(rec.commands)
    finally:
        await pipe.close()
    assert replies[:3] == [b"OK", None, 2]
    assert isinstance(replies[3], ResponseError) and "WRONGTYPE" in str(replies[3])
    assert replies[4] == [b"a", b"b"]
    assert hash_reply(replies[6]) == {b"f": b"1", b"g": b"2"}
    assert hash_reply([]) == {}


async def test_concurrent_batches_each_get_their_own_replies(redis_server: RedisServer) -> None:
    pipe = RespPipe(redis_server.url)
    try:
        results = await asyncio.gather(*(pipe.execute([("INCRBY", f"n{i % 7}", i), ("ECHO", str(i))]) for i in range(300)))
    finally:
        await pipe.close()
    assert [echo for _, echo in results] == [str(i).encode() for i in range(300)]
    assert all(isinstance(count, int) for count, _ in results)


async def test_an_unreachable_server_is_a_connection_error_and_a_restart_is_picked_up(redis_server: RedisServer) -> None:
    pipe = RespPipe(redis_server.url)
    try:
        assert await pipe.execute([("PING",)]) == [b"PONG"]
        redis_server.stop()
        with pytest.raises(RedisConnectionError):
            await pipe.execute([("PING",)])
        with pytest.raises(RedisConnectionError, match="error connecting"):
            await pipe.execute([("PING",)])
        redis_server.start()
        assert await pipe.execute([("PING",)]) == [b"PONG"]
    finally:
        await pipe.close()


async def test_nobody_listening_is_a_connection_error_naming_the_address() -> None:
    port = free_port()
    with pytest.raises(RedisConnectionError, match=f"127.0.0.1:{port}"):
        await RespPipe(f"redis://127.0.0.1:{port}/0").execute([("PING",)])


async def test_a_caller_that_stops_waiting_drops_the_connection_so_no_late_reply_reaches_the_next(
    redis_server: RedisServer,
) -> None:
    """Guards reply alignment: a timed-out BLPOP's reply must never be read as the next caller's."""
    pipe = RespPipe(redis_server.url)
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await pipe.execute([("BLPOP", "wait", 1)])
        sync_redis.Redis.from_url(redis_server.url).rpush("wait", b"late")
        assert await pipe.execute([("ECHO", "mine")]) == [b"mine"]
        # the pipe's own deadline does the same
        with pytest.raises(TimeoutError, match="no reply from redis within 0.2s"):
            await pipe.execute([("BLPOP", "wait2", 1)], timeout_s=0.2)
        sync_redis.Redis.from_url(redis_server.url).rpush("wait2", b"late")
        assert await pipe.execute([("ECHO", "next")], timeout_s=5) == [b"next"]
    finally:
        await pipe.close()


async def test_password_user_and_database_from_the_url(redis_server: RedisServer) -> None:
    admin = sync_redis.Redis.from_url(redis_server.url)
    admin.execute_command("ACL", "SETUSER", "bot", "on", ">s3cret", "~*", "+@all")
    admin.config_set("requirepass", "topsecret")
    port = redis_server.port
    try:
        pipe = RespPipe(f"redis://:topsecret@127.0.0.1:{port}/3")
        await pipe.execute([("SET", "where", b"db3")])
        await pipe.close()
        user = RespPipe(f"redis://bot:s3cret@127.0.0.1:{port}/3")
        assert await user.execute([("GET", "where")]) == [b"db3"]
        await user.close()
        wrong = RespPipe(f"redis://bot:nope@127.0.0.1:{port}/0")
        with pytest.raises(RedisConnectionError, match="refused the connection set-up"):
            await wrong.execute([("PING",)])
    finally:
        sync_redis.Redis(port=port, password="topsecret").config_set("requirepass", "")


def test_works_on_the_event_loop_run_py_uses(redis_server: RedisServer) -> None:
    """Guards the uvloop case (run.py's loop): its transports are not asyncio.Transport subclasses."""

    async def batch() -> list[object]:
        pipe = RespPipe(redis_server.url)
        try:
            return await pipe.execute([("SET", "k", b"1"), ("GET", "k")])
        finally:
            await pipe.close()

    assert eventloop.loop_name() == "uvloop"
    assert eventloop.run(batch()) == [b"OK", b"1"]
