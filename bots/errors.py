"""Errors of the assembly layer.

The tree::

    BotsError
    ├── ConfigError          config.yaml is missing, unreadable or invalid (file, key path, reason)
    │   └── PluginError      a plugin cannot be loaded, is declared wrongly, or its settings do not validate
    └── ObservabilityError   the metrics/health server cannot listen (the address is taken, a bad host)
"""

from __future__ import annotations


class BotsError(Exception):
    """Base of the assembly layer's errors."""


class ConfigError(BotsError):
    """The configuration cannot be used; the message names the file, key path and problem."""


class PluginError(ConfigError):
    """A plugin cannot be used; the message names the config file, the plugin, where it is and why."""


class ObservabilityError(BotsError):
    """The observability server cannot start; the message names the address and the reason."""
