"""Whether the documents back an answer: a verdict computed after generation, from the answer
and what the model read, independent of the model.

Small local models rarely say "the documents do not tell": asked about a chairman's hobby,
they name one; asked about one stampede, they give the death toll of another. The verdict
checks the answer's *claims* against the text the model read:

* **specifics**: numbers (compared as numbers: 56.83亿元 = 5,683,000,000; 31.5% ≠ 11.2%;
  Chinese numerals read), quoted phrases and titles, and names (people, places,
  organisations, Latin proper nouns). A specific counts as found only where the text around
  it bears on the question: the question's key terms are near it (``relevance``), with its
  names weighing most, so "8人" from a passage about another stampede is not support.
* **words**: the answer's other content words (those the question does not already hold),
  weighted by rarity (jieba's IDF); found anywhere in what was read.

Traditional and Simplified forms match each other; full-width and half-width alike.

Verdicts (``ragmix.core.events.Verdict``): ``no_answer`` (the answer says the documents do
not tell), ``unsupported`` (its specifics are not found where the question is discussed, or
most of its words are not in the text), ``partial`` (some are not: ``unsupported`` names
them), ``supported`` (every specific and most words are found).

Example:
    >>> text = "2025年公司营业收入为56.83亿元，同比增长12%。前五大客户销售额占比31.5%。"
    >>> judge("营业收入是5,683,000,000元", [text], "公司2025年营业收入是多少？").verdict
    'supported'
    >>> j = judge("前五大客户销售额占比为11.2%", [text], "前五大客户销售额占比是多少？")
    >>> j.verdict, j.unsupported
    ('unsupported', ['11.2%'])

One room, though long: numbers, the question's terms and the answer's claims are the three
parts of one judgement and share its normalisation; each part is a few pure functions with
examples (tests/test_verdict.py runs them).
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from ragmix.core.events import Verdict
from ragmix.core.text import CJK_CLASS, STOPWORDS, _jieba, to_simplified
from ragmix.qa.prompts import says_unanswerable

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["Claim", "Judgement", "judge", "numbers", "question_terms", "relevance"]

#: A specific is found only where the question's terms around it weigh at least this share of
#: the question's (see ``relevance``); measured on CMRC 2018 (benchmarks/bench_trust.py).
MIN_RELEVANCE = 0.5
#: Characters each side of a specific that are searched for the question's terms (bounded by
#: a blank line: another passage or article).
WINDOW = 400
#: An answer whose found words weigh at least this share is supported (with every specific).
SUPPORTED_WORDS = 0.6
#: ...and below this share it is unsupported, whatever else.
UNSUPPORTED_WORDS = 0.3
#: A text's first line, when it is a title (this short, no sentence end), names what the whole
#: text is about.
TITLE = 80
#: ...and without the question's most specific name, at least this share (see ``relevance``).
STRICT_SHARE = 2 / 3


def _split(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Words that frame a question or an answer rather than carry its content.
_FRAME = _split(
    "什么 多少 哪些 哪个 哪里 哪儿 哪一 几个 几年 怎么 怎样 如何 为什么 为何 是否 是不是 请问 "
    "何时 何地 何人 谁 哪 几 吗 呢 根据 文档 文中 资料 段落 材料 提到 提及 显示 表明 指出 "
    "答案 问题 回答 信息 内容 相关 可以 没有 这个 那个 这些 那些 其中 以及 因此 所以 但是 "
    "并且 而且 主要 包括 一个 一种 我们 他们 它们 你们 进行 通过 作为 对于 关于 由于 已经 "
    "还是 或者 如果 就是 不是 之一 以下 以上 方面 具体 称为 叫做 名为 分别 目前 当时 "
    "how why when where whom whose many much long often far please tell explain describe "
    "there answer question document documents passage passages according"
)
# A measure word after a number belongs to how it is shown ("8人", not "8").
_MEASURE = frozenset("人元年月日天个次名家岁号座位台辆件项条米吨倍股份户所届期")
# Numbers: Arabic with separators and decimals, or Chinese numerals; then a magnitude.
_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}  # fmt: skip
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_MAGNITUDE = {"万亿": 1e12, "亿": 1e8, "万": 1e4, "千": 1e3, "百": 1e2,
              "k": 1e3, "m": 1e6, "bn": 1e9, "billion": 1e9, "million": 1e6,
              "thousand": 1e3}  # fmt: skip
_NUM_RE = re.compile(
    r"(?P<pct>百分之)?"
    r"(?:(?P<ar>(?<![\d.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\d.])\d+(?:\.\d+)?)"
    r"|(?P<zh>[零〇一二两三四五六七八九十百千]+(?:点[零〇一二三四五六七八九]+)?))"
    r"\s?(?P<mag>万亿|亿|万|千|百|(?:billion|million|thousand|bn)\b)?"
    r"(?P<pct2>%|％|‰|percent\b)?",
    re.IGNORECASE,
)
_EN_NUMBERS = {
    w: float(i)
    for i, w in enumerate(
        ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen", "twenty")
    )
} | {"thirty": 30.0, "forty": 40.0, "fifty": 50.0, "sixty": 60.0, "seventy": 70.0,
     "eighty": 80.0, "ninety": 90.0, "hundred": 100.0, "dozen": 12.0}  # fmt: skip
_EN_NUMBER_RE = re.compile(r"\b(" + "|".join(_EN_NUMBERS) + r")\b", re.IGNORECASE)
_YES_NO_RE = re.compile(
    r"\s*(?:是|是的|对|不是|不对|否|有|没有|会|不会|yes|no|true|false)[。.!！]?\s*", re.IGNORECASE
)
_CHOICE_RE = re.compile(r"还是|或是|或者|\bor\b|\bwhether\b", re.IGNORECASE)
_CITATION_RE = re.compile(r"\[\d+\]|【\d+】")
_QUOTE_RE = re.compile(r"[“\"「『《](?P<q>[^”\"」』》\n]{2,40})[”\"」』》]")
_LATIN_NAME_RE = re.compile(r"\b(?:[A-Z][a-z]+(?:[ -][A-Z][a-z]+)*|[A-Z]{2,}[A-Za-z0-9]*)\b")
_CJK_RUN_RE = re.compile(f"{CJK_CLASS}+")
# Sentence-initial capitalised English words that are not names.
_NOT_NAMES = _split(
    "The A An It This That These Those In On At By For With From And Or But "
    "According Based Yes No There Their They He She We You I"
)
# A CJK "word" that starts or ends with one of these is a mis-cut around a function word.
_EDGE = frozenset("是的了吗呢吧啊么")
# jieba's part-of-speech tags of proper names: person, place, organisation, other proper noun.
_NAME_TAGS = frozenset({"nr", "nrfg", "nrt", "ns", "nt", "nz"})

ClaimKind = Literal["number", "quote", "name", "word"]


@dataclass(frozen=True)
class Claim:
    """One piece of an answer that the text must hold.

    Attributes:
        text: as the answer wrote it ("56.83亿元", "沈知远").
        kind: ``number``, ``quote`` and ``name`` are specifics; ``word`` a content word.
        weight: how much it says (a rare word more than a common one).
        value: a number's value (56.83亿 -> 5.683e9); None for the others.
    """

    text: str
    kind: ClaimKind
    weight: float = 1.0
    value: float | None = None

    @property
    def specific(self) -> bool:
        return self.kind != "word"


@dataclass(frozen=True)
class Judgement:
    """The verdict on one answer.

    Attributes:
        verdict: see the module docstring.
        unsupported: the answer's pieces not found (specifics first), as it wrote them.
        note: why, in a few words, for people and logs.
        words_found: the found share of the answer's content-word weight (0..1).
        specifics: how many specifics the answer has.
    """

    verdict: Verdict
    unsupported: list[str] = field(default_factory=list)
    note: str = ""
    words_found: float = 1.0
    specifics: int = 0


# -- normalisation -----------------------------------------------------------------------
@functools.cache
def _t2s() -> dict[int, str]:
    """A Traditional -> Simplified *character* table (from OpenCC's, through
    ``ragmix.core.text.to_simplified``), so that offsets stay offsets."""
    table: dict[int, str] = {}
    for cp in range(0x4E00, 0xA000):
        ch = chr(cp)
        out = to_simplified(ch)
        if out != ch and len(out) == 1:
            table[cp] = out
    return table


def normalise(text: str) -> str:
    """NFKC (full-width ASCII to ASCII), lowercase, Traditional to Simplified by character.

    One character to one, so offsets stay offsets (NFKC is applied per character only where it
    keeps the length).
    """
    out = "".join(c if len(n := unicodedata.normalize("NFKC", c)) != 1 else n for c in text)
    return out.translate(_t2s()).lower()


# -- numbers -----------------------------------------------------------------------------
def _zh_number(s: str) -> float | None:
    """A Chinese numeral ("三十六", "一千二百", "十二点五", "二〇二五") as a number."""
    whole, _, frac = s.partition("点")
    if whole and all(c in _ZH_DIGITS for c in whole) and len(whole) > 1:
        value = float("".join(str(_ZH_DIGITS[c]) for c in whole))  # 二〇二五: digit by digit
    else:
        total, digit = 0, None
        for c in whole:
            if c in _ZH_DIGITS:
                digit = _ZH_DIGITS[c]
            elif c in _ZH_UNITS:
                total += (1 if digit is None else digit) * _ZH_UNITS[c]
                digit = None
            else:
                return None
        value = float(total + (digit or 0))
    if frac:
        value += float("0." + "".join(str(_ZH_DIGITS[c]) for c in frac))
    return value


@dataclass(frozen=True)
class Number:
    """A number found in a text: its value and where it is."""

    text: str
    value: float
    start: int
    end: int
    decimals: int  # digits after the point, in the unit written (56.83亿 -> 2)
    magnitude: float


def numbers(text: str) -> list[Number]:
    """Every number of ``text`` with its magnitude applied.

    Example:
        >>> [(n.text, n.value) for n in numbers("营收56.83亿元，增长12%，员工三千二百人")]
        [('56.83亿', 5683000000.0), ('12%', 12.0), ('三千二百', 3200.0)]
        >>> [n.value for n in numbers("5,683,000,000元")]
        [5683000000.0]
    """
    out: list[Number] = []
    for m in _NUM_RE.finditer(text):
        raw = m.group("ar")
        if raw is not None:
            value = float(raw.replace(",", ""))
            decimals = len(raw.partition(".")[2])
        else:
            zh = m.group("zh")
            if zh in {"十", "百", "千"} and not m.group("pct"):  # a bare unit word: 十分, 千万
                continue
            v = _zh_number(zh)
            if v is None:
                continue
            value, decimals = v, len(zh.partition("点")[2])
        mag = m.group("mag")
        factor = _MAGNITUDE.get(mag.lower(), 1.0) if mag else 1.0
        end = m.end()
        out.append(Number(text[m.start() : end].strip(), value * factor, m.start(), end,
                          decimals, factor))  # fmt: skip
    for m in _EN_NUMBER_RE.finditer(text):
        out.append(Number(m.group(), _EN_NUMBERS[m.group().lower()], m.start(), m.end(), 0, 1.0))
    out.sort(key=lambda n: n.start)
    return out


def same_number(claimed: Number, found: Number) -> bool:
    """Whether ``found`` says ``claimed``: equal, or equal once rounded as the answer rounded
    it ("约57亿" for 56.83亿).

    Example:
        >>> a, b = numbers("57亿")[0], numbers("56.83亿")[0]
        >>> same_number(a, b), same_number(b, a)
        (True, False)
    """
    if math.isclose(claimed.value, found.value, rel_tol=1e-9, abs_tol=1e-9):
        return True
    if claimed.magnitude == 1 and found.magnitude != 1:
        # "18.62" for "18.62亿元": a short answer that drops the text's unit says its number
        return same_number(claimed, replace(found, value=found.value / found.magnitude,
                                            magnitude=1.0))  # fmt: skip
    step = claimed.magnitude * 10.0 ** (-claimed.decimals)
    return abs(found.value - claimed.value) <= step / 2 and abs(claimed.value) >= 10 * step


# -- the question's terms ----------------------------------------------------------------
@functools.cache
def _idf() -> tuple[dict[str, float], float]:
    from jieba import analyse  # loads jieba's IDF table (~0.3 s) on first use

    tfidf = analyse.default_tfidf
    return tfidf.idf_freq, float(tfidf.median_idf)


def _weight(word: str) -> float:
    idf, median = _idf()
    # A word jieba's table does not know is a name or a mis-cut ("占比是" -> "比是"): weigh
    # it as a middling word, so a bad cut cannot decide alone.
    return idf.get(word, median)


@functools.cache
def _posseg() -> ModuleType:
    _jieba()
    from jieba import posseg

    return posseg


def _words(text: str) -> list[tuple[str, str]]:
    """``(word, part of speech)`` of ``text`` (normalised), content words only."""
    out = []
    for w, tag in _posseg().lcut(text):
        w = w.strip()
        if not w or w in STOPWORDS or w in _FRAME:
            continue
        if _CJK_RUN_RE.fullmatch(w):
            if len(w) < 2 or w[0] in _EDGE or w[-1] in _EDGE:
                continue
        elif not (len(w) >= 3 and w.isalpha()):
            continue
        out.append((w, tag))
    return out


@dataclass(frozen=True)
class QuestionTerms:
    """The question's key terms, weighted; ``anchors`` are its names (they weigh double)."""

    terms: dict[str, float]
    anchors: frozenset[str]

    @property
    def total(self) -> float:
        return sum(self.terms.values())

    @property
    def top_anchor(self) -> str:
        """The most specific (heaviest) name; "" when there is none."""
        return max(sorted(self.anchors), key=lambda a: self.terms.get(a, 0.0), default="")


