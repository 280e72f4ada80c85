"""Script detection and BM25 tokens for mixed Chinese/English text.

Cheap to import: jieba (~1 s to load its dictionary) and OpenCC are imported on the first call
of :func:`lexical_tokens`, jieba with its start-up log silenced.

"CJK" here means the *letters* of the CJK scripts (Han ideographs, kana, hangul), not CJK
punctuation: a full-width comma is not evidence that a text is Chinese.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from types import ModuleType

#: Code point ranges of CJK letters (Han, kana, hangul); a regex character-class body.
_CJK_RANGES = (
    "\u1100-\u11ff"  # hangul jamo
    "\u3005\u3007"  # 々 (iteration mark) and 〇 (Han zero)
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3130-\u318f"  # hangul compatibility jamo
    "\u31f0-\u31ff"  # katakana phonetic extensions
    "\u3400-\u4dbf"  # Han extension A
    "\u4e00-\u9fff"  # Han unified ideographs
    "\uac00-\ud7af"  # hangul syllables
    "\uf900-\ufaff"  # Han compatibility ideographs
    "\U00020000-\U0003134f"  # Han extensions B-H
)
CJK_CLASS = f"[{_CJK_RANGES}]"
_CJK_RE = re.compile(CJK_CLASS)
_LETTER_RE = re.compile(r"[^\W\d_]")
# A word of any non-CJK script: letters/digits, not underscore, not CJK.
_WORD_CLASS = rf"[^\W_{_CJK_RANGES}]"
_LATIN_WORD_RE = re.compile(rf"[^\W\d_{_CJK_RANGES}]+")
# Runs that lexical_tokens sees: a CJK run goes to jieba, a word run is lowercased as is.
_LEXICAL_RE = re.compile(rf"(?P<cjk>{CJK_CLASS}+)|(?P<word>{_WORD_CLASS}+)")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Stopwords dropped by :func:`lexical_tokens`: only the most frequent function words, so a
#: query never loses a content word. BM25's IDF already discounts the rest.
STOPWORDS_ZH = _words("的 了 是 在 和 与 及 或 也 都 而 之 着 把 被 吗 呢 吧 啊")
STOPWORDS_EN = _words(
    "a an the of to in on at by for with from and or is are was were be been it its "
    "this that these those as do does did what which who"
)
STOPWORDS = STOPWORDS_ZH | STOPWORDS_EN

# English words that mark an English sentence frame ("What does 苏州工业园区 mean?").
_EN_FRAME_WORDS = _words(
    "what which who whom whose when where why how is are was were do does did can "
    "could should would will the a an of in on about for to me please tell explain "
    "describe summarize summarise list mean means meaning"
)


def is_cjk(ch: str) -> bool:
    """True if ``ch`` (one character) is a CJK letter: Han, kana or hangul.

    Example:
        >>> is_cjk("苏"), is_cjk("，"), is_cjk("a")
        (True, False, False)
    """
    return len(ch) == 1 and _CJK_RE.match(ch) is not None


def cjk_ratio(text: str) -> float:
    """Share of the letters in ``text`` that are CJK letters (0.0 when there are no letters).

    Digits, punctuation and spaces are not letters and do not count either way.
    """
    n_cjk = len(_CJK_RE.findall(text))
    n_letters = len(_LETTER_RE.findall(text))
    return n_cjk / n_letters if n_letters else 0.0


def detect_language(text: str) -> Literal["zh", "en"]:
    """Guess whether ``text`` is Chinese or English, for prompts and answer language.

    A CJK character and a Latin word are roughly one word each, so the rule compares
    ``C`` = CJK characters against ``W + 2F``, where ``W`` counts Latin words and ``F``
    those of them that frame an English sentence (what, does, is, the, tell, explain, ...).
    ``zh`` when ``C >= W + 2F``, else ``en``; no letters at all gives ``en``.

    The framing words decide mixed questions by their grammar, not by the script of the
    name they mention:

    * ``"这家公司2023年的营收是多少?"`` -> ``zh``; ``"What is the revenue?"`` -> ``en``
    * ``"What does 苏州工业园区 mean"`` -> ``en`` (6 CJK vs 3 words + 2x3 frame words)
    * ``"请解释 attention mechanism 的原理"`` -> ``zh`` (6 CJK vs 2 words, no frame words)
    * a long Chinese report quoting English names stays ``zh``: its CJK count dominates.
    """
    n_cjk = len(_CJK_RE.findall(text))
    words = _LATIN_WORD_RE.findall(text)
    if not words:
        return "zh" if n_cjk else "en"
    n_frame = sum(1 for w in words if w.lower() in _EN_FRAME_WORDS)
    return "zh" if n_cjk >= len(words) + 2 * n_frame else "en"


@functools.cache
def _jieba() -> ModuleType:
    import jieba

    # Silence "Building prefix dict ..." / "Loading model cost ..." on stderr.
    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


@functools.cache
def _t2s() -> Callable[[str], str]:
    import opencc  # OpenCC's own tables, in its wheel: nothing is fetched at run time

    return opencc.OpenCC("t2s").convert


def to_simplified(text: str) -> str:
    """``text`` with Traditional Chinese characters and phrases written in Simplified
    (OpenCC's ``t2s`` tables); text without CJK letters is returned as it is.

    For lexical matching only: jieba's dictionary is Simplified, so a Traditional passage is
    cut into odd pieces and never shares a token with a Simplified question about it. The
    stored text, the vectors and the answers keep what the document says.

    Example:
        >>> to_simplified("臺北市的捷運系統"), to_simplified("GPT-4")
        ('台北市的捷运系统', 'GPT-4')
    """
    return _t2s()(text) if _CJK_RE.search(text) else text


def cjk_bigrams(run: str) -> list[str]:
    """Overlapping character pairs of a run of CJK letters ("工业园区" -> 工业, 业园, 园区).

    Example:
        >>> cjk_bigrams("工业园区")
        ['工业', '业园', '园区']
    """
    return [run[i : i + 2] for i in range(len(run) - 1)]


#: Bumped whenever ``lexical_tokens`` changes its output: a catalog built with another version
#: rebuilds its BM25 index from the stored chunk texts when next opened for writing.
LEXICAL_VERSION = "3-t2s-lcut-bigrams"


def lexical_tokens(text: str) -> list[str]:
    """Tokens for BM25, the same at index time and at query time.

    The text is NFKC-normalised (full-width letters and digits become ASCII), Traditional
    Chinese is written in Simplified (:func:`to_simplified`), and the text is cut into
    runs. A run of CJK letters gives jieba's words (``lcut``) *and* its overlapping character
    bigrams: the words carry jieba's segmentation, the bigrams match where jieba cut the
    question and the passage differently or does not know a name ("园区" still matches
    "工业园区"). This is the classic CJK indexing of Lucene's CJKBigramFilter, and on CMRC 2018
    it raises recall@1 from 0.946 to 0.960 over ``lcut_for_search`` alone (see
    ``benchmarks/bench_retrieval_quality.py``). A run of other letters and digits becomes one
    lowercased token ("GPT-4" -> "gpt", "4"). Punctuation, whitespace and
    :data:`STOPWORDS` are dropped (as words; bigrams keep every character). Deterministic.

    Example:
        >>> lexical_tokens("营收是多少?")
        ['营收', '多少', '营收', '收是', '是多', '多少']
    """
    text = to_simplified(unicodedata.normalize("NFKC", text))
    out: list[str] = []
    cut = None
    for m in _LEXICAL_RE.finditer(text):
        run = m.group("cjk")
        if run is None:
            word = m.group("word").lower()
            if word not in STOPWORDS:
                out.append(word)
            continue
        if cut is None:
            cut = _jieba().lcut
        out.extend(t for t in cut(run) if t not in STOPWORDS and not t.isspace())
        out.extend(cjk_bigrams(run))
    return out


def printable_name(name: str) -> str:
    """A file name made safe to print on one line, readable and unambiguous.

    Control characters (newline, ESC: terminal escapes), format characters (the
    right-to-left override that makes "txt.exe" look like "exe.txt") and the lone surrogates
    that stand for undecodable bytes become escapes such as ``\\n`` or ``\\u202e``; a
    backslash is left alone, everything else (Chinese, spaces, dashes) too.

    Example:
        >>> printable_name("报告\\n-2024.txt")
        '报告\\\\n-2024.txt'
    """
    if name.isprintable():
        return name
    return "".join(
        ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
        else ch
        for ch in name
    )
