"""Paths a person wrote (settings, flags, environment variables) made usable, in one place.

``~`` and ``$VARIABLES`` (``%VARIABLES%`` on Windows) are expanded here and nowhere else:
the store folder, model files and folders, the model cache, a llama.cpp server's slot folder
and the log file all go through ``user_path``.
"""

from __future__ import annotations

import os
from pathlib import Path


def user_path(path: str | os.PathLike[str]) -> Path:
    """``path`` with ``~`` and environment variables expanded (not made absolute).

    Example:
        >>> os.environ["RAGMIX_DOCTEST_DIR"] = "/srv/docs"
        >>> user_path("$RAGMIX_DOCTEST_DIR/report.pdf").as_posix()
        '/srv/docs/report.pdf'
        >>> user_path("~/x") == Path.home() / "x"
        True
    """
    return Path(os.path.expandvars(os.path.expanduser(os.fspath(path))))
