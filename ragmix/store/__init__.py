"""Layer 1, where documents live: the SQLite catalog (texts, chunks, BM25 index, names), the
Chroma vector index, and server mode's shared document list. Knows nothing of models or
questions; embeddings come in as a LangChain ``Embeddings``."""
