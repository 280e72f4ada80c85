"""Layer 4, the Gradio web page, over the ``RagMix`` facade. Installed as ``ragmix.ui``;
imported lazily by ``ragmix ui``."""
