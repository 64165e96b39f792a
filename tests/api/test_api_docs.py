"""Every Python example in docs/api.md runs, as written, against the in-package simulator.

Each ```python block is executed on its own (fresh globals, a temporary working folder);
functions it defines whose names start with ``test_`` are then called as pytest would,
with a temporary ``tmp_path``.  A block fails the test if it raises (its asserts included).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
# files the examples name, staged in their working folder (the doc says so)
STAGED = {"pieeprom.bin": "firmware/rpi-eeprom/2711/pieeprom-2026-05-17.bin"}
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def examples() -> list[tuple[str, str]]:
    text = DOC.read_text(encoding="utf-8")
    found = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        found.append((f"api.md:{line}", match.group(1)))
    return found


def test_the_doc_has_examples() -> None:
    assert len(examples()) >= 5


@pytest.mark.parametrize(("where", "code"), examples(), ids=[w for w, _ in examples()])
def test_example_runs(where: str, code: str, tmp_path: Path, shared_dir: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    for name, relative in STAGED.items():
        if name in code:
            (tmp_path / name).write_bytes((shared_dir / relative).read_bytes())
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_example_{where}"}
    exec(compile(code, where, "exec"), namespace)  # the example is the test
    for name, value in list(namespace.items()):
        if name.startswith("test_") and callable(value):
            case = tmp_path / name
            case.mkdir()
            value(case)
