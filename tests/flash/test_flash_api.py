"""rpiboot.flash's public names (lazy, documented, typed), the default finder, and the
host-tool runner (time limit, bounded output)."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import rpiboot.flash
from rpiboot.flash.disks import LinuxDiskFinder
from rpiboot.flash.finder import default_finder
from rpiboot.flash.hostcmd import run_command

INIT = Path(rpiboot.flash.__file__)


@pytest.mark.parametrize("name", rpiboot.flash.__all__)
def test_every_public_name_resolves_with_a_docstring(name: str) -> None:
    value = getattr(rpiboot.flash, name)
    assert inspect.getdoc(value), name
    if inspect.isfunction(value):
        assert inspect.signature(value).return_annotation is not inspect.Signature.empty


def test_the_type_checking_view_lists_the_same_names() -> None:
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and getattr(node.test, "id", None) == "TYPE_CHECKING")
    seen = {alias.asname or alias.name for node in ast.walk(block)
            if isinstance(node, ast.ImportFrom) and node.module != "typing"
            for alias in node.names}
    assert seen == set(rpiboot.flash.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        rpiboot.flash.nope  # noqa: B018


def test_importing_the_package_imports_nothing_else() -> None:
    code = ("import sys, rpiboot.flash; print(sorted(m for m in sys.modules "
            "if m.startswith('rpiboot')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['rpiboot', 'rpiboot.flash']"


def test_the_default_finder_here_is_sysfs() -> None:
    assert sys.platform.startswith("linux")
    finder = default_finder()
    assert isinstance(finder, LinuxDiskFinder)
    assert finder.sys_root == Path("/sys") and finder.mounts == Path("/proc/self/mountinfo")


def test_run_command_reports_status_and_output() -> None:
    done = run_command([sys.executable, "-c", "import sys; print('out'); "
                        "print('err', file=sys.stderr); sys.exit(3)"])
    assert (done.status, done.stdout, done.stderr) == (3, "out\n", "err\n")


def test_run_command_bounds_time_and_output() -> None:
    long = run_command([sys.executable, "-c", "print('x' * 5000)"], limit=1000)
    assert long.status == -1 and "more than 1000 bytes" in long.stderr and long.stdout == ""
    slow = run_command([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert slow.status == -1 and "did not finish within 0.5 s" in slow.stderr
    missing = run_command(["/nonexistent/tool"])
    assert missing.status == -1 and "cannot run /nonexistent/tool" in missing.stderr
