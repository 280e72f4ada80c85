"""Text cleaning shared by every loader.

What ``clean_text`` does, in order:

1. ``\\r\\n`` and lone ``\\r`` become ``\\n``; the other line separators (VT, FF, NEL, U+2028,
   U+2029) become ``\\n`` too, so two words they separated never run together.
2. NUL, the other C0/C1 control characters and a stray BOM are removed (``\\n`` and ``\\t`` stay).
3. Trailing spaces and tabs on every line are removed.
4. Line breaks that pypdf leaves *inside* a Chinese sentence are joined (``"并\\n在苏州"`` ->
   ``"并在苏州"``), see ``join_cjk_lines``.
5. Three or more consecutive newlines (two or more blank lines) become one blank line, and
   blank lines at the start and end go.

NFKC is deliberately not applied: it would turn the full-width punctuation users quote
(``，：（）``) into ASCII and make their citations stop matching the source.
"""

from __future__ import annotations

import re

__all__ = ["clean_text", "join_cjk_lines"]

# Separators that mean "new line" to a reader; mapped to \n instead of being deleted.
_LINE_SEPS = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
# C0 controls except \t and \n, DEL, C1 controls, and a BOM that ended up mid-text.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff]")
# Only from the start of a run, and possessive: "[ \t]+$" alone retries from every space of a
# long run that is not at a line end, which is quadratic (40,000 spaces: 10 s).
_TRAILING = re.compile(r"(?<![ \t])[ \t]++$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")

# Characters written without spaces between them: Han (BMP blocks and the supplementary
# planes), kana, and CJK/full-width punctuation. U+3000 (ideographic space) is excluded on
# purpose: a line that starts with it is an indented new paragraph, not a continuation.
# Hangul is excluded because Korean separates words with spaces.
_CJK_CLASS = (
    "\u2e80-\u2fdf"  # radicals
    "\u3001-\u303f"  # CJK symbols and punctuation (without U+3000)
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf"  # extension A
    "\u4e00-\u9fff"  # unified ideographs
    "\uf900-\ufaff"  # compatibility ideographs
    "\ufe30-\ufe4f"  # CJK compatibility forms
    "\uff01-\uff60"  # full-width ASCII variants and brackets
    "\uff61-\uff65"  # half-width CJK punctuation
    "\u2018\u2019\u201c\u201d\u2014\u2026\u00b7"  # quotes, dash, ellipsis, middle dot
    "\U00020000-\U0003134f"  # extensions B-H
)
_CJK_BREAK = re.compile(f"(?<=[{_CJK_CLASS}])\n(?=[{_CJK_CLASS}])")
# A line ending in one of these ends a sentence (or introduces a list): keep the break.
_SENTENCE_END = frozenset("。！？；：…｡．")
# Closing quotes/brackets that may follow the sentence end ("……好。”").
_CLOSERS = frozenset("”’」』）》】〕〗〙〛〉﹂﹄")
# A following line that starts like a heading or list item starts a new block.
_BLOCK_START = re.compile(
    r"第[〇零一二三四五六七八九十百千万两\d０-９]+[章节條条款篇部回卷编編]"
    r"|[一二三四五六七八九十]+[、．]"
    r"|[（(][一二三四五六七八九十\d０-９]+[）)]"
)

# Left lines up to this many characters that start like a heading are headings.
_HEADING_MAX = 16
_NUMBERED = re.compile(r"\d+(?:\.\d+)*(?:[.、．]|\s)")
# On text with real page-width lines (at least this wide, CJK counting 2), a line narrower
# than _SHORT_SHARE of the widest is a heading or a paragraph end, not a wrapped line.
_MIN_PAGE_WIDTH = 40
_SHORT_SHARE = 0.6


def clean_text(text: str, *, join_cjk: bool = True) -> str:
    """Normalise extracted text without dropping real content.

    Args:
        text: raw text from a loader.
        join_cjk: join line breaks inside Chinese sentences (see ``join_cjk_lines``).
            Loaders of formats whose line breaks are real (docx paragraphs, HTML blocks)
            pass False.

    Returns:
        The cleaned text: ``\\n`` line ends, no control characters except ``\\t``, no trailing
        spaces, at most one blank line in a row, no blank lines at either end.

    Example:
        >>> clean_text("成立于2001年，并\\r\\n在苏州设厂。\\x00\\r\\n\\r\\n\\r\\n\\r\\nEnd  ")
        '成立于2001年，并在苏州设厂。\\n\\nEnd'
    """
    text = _LINE_SEPS.sub("\n", text)
    text = _CONTROL.sub("", text)
    text = _TRAILING.sub("", text)
    if join_cjk:
        text = join_cjk_lines(text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip("\n")


def join_cjk_lines(text: str) -> str:
    """Remove single line breaks that sit inside a Chinese/Japanese sentence.

    PDF text extraction keeps the visual line breaks of the page, so a sentence that wraps
    reads ``"…并\\n在苏州…"``; Chinese puts no space between words, so the break is simply
    dropped. A break is kept when:

    * either neighbour is not a CJK character or CJK punctuation (English lines, digits,
      indented paragraphs starting with U+3000, blank lines);
    * the line ends a sentence (``。！？；：…``, optionally followed by closing quotes);
    * the line is a Markdown heading (``# 标题``) or a short line starting like one
      (``第一章 总则``, ``1.2 范围``);
    * in text with page-width lines, the line is much narrower than the widest one (a
      heading or the end of a paragraph: wrapped lines fill the width);
    * the next line starts like a heading or list item (``第三条``, ``二、``, ``（一）``).

    Args:
        text: text with ``\\n`` line ends.

    Returns:
        The text with those breaks removed; nothing else changes.
    """

    if "\n" not in text:
        return text
    widest = max(_width(line) for line in text.split("\n"))
    short = _SHORT_SHARE * widest if widest >= _MIN_PAGE_WIDTH else 0.0

    def decide(m: re.Match[str]) -> str:
        s = m.string
        i = m.start() - 1
        while i >= 0 and s[i] in _CLOSERS:
            i -= 1
        if i >= 0 and s[i] in _SENTENCE_END:
            return "\n"
        line_start = s.rfind("\n", 0, m.start()) + 1
        if s.startswith("#", line_start):
            return "\n"
        # A short line that starts like a heading ("第一章 总则") is a heading; a long one
        # ("第一条 为了规范……") is the first line of a wrapped article.
        if m.start() - line_start <= _HEADING_MAX and (
            _BLOCK_START.match(s, line_start) or _NUMBERED.match(s, line_start)
        ):
            return "\n"
        if short and _width(s[line_start : m.start()]) < short:
            return "\n"
        if _BLOCK_START.match(s, m.end()):
            return "\n"
        return ""

    return _CJK_BREAK.sub(decide, text)


def _width(line: str) -> int:
    """Display width, CJK counting 2 like on the page (UTF-8 length is 3 for CJK, 1 for ASCII)."""
    return (len(line.encode("utf-8", "surrogatepass")) + len(line)) // 2
