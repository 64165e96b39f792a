"""The shape of ``src/rpiboot``: layers, no import cycles, small modules and functions.

Read with an AST walk (nothing is imported), counting every import: module level, under
``if TYPE_CHECKING:``, and inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from import_graph import find_cycles, import_graph

SRC = Path(__file__).resolve().parents[2] / "src"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# layer -> project packages/modules it must never import (directly, anywhere in the file)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # transport: depends on nothing above it
    "rpiboot.usb": ("rpiboot.protocol", "rpiboot.engine", "rpiboot.boot", "rpiboot.options",
                    "rpiboot.sources", "rpiboot.metadata", "rpiboot.firmware", "rpiboot.cli",
                    "rpiboot.sim", "rpiboot.events"),
    # pure pack/parse and the stages over an injected link
    "rpiboot.protocol": ("rpiboot.usb", "rpiboot.engine", "rpiboot.boot", "rpiboot.options",
                         "rpiboot.metadata", "rpiboot.firmware", "rpiboot.cli", "rpiboot.sim"),
    # the orchestration never reaches up into the CLI or the simulator
    "rpiboot.engine": ("rpiboot.cli", "rpiboot.sim", "rpiboot.boot"),
    "rpiboot.options": ("rpiboot.engine", "rpiboot.cli", "rpiboot.sim", "rpiboot.boot"),
    # the secure-boot toolchain is pure functions on bytes and paths
    "rpiboot.eeprom": ("rpiboot.usb", "rpiboot.protocol", "rpiboot.engine", "rpiboot.cli",
                       "rpiboot.sim"),
    "rpiboot.signing": ("rpiboot.usb", "rpiboot.protocol", "rpiboot.engine", "rpiboot.cli",
                        "rpiboot.sim"),
    "rpiboot.bootimg": ("rpiboot.usb", "rpiboot.protocol", "rpiboot.engine", "rpiboot.cli",
                        "rpiboot.sim"),
    "rpiboot.recovery": ("rpiboot.usb", "rpiboot.protocol", "rpiboot.engine", "rpiboot.cli",
                         "rpiboot.sim"),
    # the firmware store: a library of its own (no boot engine, no CLI, no simulator)
    "rpiboot.fwstore": ("rpiboot.usb", "rpiboot.protocol", "rpiboot.engine", "rpiboot.cli",
                        "rpiboot.sim", "rpiboot.boot", "rpiboot.sources"),
    # rpiboot flash: boots through the engine, finds and writes disks; no CLI, no simulator
    "rpiboot.flash": ("rpiboot.cli", "rpiboot.sim"),
    # provisioning records: a library over the events (no engine, flash, CLI or simulator)
    "rpiboot.records": ("rpiboot.usb", "rpiboot.protocol", "rpiboot.engine", "rpiboot.flash",
                        "rpiboot.cli", "rpiboot.sim", "rpiboot.boot"),
    # the simulator models a board: it shares no host code but the message framing
    "rpiboot.sim": ("rpiboot.engine", "rpiboot.cli", "rpiboot.sources", "rpiboot.firmware",
                    "rpiboot.boot"),
}


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(SRC)


def test_the_graph_sees_the_package(graph: dict[str, set[str]]) -> None:
    assert "rpiboot.engine.session" in graph
    assert "rpiboot.protocol.fileserver" in graph["rpiboot.engine.session"]


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    assert find_cycles(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_only_import_below_them(graph: dict[str, set[str]], layer: str) -> None:
    wrong = sorted(f"{module} imports {dep}" for module, deps in graph.items()
                   if _within(module, layer) for dep in deps
                   for banned in FORBIDDEN[layer] if _within(dep, banned))
    assert wrong == []


def _sources() -> list[Path]:
    return sorted((SRC / "rpiboot").rglob("*.py"))


def test_no_module_over_the_limit() -> None:
    long = {str(p.relative_to(SRC)): n for p in _sources()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_no_function_over_the_limit() -> None:
    long: dict[str, int] = {}
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(SRC)}:{node.name}"] = lines
    assert long == {}
