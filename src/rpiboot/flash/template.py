"""Per-board templates: ``{field}`` placeholders in file names and text contents.

Syntax (Python's ``str.format`` without its options): ``{name}`` is replaced by the field
``name`` (letters, digits and ``_``, not starting with a digit); ``{{`` and ``}}`` stand for
``{`` and ``}``.  Anything else with a brace — a lone ``{`` or ``}``, ``{ serial }``,
``{serial:>8}``, ``{"key": 1}`` — is an error naming the line and column, never silently
kept: a typo must not reach a hundred boards.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from rpiboot.errors import InputError
from rpiboot.record import record

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TEMPLATE_HINT = ("write {{ and }} for a literal brace, or list the file in the folder's "
                 ".verbatim file to copy it as it is")


@record
class Placeholder:
    """One ``{name}`` of a template, and where it is (1-based line and column)."""

    name: str
    line: int
    column: int


@record
class Template:
    """A parsed template: literal text and placeholders, in order."""

    parts: tuple[str | Placeholder, ...]

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        return tuple(part for part in self.parts if isinstance(part, Placeholder))

    def render(self, fields: Mapping[str, str]) -> str:
        """The text with every placeholder replaced (the caller checked they are known)."""
        return "".join(part if isinstance(part, str) else fields[part.name]
                       for part in self.parts)


def _where(text: str, position: int) -> tuple[int, int]:
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


def parse_template(text: str, where: str) -> Template:
    """Parse ``text``; InputError naming ``where``, the line and the column on bad braces."""
    parts: list[str | Placeholder] = []
    literal: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        literal.append(text[position:match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
            continue
        line, column = _where(text, match.start())
        name = match.group(1)
        if name is None or not _FIELD.fullmatch(name):
            shown = token if len(token) <= 40 else token[:37] + "..."
            problem = (f"a lone {token!r}" if name is None
                       else f"{shown!r} is not a field placeholder")
            raise InputError(f"{where}: line {line}, column {column}: {problem}",
                             hint=TEMPLATE_HINT)
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(Placeholder(name=name, line=line, column=column))
    literal.append(text[position:])
    if any(literal):
        parts.append("".join(literal))
    return Template(parts=tuple(parts))
