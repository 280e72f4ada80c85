"""The README stays short and links every docs/*.md page, and every relative link in it, in
docs/*.md and in benchmarks/README.md leads somewhere: to a file that exists and, when it names
one, to a heading of that file (GitHub's anchors)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 400
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", *DOCS, ROOT / "benchmarks" / "README.md"]

_FENCE = re.compile(r"^(```|~~~).*?^\1", flags=re.S | re.M)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code (links there are not links)."""
    return _CODE.sub("", _FENCE.sub("", text))


def links(text: str) -> list[str]:
    """The targets of the Markdown links and images in ``text``."""
    return _LINK.findall(_prose(text))


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of ``text``: lower case, punctuation dropped, spaces
    as hyphens, ``-1``, ``-2``… for repeats."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for line in _FENCE.sub("", text).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1))
        slug = re.sub(r"[^\w\- ]", "", title.replace("`", "").lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def broken_links(page: Path) -> list[str]:
    """The relative links of ``page`` that lead to no file, or to no heading of their file."""
    bad = []
    for target in links(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.I):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target}: no file {dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text("utf-8")):
            bad.append(f"{target}: no heading #{anchor} in {dest.name}")
    return bad


def test_readme_is_short() -> None:
    n = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert n <= README_MAX_LINES, (
        f"README.md has {n} lines, over {README_MAX_LINES}: move details to a docs/*.md page"
    )


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    assert not broken_links(page)


def test_readme_links_every_docs_page() -> None:
    readme = set(links((ROOT / "README.md").read_text(encoding="utf-8")))
    missing = [p.name for p in DOCS if f"docs/{p.name}" not in readme]
    assert not missing, f"docs pages the README does not link to: {missing}"


def test_the_checks_catch_what_they_check(tmp_path: Path) -> None:
    """The link check itself: a missing file, a missing heading, and what is not a link."""
    (tmp_path / "other.md").write_text("# Some `code` title: here\n\n## Again\n## Again\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#some-code-title-here) [ok](other.md#again-1) [ok](#top) [web](https://x)\n"
        "# Top\n`[not](a-link.md)`\n```\n[not](a-link.md)\n```\n"
        "[gone](gone.md) [bad](other.md#nowhere) ![img](img/x.png)\n"
    )
    assert broken_links(page) == [
        f"gone.md: no file {tmp_path / 'gone.md'}",
        "other.md#nowhere: no heading #nowhere in other.md",
        f"img/x.png: no file {tmp_path / 'img' / 'x.png'}",
    ]