@functools.lru_cache(maxsize=256)
def question_terms(question: str) -> QuestionTerms:
    """The words of ``question`` that locate what it asks about, weighted by rarity; names
    (jieba's proper-noun tags, and words its dictionary does not know: "龙烟" of "龙烟铁路")
    weigh double.

    Example:
        >>> sorted(question_terms("上海外滩踩踏事件造成多少人死亡？").anchors)
        ['上海']
    """
    q = normalise(_CITATION_RE.sub(" ", question))
    terms: dict[str, float] = {}
    anchors = set()
    idf, _ = _idf()
    for w, tag in _words(q):
        weight = _weight(w)
        if tag in _NAME_TAGS or (_CJK_RUN_RE.fullmatch(w) and w not in idf):
            anchors.add(w)
            weight *= 2
        terms[w] = max(terms.get(w, 0.0), weight)
    for n in numbers(q):  # "2014年": a year or figure the question names locates it too
        if n.value >= 10:
            terms[n.text] = 8.0
            anchors.add(n.text)
    return QuestionTerms(terms, frozenset(anchors))


def relevance(
    terms: QuestionTerms, text: str, *, strict: bool = False, given: frozenset[str] = frozenset()
) -> float:
    """The share of the question's term weight found in ``text`` (normalised); 1.0 when the
    question has no key terms (nothing to locate), 0.0 when it names something (a person, a
    place, an organisation, a year) and ``text`` holds none of those names: a text about
    another stampede shares "踩踏", "死亡" with the question, not "上海". ``strict`` (the
    verdict's use): the question's most specific name must be there, not just any of them
    ("中国（南京）国际象棋超级大赛" is located by "南京", not by "中国"), unless the text holds at
    least ``STRICT_SHARE`` of the question's term weight (jieba tags some common nouns as
    names: "长度" for a text that says "长约"). ``given``: names the whole text is about (they
    are in its title or its file's name: "2025" of "…2025 年年度报告", whose paragraphs say
    "报告期内"), found wherever in it.

    Example:
        >>> t = question_terms("上海外滩踩踏事件造成多少人死亡？")
        >>> relevance(t, normalise("上海外滩发生踩踏事件，造成36人死亡。")) > 0.9
        True
        >>> relevance(t, normalise("麦加朝觐踩踏事件造成8人死亡。")) < 0.5
        True
    """
    if not terms.terms:
        return 1.0
    if terms.anchors and not any(a in text or a in given for a in terms.anchors):
        return 0.0
    share = sum(w for t, w in terms.terms.items() if t in text or t in given) / terms.total
    top = terms.top_anchor
    if strict and top and top not in text and top not in given and share < STRICT_SHARE:
        return 0.0
    return share


