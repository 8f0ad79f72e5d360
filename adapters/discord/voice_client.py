"""discord.py's voice client as the voice manager uses it: removals it did not ask for, a dead reader,
connecting with our errors, and dropping a client discord.py still holds (see :mod:`adapters.discord.voice`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import discord
from discord.voice_state import VoiceConnectionState

from adapters.discord.errors import DAVE_HELP, VoiceConnectFailed, VoiceUnavailable

log = logging.getLogger("adapters.discord.voice")  # the voice channel code's one logger, as before it was split

Connector = Callable[[], Awaitable[Any]]
VOICE_CONNECT_TIMEOUT_S = 30.0
DAVE_REQUIRED_CLOSE = 4017  # voice gateway close code: the client does not speak DAVE (E2EE)


class TrackedVoiceClient(discord.VoiceClient):
    """discord.py's ``VoiceClient`` that remembers whether its removal from voice was asked for.

    Discord answers every voice disconnect with a ``VOICE_STATE_UPDATE`` without a channel; discord.py
    knows whether it asked for it (``_expecting_disconnect``) and forgets it while handling that
    update, before the ``on_voice_state_update`` event reaches the adapter. This keeps the answer.
    """

    removed_externally: bool = False
    receiver: Any = None  # adapters.discord.receive.VoiceReceiver while the bot listens

    def __init__(self, client: discord.Client, channel: Any) -> None:
        self.ssrc_users: dict[int, int] = {}  # other users' SSRCs (op 5 SPEAKING), for voice receive
        super().__init__(client, channel)

    def create_connection_state(self) -> VoiceConnectionState:
        """discord.py's connection state with a hook that sees every voice websocket message."""
        return VoiceConnectionState(self, hook=self._voice_ws_message)

    async def _voice_ws_message(self, ws: Any, msg: dict[str, Any]) -> None:
        op, d = msg.get("op"), msg.get("d") or {}
        if op == 5 and isinstance(d, dict) and d.get("user_id") and d.get("ssrc"):
            self.ssrc_users[int(d["ssrc"])] = int(d["user_id"])
        elif op == 13 and isinstance(d, dict) and d.get("user_id"):
            gone = int(d["user_id"])
            self.ssrc_users = {s: u for s, u in self.ssrc_users.items() if u != gone}
        if self.receiver is not None:
            self.receiver.websocket_message(msg)

    async def on_voice_state_update(self, data: Any) -> None:
        if data.get("channel_id") is None and not getattr(self._connection, "_expecting_disconnect", False):
            self.removed_externally = True
        await super().on_voice_state_update(data)



def voice_connector(channel: discord.VoiceChannel | discord.StageChannel, self_deaf: Callable[[], bool]) -> Connector:
    """Connect to ``channel`` with a :class:`TrackedVoiceClient` (``self_deaf()`` asked at each connect).

    Raises:
        VoiceUnavailable: davey/PyNaCl missing or a 4017 close (with :data:`DAVE_HELP`).
        VoiceConnectFailed: another close code, or no connection within 30 s (worth retrying).
    """

    async def connect() -> Any:
        # reconnect=False: with True, discord.py retries a refused handshake (a 4017 close
        # included) five times until the 30 s timeout, so the 4017 never reaches us; drops
        # later in the session are rejoined by our watchdog (``VoiceManager._rejoin``), which stops on 4017.
        try:
            return await channel.connect(reconnect=False, self_deaf=self_deaf(), timeout=VOICE_CONNECT_TIMEOUT_S,
                                         cls=TrackedVoiceClient)
        except discord.ConnectionClosed as exc:
            if exc.code == DAVE_REQUIRED_CLOSE:
                raise VoiceUnavailable(DAVE_HELP) from exc
            raise VoiceConnectFailed(f"Discord closed the voice connection (code {exc.code})") from exc
        except TimeoutError as exc:
            raise VoiceConnectFailed(f"could not connect to voice in {VOICE_CONNECT_TIMEOUT_S:.0f} s") from exc
        except RuntimeError as exc:  # discord.py: "davey library needed in order to use voice"
            if "davey" in str(exc) or "PyNaCl" in str(exc):
                raise VoiceUnavailable(DAVE_HELP) from exc
            raise VoiceConnectFailed(f"the voice connection failed: {exc}") from exc
        except (aiohttp.ClientError, OSError) as exc:  # endpoint unreachable, TLS certificate refused, ...
            raise VoiceConnectFailed(f"cannot reach Discord's voice server: {exc}") from exc
        except discord.ClientException as exc:  # "Already connected to a voice channel."
            raise VoiceConnectFailed(str(exc)) from exc

    return connect


def reader_died(vc: Any) -> str:
    """Why discord.py's voice WebSocket reader ended while ``vc`` still says connected ('' when it runs).

    The reader is ``VoiceConnectionState._runner`` (discord.py 2.7.1); once it ended, nothing reads the
    voice server and nothing reconnects, whatever ``is_connected()`` says.
    """
    runner = getattr(getattr(vc, "_connection", None), "_runner", None)
    if not isinstance(runner, asyncio.Task) or not runner.done() or not vc.is_connected():
        return ""
    if runner.cancelled():
        return "its reader was cancelled"
    error = runner.exception()  # retrieved here: no "Task exception was never retrieved" later
    return repr(error) if error is not None else "its reader ended"


def registered(vc: Any) -> bool | None:
    """Whether ``vc`` is still its guild's voice client in discord.py (None: not a discord.py client)."""
    guild = getattr(vc, "guild", None)
    if not isinstance(vc, discord.VoiceClient) or guild is None:
        return None
    return guild.voice_client is vc


async def drop(vc: Any) -> None:
    """Stop and disconnect ``vc`` if discord.py still holds it (waits for Discord's confirming voice state)."""
    if registered(vc) is False:
        return
    try:
        if vc.is_playing():
            vc.stop()
        await vc.disconnect(force=True)
    except Exception:  # noqa: BLE001 - leaving anyway
        log.warning("voice disconnect failed", exc_info=True)
