"""The knowledge-base engine: FAQ entries and documents, semantic + BM25 retrieval, grounded answers, hand-off."""
