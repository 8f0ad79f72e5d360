"""Engines backed by large language models (OpenAI-compatible servers, local transformers)."""
