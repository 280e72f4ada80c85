"""The shared model: one loaded GGUF per load parameters and process (``Engine``), one
generation at a time, its saved prompt states (RAM tier, and the disk tier
``states.keep_on_disk`` asks for) restored before the rest of a prompt is read batch by batch,
and a stop flag that llama.cpp checks after every node of a batch (C's ``strlen`` over a
flag byte, no GIL), so Stop frees the model within a fraction of a second."""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ragmix.core import cancel
from ragmix.core.cancel import StopFlag
from ragmix.core.errors import ModelError
from ragmix.core.settings import LlmSettings
from ragmix.models import states
from ragmix.models.gguf import load_vocab, resolve_gguf
from ragmix.models.states import PromptStateCache, StateError, StateFolder, lcp
from ragmix.models.templates import Messages, make_renderer

logger = logging.getLogger("ragmix.models.llm")


AbortMode = Literal["native", "python", "late"]


def _strlen_callback() -> Any:
    """C's ``strlen`` as a ``ggml_abort_callback`` (None where no C library has one).

    Given a two-byte buffer, it returns 1 when the first byte is set and 0 when it is not,
    which is the callback's ``bool`` (the caller reads the low byte of the return register):
    a flag llama.cpp reads without Python."""
    import ctypes.util

    import llama_cpp

    for name in (None, ctypes.util.find_library("c"), "msvcrt"):
        try:
            lib = ctypes.CDLL(name)
            address = ctypes.cast(lib.strlen, ctypes.c_void_p).value
        except (OSError, AttributeError, TypeError):
            continue
        if address:
            return llama_cpp.ggml_abort_callback(address)
    return None


class Pace:
    """How fast this model reads a prompt in this process, measured batch by batch.

    Reading a token costs ``a + b * position`` seconds (attention reads every earlier
    token), so a rate measured at the start of a long prompt is too fast for its end (the
    page said 77 s left where the first word came 116 s later). ``a`` and ``b`` are fitted
    by least squares over the batches read, the older ones weighing less (``decay`` a batch,
    so a machine that gets busier is followed); with too little spread in positions, ``b`` is
    0 and ``a`` the mean.

    Example:
        >>> pace = Pace()
        >>> pace.seconds_left(0, 4096) is None  # nothing read yet in this process
        True
        >>> for start in range(0, 2048, 512):  # 1 ms a token plus 1 us per earlier token
        ...     end = start + 512
        ...     pace.add(start, end, 1e-3 * 512 + 1e-6 * (start + end - 1) * 512 / 2)
        >>> [round(c * 1e6, 3) for c in pace.coefficients()]  # microseconds: found again
        [1000.0, 1.0]
        >>> pace.seconds_left(2048, 4096)  # 2.05 s for the tokens, 6.29 for their positions
        8.3
    """

    def __init__(self, decay: float = 0.9) -> None:
        self.decay = decay
        # Weighted sums of x (tokens), y (sum of their positions), t (seconds).
        self._xx = self._xy = self._yy = self._xt = self._yt = 0.0
        self._lock = threading.Lock()

    @staticmethod
    def _terms(start: int, end: int) -> tuple[float, float]:
        n = max(end - start, 0)
        return float(n), (start + end - 1) * n / 2.0

    def add(self, start: int, end: int, seconds: float) -> None:
        """Tokens ``start``..``end`` (positions) were read in ``seconds``."""
        x, y = self._terms(start, end)
        if x <= 0 or seconds <= 0:
            return
        d = self.decay
        with self._lock:
            self._xx = self._xx * d + x * x
            self._xy = self._xy * d + x * y
            self._yy = self._yy * d + y * y
            self._xt = self._xt * d + x * seconds
            self._yt = self._yt * d + y * seconds

    def coefficients(self) -> tuple[float, float] | None:
        """(seconds a token, seconds a token per earlier token), or None before a measure."""
        with self._lock:
            xx, xy, yy, xt, yt = self._xx, self._xy, self._yy, self._xt, self._yt
        if xx <= 0:
            return None
        det = xx * yy - xy * xy
        if det > 1e-9 * xx * yy:
            a, b = (xt * yy - yt * xy) / det, (yt * xx - xt * xy) / det
            if a > 0 and b >= 0:
                return a, b
        return xt / xx, 0.0  # one position range (or a fit that makes no sense): the mean

    def seconds_left(self, start: int, end: int) -> float | None:
        """Seconds to read positions ``start``..``end`` at the measured pace (None: no
        measure yet in this process)."""
        ab = self.coefficients()
        if ab is None:
            return None
        x, y = self._terms(start, end)
        return round(ab[0] * x + ab[1] * y, 1)


