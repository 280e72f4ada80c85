"""Ingestion: loaders, cleaning, the Chinese-aware splitter, the manifest and the pipeline.

Installed as ``ragmix.ingest``. Depends on the core (``ragmix``), never on ``ragmix.ui``.
"""
