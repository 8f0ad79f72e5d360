"""Discord voice messages: one multipart request through discord.py's HTTP layer.

discord.py reads voice messages but has no call to send one. This module builds the
request Discord's own clients make (flag ``IS_VOICE_MESSAGE``, one OGG/Opus attachment
with ``duration_secs`` and a base64 ``waveform``) and sends it with
``HTTPClient.request(Route(...))``, so the route's rate-limit bucket and 429 handling apply.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from discord.http import HTTPClient, Route

from core.model import VoiceClip

IS_VOICE_MESSAGE = 1 << 13
FILE_NAME = "voice-message.ogg"
MAX_POINTS = 256
POINTS_PER_SECOND = 10  # Discord: at most one point per 100 ms


def fit_waveform(waveform: bytes, duration_s: float) -> bytes:
    """Resample ``waveform`` to Discord's limits (<= 256 points, <= 1 per 100 ms), keeping peaks."""
    if not waveform:
        return b""
    n = max(1, min(MAX_POINTS, int(duration_s * POINTS_PER_SECOND) or 1, len(waveform)))
    if n == len(waveform):
        return waveform
    out = bytearray()
    for i in range(n):
        lo = i * len(waveform) // n
        hi = max(lo + 1, (i + 1) * len(waveform) // n)
        out.append(max(waveform[lo:hi]))
    return bytes(out)


def voice_message_payload(clip: VoiceClip, reference: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``payload_json`` of a voice message (no content: Discord refuses text with the flag)."""
    waveform = fit_waveform(clip.waveform, clip.duration_s)
    payload: dict[str, Any] = {
        "flags": IS_VOICE_MESSAGE,
        "attachments": [
            {
                "id": "0",
                "filename": FILE_NAME,
                "duration_secs": round(max(clip.duration_s, 0.01), 3),
                "waveform": base64.b64encode(waveform).decode("ascii"),
            }
        ],
        "allowed_mentions": {"parse": []},
    }
    if reference is not None:
        payload["message_reference"] = dict(reference)
    return payload


async def send_voice_message(
    http: HTTPClient, channel_id: int, clip: VoiceClip, reference: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """POST one voice message to ``channel_id``.

    Args:
        http: the client's ``discord.http.HTTPClient``.
        channel_id: the channel (or thread, or DM channel).
        clip: OGG/Opus audio with its duration and waveform.
        reference: ``message_reference`` payload to answer a message, or None.

    Returns:
        The created message as Discord returns it.

    Raises:
        ValueError: the clip has no waveform (Discord would draw a flat line: send a file instead).
        discord.HTTPException: Discord refused the message (the caller falls back to a file).
    """
    if not clip.waveform:
        raise ValueError("voice message needs a waveform")
    form: list[dict[str, Any]] = [
        {"name": "payload_json", "value": json.dumps(voice_message_payload(clip, reference))},
        {"name": "files[0]", "value": clip.data, "filename": FILE_NAME, "content_type": clip.mime_type or "audio/ogg"},
    ]
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
    return await http.request(route, form=form)
