"""Layer 5, the ``ragmix`` command: argument parsing and terminal rendering over the facade.
(Layer 4 is the web page, ``ragmix.ui``, in the top-level ``ui/`` folder.)"""
