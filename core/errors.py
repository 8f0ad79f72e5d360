"""Exceptions raised by the core.

The tree::

    CoreError
    ├── EngineError            an engine failed to produce an answer
    │   ├── NoAnswer           an engine has nothing good enough (the chain tries the next)
    │   ├── EngineTimeout      an engine took longer than its budget
    │   └── EngineUnavailable  an engine cannot run (missing model, bad config)
    ├── SpeechError            text-to-speech failed (the text reply is still delivered)
    ├── StoreError             a memory or settings store failed
    └── BusError               the bus could not carry a message
        ├── BusClosed          the bus was stopped
        ├── BusUnavailable     the bus's server cannot be reached (the message was not accepted)
        └── CodecError         a payload on the bus does not decode
"""

from __future__ import annotations


class CoreError(Exception):
    """Base of every error raised by ``core``."""


class EngineError(CoreError):
    """A dialogue engine failed."""


class NoAnswer(EngineError):
    """The engine has no answer above its confidence threshold."""


class EngineTimeout(EngineError):
    """The engine exceeded its time budget."""


class EngineUnavailable(EngineError):
    """The engine cannot run at all (missing model file, missing package)."""


class SpeechError(CoreError):
    """Speech synthesis or encoding failed."""


class StoreError(CoreError):
    """A store could not read or write."""


class BusError(CoreError):
    """The bus could not carry a message."""


class BusClosed(BusError):
    """The bus has been stopped."""


class BusUnavailable(BusError):
    """The bus's server (Redis) cannot be reached, so the message was not accepted."""


class CodecError(BusError):
    """A message or event on the bus does not decode."""
