"""The Python example of docs/doctor.md runs as written, and the documented rule is the one
`rpiboot udev install` writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rpiboot.udev.install import rule_text

DOC = Path(__file__).resolve().parents[2] / "docs" / "doctor.md"


def test_the_python_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    (code,) = re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"),
                         re.MULTILINE | re.DOTALL)
    scope: dict[str, object] = {}
    exec(compile(code, f"{DOC}:python", "exec"), scope)
    report = scope["report"]
    assert capsys.readouterr().out.count("\n    fix: ") == len(report.problems)  # type: ignore[attr-defined]


def test_the_documented_rule_is_the_installed_one() -> None:
    text = DOC.read_text(encoding="utf-8")
    for line in rule_text().splitlines():
        if not line.startswith("#"):
            assert line in text
