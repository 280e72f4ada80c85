"""Layer 3, the application: the ``RagMix`` facade that wires the store, the models, ingest
and question answering together, plus ``ragmix doctor`` and ``ragmix eval``."""
