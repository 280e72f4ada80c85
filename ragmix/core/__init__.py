"""Layer 0, the ground every other layer stands on: errors, settings, plain data, the typed
events, text tools (script detection, BM25 tokens) and the token-counting seam. Imports
nothing of ragmix's above it."""
