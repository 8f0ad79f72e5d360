"""Store contracts (conversation memory, settings, dedupe, rate counters) and implementations."""