class Engine:
    """One loaded GGUF, shared by every LlamaCppChat with the same load parameters."""

    def __init__(self, path: Path, settings: LlmSettings) -> None:
        self.path = path
        self.settings = settings
        self.lock = threading.Lock()  # one generation at a time
        self._load_lock = threading.Lock()
        self._llama: Any = None
        self._renderer: tuple[str, Callable[[Messages], str]] | None = None
        #: How a stop reaches llama.cpp (see ``_install_abort``): 'native' (a C check of
        #: ``_abort_flag`` after every graph node), 'python' (a Python one) or 'late' (a
        #: callback installed only on stop, seen from the next batch on).
        self.abort_mode: AbortMode = "native"
        self._abort_fn: Any = None  # the installed abort callback, kept alive
        self._abort_flag = ctypes.create_string_buffer(2)  # b"\x01\x00": abort
        self._abort_lock = threading.Lock()
        self._stop_armed = False
        #: How fast this model reads prompts in this process (the reading bar's time left).
        self.pace = Pace()
        #: RAM tier of saved prompt states (None: only the live KV cache).
        self.states: PromptStateCache | None = None
        self._fingerprint: dict[str, Any] | None = None
        self._folders: dict[tuple[Path, int], StateFolder] = {}
        self._pending: Any = None  # the read prompt's state, until remember() writes it

    def llama(self) -> Any:
        with self._load_lock:
            if self._llama is None:
                from llama_cpp import Llama

                s = self.settings
                # llama.cpp's own default: about the physical cores (busy-waiting threads on
                # hyper-threads, or on a machine shared with other work, slow it down).
                threads = s.n_threads or max(1, (os.cpu_count() or 2) // 2)
                t0 = time.perf_counter()
                try:
                    self._llama = Llama(
                        str(self.path), n_ctx=s.n_ctx, n_batch=s.n_batch,
                        n_ubatch=min(s.n_batch, 512), n_gpu_layers=s.n_gpu_layers,
                        n_threads=threads, n_threads_batch=threads, flash_attn=s.flash_attn,
                        seed=s.seed, verbose=False,
                    )  # fmt: skip
                except (ValueError, RuntimeError) as exc:
                    raise ModelError(
                        f"cannot load {self.path} with n_ctx={s.n_ctx}: {exc}; check the file "
                        "is a GGUF and lower llm.n_ctx if memory is short",
                        code="model_load_failed",
                        params={"path": str(self.path), "error": str(exc)},
                    ) from exc
                logger.info(
                    "loaded %s (n_ctx %d, %d threads, %d GPU layers) in %.1f s",
                    self.path.name, s.n_ctx, threads, s.n_gpu_layers, time.perf_counter() - t0,
                )  # fmt: skip
                # Free the model before interpreter teardown, when llama_cpp's own __del__
                # would find its C bindings already gone and print a TypeError.
                import atexit

                atexit.register(self._llama.close)
                self._install_abort(self.abort_mode)
                if s.state_cache_mb:
                    self.states = PromptStateCache(s.state_cache_mb << 20)
            return self._llama

    def _install_abort(self, mode: AbortMode) -> None:
        """Give llama.cpp the check it runs after every node of a batch's graph.

        llama.cpp copies the callback when a batch (``n_ubatch`` tokens) starts, so one
        installed only on stop ('late') is seen from the next batch on: measured 2-11 s after
        Stop on this machine (docs/page.md). So one is installed for good at load: 'native' is
        C's ``strlen`` over the two-byte ``_abort_flag`` (1 = stop), which needs neither
        Python nor the GIL and costs nanoseconds a node; a stop sets the byte and the batch
        ends after the node being computed. 'python' is the same check as a Python callback
        (for comparison: it takes the GIL after each node). Where no C library has
        ``strlen``, 'native' falls back to 'late'.
        """
        import llama_cpp

        self.abort_mode = mode
        self._abort_flag[0] = b"\x00"
        fn: Any
        if mode == "native":
            fn = _strlen_callback()
            if fn is None:
                self.abort_mode = mode = "late"
        if mode == "python":
            flag = self._abort_flag
            fn = llama_cpp.ggml_abort_callback(lambda _data: flag[0] != b"\x00")
        if mode == "late":
            self._abort_fn = None
            null = llama_cpp.ggml_abort_callback()
            llama_cpp.llama_set_abort_callback(self._llama._ctx.ctx, null, None)
            return
        self._abort_fn = fn
        data = ctypes.cast(self._abort_flag, ctypes.c_void_p)
        llama_cpp.llama_set_abort_callback(self._llama._ctx.ctx, fn, data)

    def _abort_callback(self, abort: bool) -> None:
        """Make llama.cpp stop (``abort``) or run on: set the flag its installed check reads
        (or, 'late', install a callback that always aborts, and remove it)."""
        import llama_cpp

        if self._llama is None or (abort and not self._stop_armed):
            return  # not loaded, or the generation it was meant for is over
        if self.abort_mode != "late":
            self._abort_flag[0] = b"\x01" if abort else b"\x00"
            return
        if abort:
            self._abort_fn = llama_cpp.ggml_abort_callback(lambda _data: True)
            fn = self._abort_fn
        else:
            fn = llama_cpp.ggml_abort_callback()  # NULL
        llama_cpp.llama_set_abort_callback(self._llama._ctx.ctx, fn, None)

    @contextmanager
    def stoppable(self) -> Iterator[StopFlag | None]:
        """While generating under ``engine.lock``: the current answer's stop flag (if its
        consumer can stop it) aborts llama.cpp mid-prompt; no abort outlives the block."""
        flag = cancel.current()
        if flag is None:
            yield None
            return

        def stop() -> None:
            with self._abort_lock:
                self._abort_callback(True)

        with self._abort_lock:
            self._stop_armed = True
        try:
            with flag.on_set(stop):
                yield flag
        finally:
            with self._abort_lock:  # a late stop() finds the generation over
                self._stop_armed = False
                self._abort_callback(False)

    # -- saved prompt states ------------------------------------------------------------
    @property
    def min_tokens(self) -> int:
        """Shortest prompt whose state is worth keeping or restoring (the RAM tier's rule)."""
        return self.states.min_tokens if self.states else PromptStateCache.MIN_TOKENS

    def folder(self, keep: states.Keep | None) -> StateFolder | None:
        """The disk tier for this model under ``keep.root`` (None: not asked for)."""
        if keep is None or self._llama is None:
            return None
        if self._fingerprint is None:
            params = self._llama.context_params
            self._fingerprint = states.model_fingerprint(
                self.path, self._llama.n_ctx(), int(params.type_k), int(params.type_v),
                self.settings.flash_attn,
            )  # fmt: skip
        key = (keep.root, keep.budget_bytes)
        if key not in self._folders:
            self._folders[key] = StateFolder(keep.root, self._fingerprint, keep.budget_bytes)
        return self._folders[key]

    def _restore(self, tokens: np.ndarray, folder: StateFolder | None) -> tuple[int, str]:
        """Load the saved state sharing the longest prefix with ``tokens`` when it beats the
        live KV cache. Returns (tokens restored, 'ram' | 'disk' | '')."""
        llama = self._llama
        live = lcp(llama._input_ids, tokens)
        if llama.cache is not None:  # llama-cpp-python's own cache (set_state_cache)
            try:
                item = llama.cache[tokens.tolist()]
            except KeyError:
                return 0, ""
            n = lcp(np.asarray(item.input_ids[: item.n_tokens]), tokens)
            if n > live:
                llama.load_state(item)
                return n, "ram"
            return 0, ""
        min_tokens = max(live + 1, self.min_tokens)
        ram, n_ram = self.states.best(tokens) if self.states else (None, 0)
        path, n_disk = folder.best(tokens, min_tokens) if folder else (None, 0)
        if max(n_ram, n_disk) < min_tokens:
            return 0, ""
        t0 = time.perf_counter()
        if n_ram >= n_disk:
            llama.load_state(ram)
            return n_ram, "ram"
        assert folder is not None and path is not None
        try:
            ids, payload = folder.load(path)
            state = _state_from(llama, ids, payload)
            llama.load_state(state)
        except (StateError, RuntimeError, ValueError) as exc:
            if isinstance(exc, (RuntimeError, ValueError)):  # llama.cpp refused the bytes
                folder.discard(path, f"llama.cpp could not load it: {exc}")
            llama.reset()
            return 0, ""
        if self.states is not None:
            self.states[ids.tolist()] = state
        logger.info(
            "loaded the saved state of %d prompt tokens from %s in %.2f s",
            len(ids), path.name, time.perf_counter() - t0,
        )  # fmt: skip
        return n_disk, "disk"

    def read(self, tokens: np.ndarray, flag: StopFlag | None) -> Iterator[dict[str, Any]]:
        """Bring the KV cache to ``tokens[:-1]`` (the last token is decoded by generation):
        restore a saved state, then read the rest batch by batch. Yields progress
        ``{"read", "total", "restored", "from", "seconds_left"}`` for long reads and restores.
        Returns early when ``flag`` is set (the caller sees it set). When a disk state is
        asked for and none covers the prompt yet, the read state is copied for
        :meth:`remember` to write once the answer is done."""
        llama = self._llama
        target = len(tokens) - 1
        folder = self.folder(states.kept())
        self._pending = None
        restored, source = self._restore(tokens[:target], folder)
        have = lcp(llama._input_ids, tokens[:target])
        if have < llama.n_tokens and not llama._ctx.kv_cache_seq_rm(-1, have, -1):
            llama.reset()  # this model cannot cut its KV cache: read from the start
            have = 0
        llama.n_tokens = have
        step = max(self.settings.n_batch, 1)
        # Long reads, restores from disk and prompts kept on disk report (at least) where
        # they start: a read-ahead says whether anything was left to read.
        report = target - have >= 2 * step or source == "disk" or folder is not None
        progress = {"read": have, "total": len(tokens), "restored": restored, "from": source}
        if report:
            yield {**progress, "seconds_left": self.pace.seconds_left(have, len(tokens))}
        for i in range(have, target, step):
            if flag is not None and flag.is_set():
                return
            end = min(i + step, target)
            t0 = time.perf_counter()
            llama.eval(tokens[i:end].tolist())
            self.pace.add(i, end, time.perf_counter() - t0)
            if report:
                left = self.pace.seconds_left(end, len(tokens))
                yield {**progress, "read": end, "seconds_left": left}
        if folder is not None and target >= self.min_tokens:
            path, covered = folder.best(tokens[:target], 1)
            if path is not None and covered >= target - max(256, target // 10):
                states.touch(path)  # already kept: only mark it used
            else:
                self._pending = _snapshot(llama)

    def remember(self, keep: states.Keep | None) -> None:
        """Keep the prompt's state that :meth:`read` copied (else the live one) in RAM, and
        write the copy to disk."""
        llama = self._llama
        pending, self._pending = self._pending, None
        if self.states is not None and llama.n_tokens >= self.states.min_tokens:
            # The prompt's state, when read() copied it, serves the RAM tier as well: one
            # copy of the KV cache, not two.
            state = pending if pending is not None else _snapshot(llama)
            self.states[state.input_ids[: state.n_tokens].tolist()] = state
        folder = self.folder(keep)
        if pending is None or folder is None or keep is None:
            return
        t0 = time.perf_counter()
        ids = pending.input_ids[: pending.n_tokens]
        try:
            saved = folder.save(ids, pending.llama_state, keep.docs)
        except OSError as exc:  # a full disk costs the next process a re-read, no more
            logger.warning("could not keep the prompt state on disk: %s", exc)
            return
        if saved is not None:  # (it may be dropped by another writer as soon as it is kept)
            logger.info(
                "kept the state of %d prompt tokens (%d MB) in %s in %.2f s", len(ids),
                len(pending.llama_state) >> 20, saved.parent, time.perf_counter() - t0,
            )  # fmt: skip

    def tokenizer(self) -> Any:
        """The full model once loaded, else a vocab-only load: counting never loads weights."""
        return self._llama if self._llama is not None else load_vocab(self.path)

    def renderer(self) -> tuple[str, Callable[[Messages], str]]:
        if self._renderer is None:
            tok = self.tokenizer()
            model = tok._model
            bos = model.token_get_text(tok.token_bos()) if tok.token_bos() != -1 else ""
            eos = model.token_get_text(tok.token_eos()) if tok.token_eos() != -1 else ""
            name, fn = make_renderer(tok.metadata, bos, eos, self.settings.chat_format)
            if bos and model.add_bos_token():
                # The tokenizer adds BOS itself: a template's literal BOS would double it.
                inner = fn

                def fn(msgs: Messages) -> str:
                    text = inner(msgs)
                    return text[len(bos) :] if text.startswith(bos) else text

            self._renderer = (name, fn)
        return self._renderer


def _snapshot(llama: Any) -> Any:
    """The live llama state without the ``n_batch x n_vocab`` logits copy ``save_state``
    makes (~100 MB for SmolLM2): one zero row, which ``load_state`` broadcasts."""
    import ctypes

    import llama_cpp
    from llama_cpp.llama import LlamaState

    size = llama_cpp.llama_state_get_size(llama._ctx.ctx)
    buf = (ctypes.c_uint8 * int(size))()
    n = int(llama_cpp.llama_state_get_data(llama._ctx.ctx, buf, size))
    if n > size:
        raise ModelError("llama.cpp could not copy its state")
    # A view, not a copy: a 32K-token Mixtral state is ~4 GiB.
    return LlamaState(
        input_ids=llama.input_ids.copy(),
        scores=np.zeros((1, llama.n_vocab()), dtype=np.single),
        n_tokens=llama.n_tokens,
        llama_state=memoryview(buf).cast("B")[:n],  # type: ignore[arg-type]
        llama_state_size=n,
        seed=llama._seed,
    )


def _state_from(llama: Any, ids: np.ndarray, payload: bytes) -> Any:
    """A ``LlamaState`` for ``load_state`` from saved token ids and llama.cpp bytes."""
    from llama_cpp.llama import LlamaState

    if len(ids) >= llama.n_ctx():
        raise ValueError(f"{len(ids)} tokens do not fit n_ctx {llama.n_ctx()}")
    input_ids = np.zeros(llama.n_ctx(), dtype=np.intc)
    input_ids[: len(ids)] = ids
    return LlamaState(
        input_ids=input_ids,
        scores=np.zeros((1, llama.n_vocab()), dtype=np.single),
        n_tokens=len(ids),
        llama_state=payload,
        llama_state_size=len(payload),
        seed=llama._seed,
    )


ENGINES: dict[tuple[Any, ...], Engine] = {}
ENGINES_LOCK = threading.Lock()


def engine_for(settings: LlmSettings) -> Engine:
    s = settings
    key = (s.model_path, s.n_ctx, s.n_batch, s.n_gpu_layers, s.n_threads, s.flash_attn,
           s.chat_format)  # fmt: skip
    with ENGINES_LOCK:
        if key not in ENGINES:
            ENGINES[key] = Engine(resolve_gguf(settings.model_path), settings)
        return ENGINES[key]