def _title(text: str) -> str:
    """The first line of ``text`` when it is a title: at most ``TITLE`` characters and no
    sentence end ("江南智造科技股份有限公司 2025 年年度报告（摘要）"); else "".

    Example:
        >>> _title("某公司2025年年度报告\\n\\n报告期内……"), _title("2015年1月，麦加发生踩踏事件。")
        ('某公司2025年年度报告', '')
    """
    line = text.lstrip().split("\n", 1)[0].strip()
    if len(line) > TITLE or line.endswith(("。", ".", "！", "!", "？", "?", "；", ";")):
        return ""
    return line


def _around(text: str, start: int, end: int, width: int = WINDOW) -> str:
    """The text within ``width`` characters of ``start..end``, not across a blank line."""
    lo = max(0, start - width)
    hi = min(len(text), end + width)
    before = text.rfind("\n\n", lo, start)
    after = text.find("\n\n", end, hi)
    return text[(before + 2 if before >= 0 else lo) : (after if after >= 0 else hi)]


# -- the answer's claims -----------------------------------------------------------------
def claims(answer: str, question: str = "") -> list[Claim]:
    """The answer's specifics and content words that the question does not already hold.

    Example:
        >>> found = claims("董事长沈知远先生的爱好是烹饪。", "董事长的爱好是什么？")
        >>> [(c.text, c.kind) for c in found]
        [('沈知远', 'name'), ('先生', 'word'), ('烹饪', 'word')]
    """
    text = _CITATION_RE.sub(" ", answer)
    q_norm = normalise(question)
    q_numbers = numbers(q_norm)
    out: list[Claim] = []
    seen: set[str] = set()
    masked = list(text)  # numbers and quotes are not words too

    for n in numbers(normalise(text)):
        if any(same_number(n, qn) for qn in q_numbers) or n.text in seen:
            continue
        if n.magnitude == 1 and n.decimals == 0 and n.value < 10 and not n.text.endswith("%"):
            # one-digit counts ("第1", "3个") say little alone; they still must be found
            weight = 2.0
        else:
            weight = 8.0
        seen.add(n.text)
        end = n.end + (n.end < len(text) and text[n.end] in _MEASURE)
        out.append(Claim(text[n.start : end].strip(), "number", weight, n.value))
        masked[n.start : n.end] = " " * (n.end - n.start)
    for m in _QUOTE_RE.finditer(text):
        q = m.group("q").strip()
        if normalise(q) in q_norm or q in seen:
            continue
        seen.add(q)
        out.append(Claim(q, "quote", 8.0))
        masked[m.start() : m.end()] = " " * (m.end() - m.start())
    rest = "".join(masked)
    for m in _LATIN_NAME_RE.finditer(rest):
        name = m.group()
        if name in _NOT_NAMES or name.lower() in q_norm or name in seen:
            continue
        seen.add(name)
        out.append(Claim(name, "name", 8.0))
    idf, _ = _idf()
    for w, tag in _words(normalise(rest)):
        if w in seen or w in q_norm or any(w in c.text.lower() for c in out if c.specific):
            continue
        seen.add(w)
        is_name = _CJK_RUN_RE.fullmatch(w) and (tag in _NAME_TAGS or w not in idf)
        out.append(Claim(w, "name" if is_name else "word", _weight(w)))
    for run in _residue(normalise(rest), q_norm):
        if not any(run in c.text.lower() or c.text.lower() in run for c in out):
            out.append(Claim(run, "name", _idf()[1]))
    return out


