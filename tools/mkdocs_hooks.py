"""mkdocs hook: a docs page may link to a repository file outside docs/, and `--strict` stays strict.

mkdocs reports a link to `../benchmarks/results/x.json` or `../reproduce/judging/claims/` as it reports a
broken link between two pages (a target "not found among documentation files", or an
"unrecognized relative link"), and `--strict` fails on either. This hook lowers those messages to
INFO where the link leaves docs_dir, so that a broken link between pages, or a missing anchor,
still fails the build. Whether the file outside exists is tools/check_links.py's to say: the lint
env runs both.
"""

import logging
import posixpath
import re

LINK_MESSAGE = re.compile(r"^Doc file '([^']*)' contains (?:a|an unrecognized relative) link '([^'#?]*)")


class LinksOutsideDocs(logging.Filter):
    """Lowers mkdocs' warning about a link whose target lies outside docs_dir to INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = LINK_MESSAGE.match(record.getMessage())
        if message and record.levelno == logging.WARNING:
            page, link = message.groups()
            if posixpath.normpath(posixpath.join(posixpath.dirname(page), link)).startswith("../"):
                record.levelno, record.levelname = logging.INFO, "INFO"
        return True


LINKS_OUTSIDE_DOCS = LinksOutsideDocs()


def on_config(config):
    """Installs the filter on the logger that validates links (once: addFilter keeps one copy)."""
    logging.getLogger("mkdocs.structure.pages").addFilter(LINKS_OUTSIDE_DOCS)
    return config
