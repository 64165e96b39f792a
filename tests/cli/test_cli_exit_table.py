"""README's exit-code table is the one the code uses: the same codes, each documented once."""

from __future__ import annotations

import re
from pathlib import Path

from rpiboot.errors import (
    BootError,
    ExitCode,
    InputError,
    InternalError,
    Interrupted,
    PermissionDenied,
    RpibootError,
    SigningError,
    TimeoutExpired,
    UsageError,
)

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_codes() -> dict[int, str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Exit status", 1)[1].split("###", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", section, re.MULTILINE)
    return {int(code): meaning for code, meaning in rows}


def test_the_readme_table_lists_exactly_the_exit_codes() -> None:
    assert sorted(_readme_codes()) == sorted(int(code) for code in ExitCode)


def test_every_error_class_maps_to_a_documented_code() -> None:
    documented = _readme_codes()
    for cls in (RpibootError, UsageError, InputError, BootError, TimeoutExpired,
                PermissionDenied, SigningError, InternalError, Interrupted):
        assert int(cls("x").exit_code) in documented, cls.__name__


def test_the_meanings_match_the_names() -> None:
    documented = _readme_codes()
    assert "bad command line" in documented[ExitCode.USAGE]
    assert "internal error" in documented[ExitCode.INTERNAL]
    assert "timeout" in documented[ExitCode.TIMEOUT]
    assert "permission" in documented[ExitCode.PERMISSION]
    assert "interrupted" in documented[ExitCode.INTERRUPTED]
