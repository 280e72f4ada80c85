"""Layer 2, question answering: the router (every decision a pure function), hybrid
retrieval, the prompts and the chain that runs them as LangChain Runnables.
``ragmix.ingest`` (the top-level ``ingest/`` folder) is its sibling on this layer."""
