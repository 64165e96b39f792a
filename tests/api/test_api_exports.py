"""The public names of ``rpiboot``: each resolves lazily, is documented and typed, and the
type checkers' view (the TYPE_CHECKING block) lists the same names as the lazy table."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import rpiboot

INIT = Path(rpiboot.__file__)
API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def _exports() -> list[str]:
    return [name for name in rpiboot.__all__ if name != "__version__"]


@pytest.mark.parametrize("name", _exports())
def test_every_public_name_resolves_with_a_docstring(name: str) -> None:
    value = getattr(rpiboot, name)
    if inspect.isclass(value) or inspect.isfunction(value):
        assert inspect.getdoc(value), f"rpiboot.{name} has no docstring"
    if inspect.isfunction(value):
        hints = inspect.signature(value)
        assert hints.return_annotation is not inspect.Signature.empty, name


def test_the_type_checking_view_lists_the_same_names() -> None:
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and getattr(node.test, "id", None) == "TYPE_CHECKING")
    seen = {alias.asname or alias.name for node in ast.walk(block)
            if isinstance(node, ast.ImportFrom) and node.module != "typing"
            for alias in node.names}
    assert seen == set(rpiboot.__all__)


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        rpiboot.nope  # noqa: B018


def test_importing_the_package_imports_nothing_else() -> None:
    code = ("import sys, rpiboot; print(sorted(m for m in sys.modules "
            "if m.startswith('rpiboot')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['rpiboot']"


def test_every_public_name_is_in_the_api_doc_or_the_toolchain_doc() -> None:
    text = API_DOC.read_text(encoding="utf-8")
    missing = [name for name in _exports() if f"`{name}" not in text and name not in text]
    assert missing == []
