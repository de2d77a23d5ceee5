"""MkDocs hook: the repository's own Markdown files become site pages, and their links keep working.

README.md, export/README.md, benchmarks/*.md and CHANGELOG.md are written to be read on the
repository (links like `docs/export.md` or `../docs/export.md`). They stay the one source: this hook
adds them to the site under the names in PAGES, and rewrites every relative link of every page from
a repository path to the site page that shows that file. A link to another file of the repository
(LICENSE, a recipe) goes to that file on `repo_url`; a link to a file that does not exist is left
alone, so `mkdocs build --strict` names it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, InclusionLevel

# Repository file -> site page. Everything under docs/ is on the site under its own name.
PAGES = {
    "README.md": "index.md",
    "export/README.md": "export-folder.md",
    "benchmarks/BENCHMARKS.md": "benchmarks.md",
    "benchmarks/ACCURACY.md": "accuracy.md",
    "CHANGELOG.md": "changelog.md",
}
DOCS = "docs/"

# Fenced code blocks and code spans are skipped (group 1); links and images are rewritten (group 2).
_CODE_OR_LINK = re.compile(r"(^(```|~~~).*?^\2[ \t]*$|`[^`\n]+`)|(\]\()([^)\s]+)(\))", re.M | re.S)
_EXTERNAL = re.compile(r"^([a-z][a-z0-9+.-]*:|#|/)", re.I)


def on_files(files, config):
    """Add the repository's pages (those that exist) to the site's files."""
    root = Path(config.config_file_path).parent
    for source, page in PAGES.items():
        path = root / source
        if not path.is_file():
            continue
        if files.get_file_from_path(page) is not None:
            raise ValueError(f"docs/{page} and {source} would both be the site page {page}; "
                             f"rename one or change PAGES in {__file__}")
        files.append(File.generated(config, page, abs_src_path=str(path),
                                    inclusion=InclusionLevel.INCLUDED))
    return files


def on_page_markdown(markdown, page, config, files):
    """Rewrite the page's relative links from repository paths to site pages."""
    source = _repository_path(page.file.src_uri)
    here = posixpath.dirname(page.file.src_uri)
    root = Path(config.config_file_path).parent

    def rewrite(match: re.Match) -> str:
        if match.group(1):
            return match.group(0)
        target = match.group(4)
        if _EXTERNAL.match(target):
            return match.group(0)
        path, hash_, anchor = target.partition("#")
        repository_path = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
        site = _site_path(repository_path)
        if site is None:
            if config.repo_url and path and (root / repository_path).exists():
                return f"]({config.repo_url.rstrip('/')}/blob/main/{repository_path}{hash_}{anchor})"
            return match.group(0)
        return f"]({posixpath.relpath(site, here or '.')}{hash_}{anchor})"

    return _CODE_OR_LINK.sub(rewrite, markdown)


def _repository_path(src_uri: str) -> str:
    """Where the file of a site page lives in the repository."""
    for source, page in PAGES.items():
        if page == src_uri:
            return source
    return DOCS + src_uri


def _site_path(repository_path: str) -> str | None:
    """The site page (or file) that shows a repository file, None when it is not on the site."""
    if repository_path in PAGES:
        return PAGES[repository_path]
    if repository_path.startswith(DOCS):
        return repository_path[len(DOCS):]
    return None
