"""The platform-neutral core: message model, contracts, pipeline and dialogue engines.

Nothing in this package imports a platform library, nor anything from
``adapters``, ``voice`` or ``bots``.
"""
