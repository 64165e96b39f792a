"""One contract for every command (:mod:`rpiboot.cli.command`).

Every ``rpiboot`` subcommand and every stand-alone drop-in tool defines ``HELP``,
``build_parser(prog)`` (errors raise UsageError) and ``run(args)``; whatever happens in any
of them becomes an exit status in one place, ``run_command``.
"""

from __future__ import annotations

import argparse
import importlib
from importlib.metadata import distribution
from pathlib import Path
from types import SimpleNamespace

import pytest

import rpiboot.cli
from rpiboot.cli.command import invoke, run_command
from rpiboot.cli.main import SUBCOMMANDS
from rpiboot.cli.main import main as rpiboot_main
from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import ExitCode, UsageError


def _console_scripts() -> dict[str, str]:
    """Drop-in tool -> its module, from the installed entry points (``rpiboot`` aside)."""
    scripts = {}
    for entry in distribution("rpiboot").entry_points:
        if entry.group == "console_scripts" and entry.name != "rpiboot":
            module, _, attr = entry.value.partition(":")
            assert attr == "main", entry
            scripts[entry.name] = module
    return scripts


CONSOLE_SCRIPTS = _console_scripts()
SUBCOMMAND_PROGS = {("rpiboot" if name == "boot" else f"rpiboot {name}"): module
                    for name, (module, _) in SUBCOMMANDS.items()}
COMMANDS = {**SUBCOMMAND_PROGS, **CONSOLE_SCRIPTS}  # prog -> module

# A command line each command's real parser accepts (what run then gets is never used).
VALID_ARGV: dict[str, list[str]] = {
    "rpiboot": [],
    "rpiboot simulate": ["cm4"],
    "rpiboot eeprom": ["info", "pieeprom.bin"],
    "rpiboot sign": ["verify", "boot.img"],
    "rpiboot keys": ["hash", "key.pem"],
    "rpiboot recovery": ["update-pieeprom"],
    "rpiboot bootimg": ["info", "boot.img"],
    "rpiboot doctor": ["--json"],
    "rpiboot udev": ["install", "--dry-run"],
    "rpiboot firmware": ["list"],
    "rpiboot flash": ["image.img", "--target", "1"],
    "rpiboot records": ["list"],
    "rpi-eeprom-config": ["pieeprom.bin"],
    "rpi-eeprom-digest": ["-i", "boot.img", "-o", "boot.sig"],
    "rpi-sign-bootcode": ["-c", "2712"],
    "rpi-bootloader-key-convert": ["key.pem"],
    "update-pieeprom": [],
    "rpi-make-boot-image": ["-d", "bootfs", "-o", "boot.img"],
}


def _argv_for(prog: str, argv: list[str]) -> list[str]:
    """``rpiboot`` arguments that run the subcommand ``prog`` with ``argv``."""
    return prog.split()[1:] + argv


def _fake_command(run: object, *, parser_of: str | None = None) -> SimpleNamespace:
    """A tiny command module: ``run`` as given, the parser of ``parser_of`` (or an empty one)."""
    build_parser = (importlib.import_module(parser_of).build_parser if parser_of
                    else lambda prog: ArgumentParser(prog=prog))
    return SimpleNamespace(HELP="a fake command", build_parser=build_parser, run=run)


def _explode(args: argparse.Namespace) -> int:
    raise ZeroDivisionError("boom")


def test_every_drop_in_module_is_a_console_script() -> None:
    folder = Path(rpiboot.cli.__file__).parent
    assert set(CONSOLE_SCRIPTS.values()) == {f"rpiboot.cli.{path.stem}"
                                             for path in folder.glob("compat_*.py")}
    assert set(VALID_ARGV) == set(COMMANDS)


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_the_registry_help_is_the_modules_help(name: str) -> None:
    module, listed = SUBCOMMANDS[name]
    assert listed == importlib.import_module(module).HELP


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_command_module_follows_the_contract(prog: str) -> None:
    module = importlib.import_module(COMMANDS[prog])
    assert isinstance(module.HELP, str) and module.HELP and "\n" not in module.HELP
    assert callable(module.run)
    parser = module.build_parser(prog)
    assert isinstance(parser, ArgumentParser) and parser.prog == prog
    with pytest.raises(UsageError):
        parser.parse_args(["--no-such-option"])
    assert isinstance(parser.parse_args(VALID_ARGV[prog]), argparse.Namespace)
    if prog in CONSOLE_SCRIPTS:
        assert prog == module.PROG and callable(module.main)


def test_rpiboot_help_lists_every_subcommand_with_its_help(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert rpiboot_main(["-h"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name, (module, _) in SUBCOMMANDS.items():
        help_text = importlib.import_module(module).HELP
        assert any(line.split()[:1] == [name] and line.endswith(f"  {help_text}")
                   for line in lines), name


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_a_usage_error_exits_2_in_every_command(prog: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    if prog in CONSOLE_SCRIPTS:
        status = importlib.import_module(COMMANDS[prog]).main(["--no-such-option"])
    else:
        status = rpiboot_main(_argv_for(prog, ["--no-such-option"]))
    assert status == ExitCode.USAGE == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{prog}: error: ") and "internal error" not in err


def test_a_usage_error_raised_by_run_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(args: argparse.Namespace) -> int:
        raise UsageError("that makes no sense", hint="Try something else.")

    command = _fake_command(refuse)
    assert run_command("fake", lambda argv: invoke(command, "fake", argv), []) == 2
    assert capsys.readouterr().err == "fake: error: that makes no sense\n  Try something else.\n"


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_an_unexpected_exception_exits_3_in_every_command(
        prog: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RPIBOOT_DEBUG", raising=False)
    command = _fake_command(_explode, parser_of=COMMANDS[prog])
    status = run_command(prog, lambda argv: invoke(command, prog, argv), VALID_ARGV[prog])
    assert status == ExitCode.INTERNAL == 3
    err = capsys.readouterr().err
    assert err.startswith(f"{prog}: internal error: ZeroDivisionError: boom\n")
    assert "RPIBOOT_DEBUG=1" in err and "Traceback" not in err


def test_rpiboot_debug_shows_the_traceback_of_a_bug(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RPIBOOT_DEBUG", "1")
    command = _fake_command(_explode)
    assert run_command("fake", lambda argv: invoke(command, "fake", argv), []) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError: boom" in err


def test_ctrl_c_in_a_command_exits_130(capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    command = _fake_command(interrupted)
    assert run_command("fake", lambda argv: invoke(command, "fake", argv), []) == 130
    assert capsys.readouterr().err == "fake: interrupted\n"


def test_run_gets_the_parsed_arguments_and_its_status_is_the_exit_status() -> None:
    seen: list[argparse.Namespace] = []

    def build_parser(prog: str) -> argparse.ArgumentParser:
        parser = ArgumentParser(prog=prog)
        parser.add_argument("--count", type=int)
        return parser

    def record(args: argparse.Namespace) -> int:
        seen.append(args)
        return 4

    command = SimpleNamespace(HELP="records", build_parser=build_parser, run=record)
    assert run_command("fake", lambda argv: invoke(command, "fake", argv), ["--count", "7"]) == 4
    assert [args.count for args in seen] == [7]
