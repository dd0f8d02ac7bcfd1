"""mkdocs hooks (mkdocs.yml `hooks:`).

- Code fences keep only their language: the words after it (`notest`, `continuation`,
  `fixture:NAME`) tell pytest-markdown-docs how to run a block and would otherwise stop Python-Markdown
  from reading the fence at all.
- BENCHMARKS.md and RELIABILITY.md, at the repository's root, are pages of the site as they are
  (benchmarks.md, reliability.md), their links to docs/ files made relative to the site.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
ROOT_PAGES = {"benchmarks.md": "BENCHMARKS.md", "reliability.md": "RELIABILITY.md"}
_FENCE_OPTIONS = re.compile(r"^(?P<fence>[ \t]*`{3,})(?P<lang>[\w+-]+)[ \t]+[^`\n]*$", re.M)


def on_files(files, config):
    for page, source in ROOT_PAGES.items():
        text = (ROOT / source).read_text(encoding="utf-8")
        text = text.replace("](docs/", "](")
        files.append(File.generated(config, page, content=text))
    return files


def on_page_markdown(markdown, page, config, files):
    return _FENCE_OPTIONS.sub(r"\g<fence>\g<lang>", markdown)
