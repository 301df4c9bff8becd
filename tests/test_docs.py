"""README is a front page and docs/ its pages: the link checker fails on what it must, README stays
small and links every page, and every page says first whom it is for."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md"))  # docs/report/ is generated, not a page of ours


def check_links(folder: Path, text: str) -> subprocess.CompletedProcess:
    (folder / "target.md").write_text("# Target\n\n## A section: with `code`\n")
    (folder / "page.md").write_text(text)
    command = [sys.executable, str(ROOT / "tools" / "check_links.py"), "page.md"]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    ("link", "problem"),
    [
        ("[gone](missing.md)", "broken link missing.md (no such file)"),
        ("[gone](target.md#nothing)", "broken link target.md#nothing (no heading #nothing in target.md)"),
        ("[gone](#nowhere)", "broken link #nowhere (no heading #nowhere in page.md)"),
    ],
)
def test_the_link_checker_names_file_and_line_of_a_broken_link(tmp_path, link, problem):
    result = check_links(tmp_path, f"# Page\n\n```\n[in a fence](missing.md)\n```\nSee {link}.\n")
    assert result.returncode == 1
    assert result.stdout.strip() == f"page.md:6: {problem}"


def test_the_link_checker_passes_links_that_resolve(tmp_path):
    text = "# Page\n\n[a](target.md#a-section-with-code) [b](#page) [c](./) [d](https://example.com/x)\n"
    result = check_links(tmp_path, text)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == "3 links in 1 files, all resolve"


def test_readme_is_a_front_page_under_12_kb():
    assert len((ROOT / "README.md").read_bytes()) < 12 * 1024


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_page_says_first_whom_it_is_for(page):
    title, blank, first, *_ = page.read_text().splitlines()
    assert title.startswith("# ") and not blank
    assert first.startswith("*Who this is for:* ")


def test_readme_links_every_docs_page():
    linked = set(re.findall(r"\]\((docs/[^)#]+\.md)", (ROOT / "README.md").read_text()))
    assert {f"docs/{page.name}" for page in PAGES} <= linked
