"""Layer 2, ingestion: loaders, cleaning, the Chinese-aware splitter, the manifest and the
pipeline. Installed as ``ragmix.ingest``; stands on ``ragmix.core`` and ``ragmix.store``,
sibling of ``ragmix.qa``, never imports the layers above."""
