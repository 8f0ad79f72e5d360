"""The web chat's microphone: ``POST /audio?session=SESSION&id=MSG-ID`` with the recording as the body.

The page records with ``MediaRecorder`` (WebM/Opus in Chromium, OGG/Opus in Firefox, MP4 in
Safari) and uploads the blob; the server answers ``202 {"id": ...}`` and the message goes
through the pipeline like a typed one, with the recording as an audio attachment. What was
heard comes back over the WebSocket as ``{"type": "heard", "id": MSG-ID, "text": ...}``.
Refusals are JSON ``{"error": CODE, "message": ...}``: ``bad_session``, ``bad_id``,
``empty``, ``too_large`` (413), ``not_audio`` (415).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from aiohttp import web

from adapters.web.protocol import ID_PATTERN, valid_session

_ID = re.compile(ID_PATTERN)
_AUDIO_TYPES = ("audio/", "video/webm", "video/mp4", "video/ogg", "application/ogg")


@dataclass(frozen=True, slots=True)
class Recording:
    """One uploaded recording."""

    session: str
    id: str
    mime_type: str
    data: bytes


def _refuse(status: int, code: str, message: str) -> web.HTTPException:
    body = json.dumps({"error": code, "message": message})
    error = web.HTTPException(text=body, content_type="application/json")
    error.set_status(status)
    return error


async def read_recording(request: web.Request, max_bytes: int) -> Recording:
    """Validate and read an upload.

    Raises:
        web.HTTPException: a 400, 413 or 415 with a JSON body saying why.
    """
    session = request.query.get("session", "")
    if not valid_session(session):
        raise _refuse(400, "bad_session", "session must be 8-64 of A-Z a-z 0-9 _ -")
    message_id = request.query.get("id", "")
    if not _ID.match(message_id):
        raise _refuse(400, "bad_id", "id must be 1-64 of A-Z a-z 0-9 _ -")
    mime = (request.content_type or "").lower()
    if not mime.startswith(_AUDIO_TYPES):
        raise _refuse(415, "not_audio", "send the recording with an audio/* Content-Type")
    if request.content_length is not None and request.content_length > max_bytes:
        raise _refuse(413, "too_large", f"recordings are limited to {max_bytes} bytes")
    data = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > max_bytes:
            raise _refuse(413, "too_large", f"recordings are limited to {max_bytes} bytes")
    if not data:
        raise _refuse(400, "empty", "the recording is empty")
    return Recording(session, message_id, mime, bytes(data))
