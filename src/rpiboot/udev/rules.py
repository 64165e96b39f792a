"""Parse udev rules files (``man 7 udev``): any text gives rules, or errors that say where.

A rule is one logical line (a trailing backslash continues it on the next line) of
``KEY[{attr}] OP "value"`` pairs separated by commas; ``#`` starts a comment line.  A line
that is not valid udev syntax becomes a :class:`RuleError` with its line and column, as
udev itself skips such a line with a warning: one bad line never hides the rest of a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from rpiboot.errors import InputError
from rpiboot.record import record

MATCH_OPS = ("==", "!=")
ASSIGN_OPS = ("=", "+=", "-=", ":=")
_OPS = ("==", "!=", "+=", "-=", ":=", "=")  # two-character operators first
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_RULES_FILE = 4 * 1024 * 1024  # bigger than any real rules file: read no further


class RuleSyntaxError(InputError):
    """One rule line that is not valid udev syntax; ``column`` is 1-based."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}",
                         hint="udev skips this line; fix it as udev(7) describes.")
        self.reason = message
        self.column = column


@record
class Token:
    """One ``KEY{attr} OP "value"`` of a rule."""

    key: str
    attr: str | None
    op: str
    value: str

    @property
    def is_match(self) -> bool:
        return self.op in MATCH_OPS

    @property
    def name(self) -> str:
        """``ATTR{idVendor}``, ``MODE``: the key as written in a rule."""
        return f"{self.key}{{{self.attr}}}" if self.attr is not None else self.key

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


@record
class Rule:
    """One rule: its tokens and the (first) line it starts on."""

    line: int
    tokens: tuple[Token, ...]

    def assignments(self, key: str) -> list[Token]:
        return [t for t in self.tokens if t.key == key and not t.is_match]

    @property
    def label(self) -> str | None:
        found = self.assignments("LABEL")
        return found[-1].value if found else None

    def __str__(self) -> str:
        return ", ".join(str(token) for token in self.tokens)


@record
class RuleError:
    """A line udev would skip: where, and why."""

    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


@record
class RulesFile:
    """The rules of one file (or text), and the lines that are not rules."""

    path: str
    rules: tuple[Rule, ...]
    errors: tuple[RuleError, ...] = ()


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, text) of every rule line: continuations joined, blank and
    comment lines skipped."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not pending:
            start = number
            if not line.strip() or line.lstrip().startswith("#"):
                continue
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        yield start, "".join(pending)
        pending = []
    if pending:
        yield start, "".join(pending)


def _read_value(line: str, pos: int, name: str) -> tuple[str, int]:
    """The double-quoted value starting at ``pos`` (optionally e"..."/r"..."); its text and
    the position after the closing quote."""
    escapes = line.startswith(("e\"", "E\""), pos)
    if line.startswith(("e\"", "E\"", "r\"", "R\""), pos):
        pos += 1
    if pos >= len(line) or line[pos] != '"':
        raise RuleSyntaxError(f"the value of {name} must be in double quotes", pos + 1)
    out: list[str] = []
    i = pos + 1
    while i < len(line):
        char = line[i]
        if char == '"':
            return "".join(out), i + 1
        if char == "\\" and i + 1 < len(line):
            nxt = line[i + 1]
            if nxt in '"\\':
                out.append(nxt)
            elif escapes and nxt in "nt":
                out.append("\n" if nxt == "n" else "\t")
            else:
                out.append(char + nxt)
            i += 2
            continue
        out.append(char)
        i += 1
    raise RuleSyntaxError(f"the value of {name} has no closing double quote", pos + 1)


def _read_key(line: str, pos: int) -> tuple[str, str | None, int]:
    found = _KEY.match(line, pos)
    if found is None:
        shown = line[pos:pos + 10]
        raise RuleSyntaxError(f"expected a key such as ATTR{{idVendor}}, found {shown!r}",
                              pos + 1)
    key, pos = found.group(), found.end()
    if not key.isupper():
        raise RuleSyntaxError(f"unknown key {key!r} (udev keys are upper case)",
                              found.start() + 1)
    attr = None
    if pos < len(line) and line[pos] == "{":
        close = line.find("}", pos + 1)
        if close < 0:
            raise RuleSyntaxError(f"{key}{{ has no closing brace", pos + 1)
        attr, pos = line[pos + 1:close], close + 1
    return key, attr, pos


def _read_token(line: str, pos: int) -> tuple[Token, int]:
    key, attr, pos = _read_key(line, pos)
    name = f"{key}{{{attr}}}" if attr is not None else key
    while pos < len(line) and line[pos] in " \t":
        pos += 1
    op = next((candidate for candidate in _OPS if line.startswith(candidate, pos)), None)
    if op is None:
        raise RuleSyntaxError(f"expected an operator (==, !=, =, +=, -=, :=) after {name}",
                              pos + 1)
    pos += len(op)
    while pos < len(line) and line[pos] in " \t":
        pos += 1
    value, pos = _read_value(line, pos, name)
    if pos < len(line) and line[pos] not in " \t,":
        raise RuleSyntaxError(f"expected a comma after the value of {name}", pos + 1)
    return Token(key, attr, op, value), pos


def parse_rule_line(line: str) -> tuple[Token, ...]:
    """The tokens of one logical rule line; :class:`RuleSyntaxError` if it is not one."""
    tokens: list[Token] = []
    pos = 0
    while True:
        while pos < len(line) and line[pos] in " \t,":
            pos += 1
        if pos >= len(line):
            break
        token, pos = _read_token(line, pos)
        tokens.append(token)
    if not tokens:
        raise RuleSyntaxError("an empty rule", 1)
    return tuple(tokens)


def parse_rules(text: str, path: str = "<text>") -> RulesFile:
    """Every rule of ``text``; lines that are not valid rules become errors.  Never raises."""
    rules: list[Rule] = []
    errors: list[RuleError] = []
    for number, line in logical_lines(text):
        try:
            rules.append(Rule(number, parse_rule_line(line)))
        except RuleSyntaxError as exc:
            errors.append(RuleError(number, exc.column, exc.reason))
    return RulesFile(path, tuple(rules), tuple(errors))


def read_rules_file(path: Path) -> RulesFile:
    """Parse one rules file; a file that cannot be read becomes a single error (line 0)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_RULES_FILE)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return RulesFile(str(path), (), (RuleError(0, 0, f"cannot read it: {reason}"),))
    return parse_rules(data.decode("utf-8", errors="replace"), str(path))