def _residue(answer: str, question: str) -> list[str]:
    """The answer's runs of two or more CJK characters that no word cut found and that are not
    the question's own words: a name jieba cut into single characters ("廷贞" in
    "李成栋的字是廷贞"). A character belongs to the question when a bigram of the answer
    holding it is in the question."""
    out = []
    for m in _CJK_RUN_RE.finditer(answer):
        run = m.group()
        keep = [True] * len(run)
        for i in range(len(run) - 1):
            if run[i : i + 2] in question:
                keep[i] = keep[i + 1] = False
        piece = ""
        for ch, k in zip([*run, ""], [*keep, False], strict=True):
            if k and ch not in STOPWORDS and ch not in _EDGE:
                piece += ch
                continue
            if len(piece) >= 2:
                out.append(piece)
            piece = ""
    return out


_SUFFIX_RE = re.compile(r"(?:ies|es|s|ed|ing|ly)$")


def _stem(word: str) -> str:
    """A Latin word without its commonest suffix, for a substring search ("covers" finds
    "cover", "covered"); CJK words as they are."""
    if len(word) > 4 and word.isascii():
        return _SUFFIX_RE.sub("", word)
    return word


# -- the verdict -------------------------------------------------------------------------
def judge(
    answer: str,
    texts: Sequence[str],
    question: str = "",
    *,
    global_question: bool = False,
    min_relevance: float = MIN_RELEVANCE,
    heads: Sequence[str] = (),
) -> Judgement:
    """The verdict on ``answer``, written from ``texts`` (passages or whole documents) for
    ``question``. ``global_question`` (a summary): every place in the text bears on it.
    ``heads``: per text, what names the whole of it (its document's file name); a text's own
    title (see ``_title``) counts too."""
    stripped = answer.strip()
    if not stripped or says_unanswerable(stripped):
        return Judgement("no_answer", note="the answer says the documents do not tell")
    found_texts = [normalise(t) for t in texts if t]
    terms = QuestionTerms({}, frozenset()) if global_question else question_terms(question)
    text_numbers = [numbers(t) for t in found_texts]

    about = [
        frozenset(
            a
            for a in terms.anchors
            if a in _title(t) or (i < len(heads) and a in normalise(heads[i]))
        )
        for i, t in enumerate(found_texts)
    ]

    def located(start: int, end: int, i: int) -> bool:
        window = _around(found_texts[i], start, end)
        return relevance(terms, window, strict=True, given=about[i]) >= min_relevance

    def specific_found(c: Claim) -> tuple[bool, bool]:
        """(found near the question's terms, found anywhere)."""
        anywhere = False
        if c.kind == "number":
            claimed = numbers(normalise(c.text.rstrip("".join(_MEASURE))))[0]
            for i, ns in enumerate(text_numbers):
                for n in ns:
                    if same_number(claimed, n):
                        anywhere = True
                        if located(n.start, n.end, i):
                            return True, True
            return False, anywhere
        return text_found(normalise(c.text))

    def text_found(key: str) -> tuple[bool, bool]:
        """(``key`` found near the question's terms, found anywhere)."""
        anywhere = False
        for i, t in enumerate(found_texts):
            at = t.find(key)
            while at >= 0:
                anywhere = True
                if located(at, at + len(key), i):
                    return True, True
                at = t.find(key, at + 1)
        return False, anywhere

    cs = claims(stripped, question)
    specifics = [c for c in cs if c.specific]
    words = [c for c in cs if not c.specific]
    missing_specifics: list[str] = []
    elsewhere: list[str] = []
    for c in specifics:
        near, anywhere = specific_found(c)
        if not near:
            missing_specifics.append(c.text)
            if anywhere:
                elsewhere.append(c.text)
    # words are located as specifics are: "后卫" said of another player is not support
    missing_words = [c for c in words if not text_found(_stem(normalise(c.text)))[0]]
    total = sum(c.weight for c in words)
    share = 1.0 - sum(c.weight for c in missing_words) / total if total else 1.0
    missing_words.sort(key=lambda c: -c.weight)
    unsupported = missing_specifics + [c.text for c in missing_words[:5]]
    n_spec = len(specifics)
    if not cs:
        if _YES_NO_RE.fullmatch(stripped):
            return Judgement("partial", note="a bare yes or no: nothing in it to check")
        if _CHOICE_RE.search(question):
            return Judgement("partial", note="one of the question's own options: nothing to check")
        # "生命数耗完即算" for "生命数耗完即算为什么？": the question's own words, no answer.
        return Judgement("unsupported", note="the answer only repeats the question's words")
    where = (
        f"; {', '.join(elsewhere)} only where the text is about something else" if elsewhere else ""
    )
    if (n_spec and len(missing_specifics) == n_spec) or share < UNSUPPORTED_WORDS:
        note = (
            f"{len(missing_specifics)} of {n_spec} specifics not found where the question is "
            f"discussed{where}; {share:.0%} of the answer's words found"
        )
        return Judgement("unsupported", unsupported, note, round(share, 4), n_spec)
    if missing_specifics or share < SUPPORTED_WORDS:
        note = (
            f"{len(missing_specifics)} of {n_spec} specifics not found{where}; "
            f"{share:.0%} of the answer's words found"
        )
        return Judgement("partial", unsupported, note, round(share, 4), n_spec)
    return Judgement(
        "supported",
        [],
        f"{n_spec} specifics and {share:.0%} of the answer's words found",
        round(share, 4),
        n_spec,
    )
