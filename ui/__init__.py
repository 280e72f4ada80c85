"""The Gradio web page. Installed as ``ragmix.ui``; imported lazily by ``ragmix ui``."""
