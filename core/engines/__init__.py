"""Dialogue engines: chain, retrieval, knowledge base, echo (and later the generative model)."""
