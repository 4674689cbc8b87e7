"""A griffe extension for the docs build: make the reST in aioports' docstrings render cleanly.

The docstrings are written for Sphinx. Two of its forms trip griffe's sphinx parser or render
as raw text, so this rewrites each docstring as it is loaded (the sources stay as they are):

- ``:raises A, B: text`` names several exceptions in one field, which griffe rejects with a
  warning (and ``mkdocs build --strict`` fails); it becomes one ``:raises A: text`` per class.
- Cross-reference roles (``:meth:`scan```, ``:class:`~aioports.Lease```) would show as
  ``:meth:scan``; they become code spans (``scan()``, ``Lease``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_SEVERAL = re.compile(
    r"^(?P<indent>[ \t]*):raises (?P<names>\w+(?:\s*,\s*\w+)+):(?P<text>.*)$", re.MULTILINE
)
_ROLE = re.compile(r":(?P<role>meth|func|class|exc|attr|data|obj|mod):`~?(?P<target>[^`]+)`")


def _split(match: re.Match[str]) -> str:
    indent, text = match["indent"], match["text"]
    names = [name.strip() for name in match["names"].split(",")]
    return "\n".join(f"{indent}:raises {name}:{text}" for name in names)


def _code(match: re.Match[str]) -> str:
    target = match["target"]
    if match["role"] in ("meth", "func") and not target.endswith(")"):
        target += "()"
    return f"`{target}`"


def rewrite(text: str) -> str:
    """The docstring ``text`` as griffe can parse and render it."""
    return _ROLE.sub(_code, _SEVERAL.sub(_split, text))


class SphinxToMarkdown(griffe.Extension):
    """Rewrites each object's docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
