"""Errors of the assembly layer.

The tree::

    BotsError
    └── ConfigError    config.yaml is missing, unreadable or invalid (file, key path, reason)
"""

from __future__ import annotations


class BotsError(Exception):
    """Base of the assembly layer's errors."""


class ConfigError(BotsError):
    """The configuration cannot be used; the message names the file, key path and problem."""
