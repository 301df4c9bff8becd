"""Check every relative link and anchor in README.md, docs/ and the example course's README.

GitHub renders a link to a moved file or a renamed heading without a word, and the reader meets a
404 or the top of a page; the lint env runs this, so that a broken one fails lint instead. Standard
library only, so it runs on any Python 3.10+: `python tools/check_links.py [FILES...]`.
"""

import re
import sys
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
EXTERNAL = ("http://", "https://", "mailto:")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?:.|\n(?![ \t]*\n))+?\1")  # may span lines, not paragraphs
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$")


def shown(path: Path) -> Path:
    """A path as messages name it: from the repository root where it lies inside it."""
    resolved = path.resolve()
    return resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else path


def prose_lines(text: str) -> list[str]:
    """The file's lines with fenced code blanked, so that line numbers stay true."""
    lines, fence = [], ""
    for line in text.splitlines():
        marker = FENCE.match(line)
        if not fence and marker:
            fence = marker.group(1)
        elif fence and marker and set(line.strip()) == {fence[0]} and len(line.strip()) >= len(fence):
            fence = ""
        elif not fence:
            lines.append(line)
            continue
        lines.append("")
    return lines


def github_slugs(path: Path) -> set[str]:
    """GitHub's heading anchors: lowercase; only letters, digits, spaces, hyphens and underscores
    kept; spaces to hyphens; a repeated slug suffixed -1, -2, ..."""
    slugs, seen = set(), {}
    for line in prose_lines(path.read_text(encoding="utf-8")):
        if heading := HEADING.match(line):
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
            repeat = seen[slug] = seen.get(slug, -1) + 1
            slugs.add(f"{slug}-{repeat}" if repeat else slug)
    return slugs


def broken_links(path: Path) -> tuple[int, list[str]]:
    """How many relative links the file holds, and a message for each that does not resolve."""
    prose = "\n".join(prose_lines(path.read_text(encoding="utf-8")))
    prose = CODE_SPAN.sub(lambda span: "\n" * span.group(0).count("\n"), prose)
    checked, broken = 0, []
    for link in LINK.finditer(prose):
        target = link.group(1)
        if not target or target.startswith(EXTERNAL):
            continue
        checked += 1
        relative, _, fragment = target.partition("#")
        relative = unquote(relative.partition("?")[0])
        resolved = path.parent / relative if relative else path
        if not resolved.exists():
            problem = "no such file"
        elif fragment and resolved.suffix == ".md" and fragment not in github_slugs(resolved):
            problem = f"no heading #{fragment} in {shown(resolved)}"
        else:
            continue
        line = prose.count("\n", 0, link.start()) + 1
        broken.append(f"{shown(path)}:{line}: broken link {target} ({problem})")
    return checked, broken


def main(names: list[str]) -> int:
    files = [Path(name) for name in names] or [
        ROOT / "README.md",
        *sorted((ROOT / "docs").rglob("*.md")),
        ROOT / "examples/course-repo/README.md",
    ]
    results = [broken_links(path) for path in files]
    problems = [message for _, broken in results for message in broken]
    checked = sum(count for count, _ in results)
    print("\n".join(problems) if problems else f"{checked} links in {len(files)} files, all resolve")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
