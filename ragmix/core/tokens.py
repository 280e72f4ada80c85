"""Token counting: the ``TokenCounter`` interface and one counter per model configuration.

Counters come from the backends: exact GGUF counts from :mod:`ragmix.models.llm` (the only module
that imports ``llama_cpp``), a server's own tokenizer from :mod:`ragmix.models.llm_openai`, and
:class:`EstimateTokenCounter` when neither is available. Both backends import this module and
neither imports the other. :func:`resolve_once` keeps the counter chosen for a configuration,
so a count is a dictionary look-up, not a new probe of the server:

* a counter that works is kept for the life of the process;
* a server that answers but has no tokenize endpoint is probed once, and the estimate kept;
* a server that cannot be reached gives the estimate for ``RETRY_DOWN_S`` seconds, then is
  probed again (it may have been started meanwhile).

Which one is in use shows in ``kind`` and ``exact`` (``ragmix doctor`` prints them).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Hashable
from typing import Literal, Protocol, runtime_checkable

logger = logging.getLogger(__name__)

CounterKind = Literal["gguf", "server", "estimate"]

#: Seconds an unreachable model server is counted for by estimate before it is probed again.
RETRY_DOWN_S = 60.0


@runtime_checkable
class TokenCounter(Protocol):
    """Counts tokens of text as one model sees it.

    Attributes:
        name: which model or method; stored token counts are keyed by it.
        kind: 'gguf' (the model file's tokenizer), 'server' (the model server's tokenize
            endpoint) or 'estimate' (no tokenizer: an upper bound).
        exact: True for 'gguf' and 'server'.
    """

    name: str
    kind: CounterKind
    exact: bool

    def count(self, text: str) -> int:
        """Number of tokens of ``text`` (without BOS)."""
        ...


class EstimateTokenCounter:
    """Upper-bound guess when no tokenizer is available: 2 per CJK character, 1 per 3 others.

    Measured tokenizers give Chinese 1.3-1.85 and English ~0.25-0.3 tokens per character, so
    prompts sized with this fit, at the price of wasting some context.

    Args:
        reason: why no tokenizer is available (shown by ``ragmix doctor``).
    """

    name = "estimate (no tokenizer: set llm.tokenizer_path)"
    kind: CounterKind = "estimate"
    exact = False
    _CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")

    def __init__(self, reason: str = "no tokenizer configured") -> None:
        self.reason = reason

    def count(self, text: str) -> int:
        cjk = len(self._CJK.findall(text))
        return 2 * cjk + math.ceil((len(text) - cjk) / 3)


#: key -> (counter, monotonic time until which it is used)
_CHOSEN: dict[Hashable, tuple[TokenCounter, float]] = {}
_KEY_LOCKS: dict[Hashable, threading.Lock] = {}
_GUARD = threading.Lock()


def resolve_once(
    key: Hashable, build: Callable[[], tuple[TokenCounter, float | None]]
) -> TokenCounter:
    """The counter for ``key``, built by ``build`` the first time (and again after the time
    it asked for). Thread-safe: concurrent callers with one key build it once; other keys
    are not held up meanwhile.

    Args:
        key: everything that decides which counter a configuration gets.
        build: returns (counter, seconds to keep it, None for the life of the process).
    """
    with _GUARD:
        hit = _CHOSEN.get(key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with lock:
        with _GUARD:
            hit = _CHOSEN.get(key)
            if hit is not None and hit[1] > time.monotonic():
                return hit[0]
        counter, keep_s = build()
        until = math.inf if keep_s is None else time.monotonic() + keep_s
        with _GUARD:
            _CHOSEN[key] = (counter, until)
        if not counter.exact:
            logger.warning("token counts are estimated: %s", getattr(counter, "reason", "?"))
        return counter
