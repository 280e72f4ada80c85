"""Logging: every module logs to ``logging.getLogger(__name__)`` under the ``ragmix`` logger;
only the programs (the ``ragmix`` command, the web page) configure where records go.

A library never configures logging on import: ``ragmix`` carries a ``NullHandler`` and the
application that imports it decides. ``configure`` is what the command and the page call:

* the terminal (stderr) gets warnings, or more with ``-v`` (info) and ``-vv`` (debug, with the
  whole cause chain of an error);
* ``log_file`` gets everything at info level or above (debug with ``-vv``), with times and
  thread names, appended, so a page that ran for days can be read afterwards.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from ragmix.core.paths import user_path

LOGGER = "ragmix"
_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"
#: Libraries that speak at info level about routine work; kept at warnings unless -vv.
_CHATTY = ("httpx", "chromadb", "urllib3", "sentence_transformers", "gradio", "uvicorn")


def configure(verbosity: int = 0, log_file: str | Path | None = None) -> logging.Logger:
    """Send ragmix's records to stderr (and to ``log_file``); returns the ``ragmix`` logger.

    Args:
        verbosity: 0 warnings, 1 info, 2 or more debug.
        log_file: a file to append every record of info level or above to (debug at
            ``verbosity >= 2``); its folder is created.

    Calling it again replaces the handlers it installed before (tests, a second launch).
    """
    root = logging.getLogger(LOGGER)
    for h in [h for h in root.handlers if getattr(h, "_ragmix", False)]:
        root.removeHandler(h)
        h.close()
    terminal_level = [logging.WARNING, logging.INFO, logging.DEBUG][min(max(verbosity, 0), 2)]
    terminal = logging.StreamHandler()
    terminal.setLevel(terminal_level)
    terminal.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handlers: list[logging.Handler] = [terminal]
    file_level = logging.DEBUG if verbosity >= 2 else logging.INFO
    if log_file:
        path = user_path(log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.handlers.RotatingFileHandler(
            path, maxBytes=10 * 2**20, backupCount=3, encoding="utf-8"
        )
        to_file.setLevel(file_level)
        to_file.setFormatter(logging.Formatter(_FORMAT))
        handlers.append(to_file)
    for h in handlers:
        h._ragmix = True  # type: ignore[attr-defined]
        root.addHandler(h)
    root.setLevel(min(h.level for h in handlers))
    root.propagate = False
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)
    return root
