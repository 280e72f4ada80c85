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


def profiles_dir() -> Path | None:
    """The folder of the shipped profiles: ``ragmix/configs`` in an installed package (the
    wheel maps the project's ``configs/`` there), else ``configs/`` of a source checkout."""
    package = Path(__file__).parent.parent  # not resolved: an editable install links files
    for folder in (package / "configs", package.parent / "configs"):
        if folder.is_dir() and any(folder.glob("*.yaml")):
            return folder
    return None


def shipped_profiles() -> dict[str, Path]:
    """The shipped profiles by name (``zh-small`` -> its YAML file)."""
    folder = profiles_dir()
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder else {}


def resolve_profile(config: str | os.PathLike[str]) -> Path:
    """The YAML file ``--config`` means: an existing file as given (``~`` and variables
    expanded), else a shipped profile by name (``zh-small``), also when written as the path it
    has in a checkout (``configs/zh-small.yaml``, from any folder).

    Returns:
        The file; one that does not exist when nothing matches (reading it then says so).
    """
    path = user_path(config)
    if path.is_file():
        return path
    shipped = shipped_profiles()
    name = path.stem if path.suffix in (".yaml", ".yml") else path.name
    in_configs = len(path.parts) == 1 or path.parent.name == "configs"
    if in_configs and name in shipped:
        return shipped[name]
    return path
