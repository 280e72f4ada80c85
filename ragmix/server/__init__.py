"""``ragmix serve``: the OpenAI-compatible HTTP API (``ragmix.server.app``)."""
