"""The Discord adapter's connection: the discord.py client, login, slash-command sync, the gateway."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import discord

from adapters.discord.base import DiscordAdapterBase
from adapters.discord.commands import build_tree, sync_commands
from adapters.discord.config import DiscordConfig
from adapters.discord.endpoints import Endpoints, ScopedClient, ScopedShardedClient
from adapters.discord.errors import DiscordAdapterError, DiscordUnreachable, LoginRefused
from core.redaction import register_secret

log = logging.getLogger(__name__)


def intents_for(config: DiscordConfig) -> discord.Intents:
    """Guilds, guild and DM messages, voice states; message content only when configured (privileged)."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.voice_states = True
    intents.message_content = config.message_content
    return intents


class Connection(DiscordAdapterBase):
    """Opens and closes the client; a failed start leaves nothing open."""

    @property
    def endpoints(self) -> Endpoints:
        """Where this adapter's client talks to Discord (``api_base_url`` and ``gateway_url`` of its config)."""
        return Endpoints.of(self.config.api_base_url, self.config.gateway_url)

    def _make_client(self) -> discord.Client:
        c = self.config
        intents, ready_timeout, endpoints = intents_for(c), c.guild_ready_timeout_s, self.endpoints
        client: discord.Client
        if c.shard_ids is not None:
            client = ScopedShardedClient(
                endpoints, intents=intents, guild_ready_timeout=ready_timeout, shard_count=c.shard_count, shard_ids=c.shard_ids
            )
        elif c.shard_count is not None:
            client = ScopedShardedClient(
                endpoints, intents=intents, guild_ready_timeout=ready_timeout, shard_count=c.shard_count or None
            )
        else:
            client = ScopedClient(endpoints, intents=intents, guild_ready_timeout=ready_timeout)
        client.event(self.on_message)
        client.event(self.on_voice_state_update)
        return client

    async def connect(self) -> None:
        """Log in, sync the slash commands and open the gateway; returns once READY.

        A failed start leaves nothing open (HTTP session, gateway task, voice watchdog), so
        the same adapter can be started again later.

        Raises:
            LoginRefused: Discord answered 401 to the token.
            DiscordUnreachable: the REST API did not answer.
            DiscordAdapterError: no token, or the gateway did not become ready.
        """
        c = self.config
        if c.token is None:
            raise DiscordAdapterError("discord.token is not set (use ${DISCORD_BOT_TOKEN})")
        register_secret(c.token.get_secret_value())
        try:
            await self._open(c.token.get_secret_value())
        except BaseException:
            await self.disconnect()
            raise

    async def _open(self, token: str) -> None:
        self.client = client = self._make_client()
        self.tree = build_tree(client, self, self.commands, listening=self.hearing_factory is not None)
        await self._login(client, token)
        if self.config.syncs_commands:
            await sync_commands(self.tree, self.config.dev_guild_ids)
        self._runner = asyncio.create_task(client.connect(reconnect=True), name=f"{self.adapter_id}-gateway")
        self._runner.add_done_callback(self._gateway_ended)
        ready = asyncio.create_task(client.wait_until_ready())
        try:
            await asyncio.wait({ready, self._runner}, timeout=120.0, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not ready.done():
                ready.cancel()
        if not client.is_ready():
            if self._runner.done():
                self._runner.result()  # raises the gateway's error
            raise DiscordAdapterError("discord gateway did not become ready in 120 s")
        await self._start_listening()
        await self.voice.start()
        log.info("discord: %s connected as %s", self.adapter_id, client.user)

    async def _login(self, client: discord.Client, token: str) -> None:
        """``client.login`` with its failures turned into this adapter's errors (never showing the token)."""
        try:
            await client.login(token)
        except discord.LoginFailure:
            raise LoginRefused(
                "Discord refused the bot token (HTTP 401 on /users/@me): check discord.token / DISCORD_BOT_TOKEN"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise DiscordUnreachable(f"cannot reach Discord's REST API at {self.endpoints.rest}: {exc}") from None

    def _gateway_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("discord: %s gateway stopped: %r", self.adapter_id, task.exception())

    async def disconnect(self) -> None:
        """Close everything :meth:`connect` opened; safe after a failed start and when called twice."""
        await self.voice.stop()
        await self._stop_listening()
        await self._lanes.stop()
        self._streams.clear()
        self._interactions.clear()
        client, self.client, self.tree = self.client, None, None
        if client is not None:
            await client.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            try:
                await asyncio.wait_for(runner, 10.0)
            except (asyncio.CancelledError, TimeoutError, Exception) as exc:  # noqa: BLE001 - shutting down
                log.debug("discord: gateway task ended with %r", exc)

    async def idle(self) -> None:
        """Wait until every queued reply has been sent (tests and benchmarks)."""
        await self._lanes.join()
