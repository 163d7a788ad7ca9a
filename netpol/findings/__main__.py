"""``python -m netpol.findings > docs/findings.md``: the catalogue as Markdown."""

from .catalogue import render_markdown

print(render_markdown(), end="")
