"""Every relative link in the README and the docs points to a file that exists, and every
`#anchor` to a heading of that file (mkdocs --strict checks the site's pages too; the README
is not one of them)."""

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """Python-Markdown's toc slug: words lowercased, punctuation dropped, spaces as hyphens."""
    text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", re.sub(r"`", "", text)).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(path: Path) -> set[str]:
    text, fenced, out = path.read_text(), False, set()
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#+\s+(.*)", line)):
            out.add(slug(m.group(1)))
    return out


def links():
    for doc in DOCS:
        for target in LINK.findall(doc.read_text()):
            if not re.match(r"[a-z]+:", target):  # http(s), mailto: not checked offline
                yield doc, target


CASES = list(links())


def test_the_docs_have_links():
    assert len(CASES) > 20


@pytest.mark.parametrize("doc,target", CASES, ids=[f"{d.name}->{t}" for d, t in CASES])
def test_link_resolves(doc, target):
    file, _, anchor = target.partition("#")
    dest = (doc.parent / file).resolve() if file else doc
    assert dest.exists(), f"{doc.name}: link to {target} finds no {dest}"
    if anchor and dest.suffix == ".md":
        assert anchor in anchors(dest), f"{doc.name}: no heading #{anchor} in {dest.name}"


def test_a_broken_link_would_fail(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# A heading\n")
    assert "a-heading" in anchors(page) and "nope" not in anchors(page)
    assert slug("Dialects (neuromorphic chips)") == "dialects-neuromorphic-chips"
