"""Platform adapters: one package per platform. Adapters never import each other or ``bots``."""
