"""``rpiboot.fwinfo`` is a library of pure functions on files: it never reaches up into the
command line, the boot engine, USB, the protocol or the simulator (read with the AST walk of
``import_graph``, every import counted wherever it stands)."""

from __future__ import annotations

from pathlib import Path

from import_graph import import_graph

SRC = Path(__file__).resolve().parents[2] / "src"
FORBIDDEN = ("rpiboot.cli", "rpiboot.engine", "rpiboot.usb", "rpiboot.protocol", "rpiboot.sim",
             "rpiboot.boot", "rpiboot.sources", "rpiboot.firmware")


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_fwinfo_imports_only_the_toolchain_below_it() -> None:
    graph = import_graph(SRC)
    assert any(_within(module, "rpiboot.fwinfo") for module in graph)
    wrong = sorted(f"{module} imports {dep}" for module, deps in graph.items()
                   if _within(module, "rpiboot.fwinfo") for dep in deps
                   if any(_within(dep, banned) for banned in FORBIDDEN))
    assert wrong == []


def test_the_command_module_is_the_only_cli_user_of_it() -> None:
    graph = import_graph(SRC)
    users = sorted(module for module, deps in graph.items()
                   if any(_within(dep, "rpiboot.fwinfo") for dep in deps)
                   and not _within(module, "rpiboot.fwinfo"))
    assert users == ["rpiboot.cli.fwinfo_cmd", "rpiboot.cli.fwinfo_render"]
