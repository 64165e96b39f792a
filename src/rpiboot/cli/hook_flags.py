"""The hook flags of the commands that serve boards (docs/records.md, "Hooks"):

    --on-board-done CMD     run CMD when a board ends, whatever the result (repeatable)
    --on-board-passed CMD   ... when it passed
    --on-board-failed CMD   ... when it failed or was interrupted
    --hook-timeout S        end a hook (and its process group) after S seconds (default 60)
    --hook-shell            run the hook commands through the shell (/bin/sh -c, cmd.exe)

:func:`add_hook_flags` adds them to a parser; :func:`hooks_from_args` turns the parsed flags
into checked :class:`~rpiboot.records.hooks.Hook`\\ s, in command-line order, before any
board is served.
"""

from __future__ import annotations

import argparse

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from rpiboot.records.hooks import Hook

DEFAULT_TIMEOUT_S = 60.0  # rpiboot.records.hooks.DEFAULT_TIMEOUT_S (not imported: start-up)

DEST = "board_hooks"  # [(when, command), ...] in command-line order


class _HookAction(argparse.Action):
    """Append ``(when, command)`` to :data:`DEST`, keeping the order of all three flags."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        self.when = option_strings[0].rsplit("-", 1)[1]
        super().__init__(option_strings, DEST, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        hooks = list(getattr(namespace, DEST, None) or [])
        hooks.append((self.when, str(values)))
        setattr(namespace, DEST, hooks)


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: seconds, more than 0")
    return value


def add_hook_flags(parser: argparse.ArgumentParser) -> None:
    """Add the hook flags of the module docstring (as their own help group)."""
    group = parser.add_argument_group(
        "board hooks", "commands run when a board is done: the record as JSON on stdin, "
        "RPIBOOT_RESULT, RPIBOOT_SERIAL, RPIBOOT_MAC ... in the environment; no shell "
        "unless --hook-shell (docs/records.md)")
    parser.set_defaults(**{DEST: []})
    for when, text in (("done", "whatever the result"), ("passed", "when it passed"),
                       ("failed", "when it failed or was interrupted")):
        group.add_argument(f"--on-board-{when}", action=_HookAction, metavar="CMD",
                           help=f"run CMD when a board ends, {text} (repeatable)")
    group.add_argument("--hook-timeout", type=_timeout, default=DEFAULT_TIMEOUT_S,
                       metavar="S", help="end a hook and its processes after S seconds "
                       f"(default {DEFAULT_TIMEOUT_S:g})")
    group.add_argument("--hook-shell", action="store_true",
                       help="run the hook commands through the shell (/bin/sh -c; cmd.exe "
                       "on Windows) instead of as a program and its arguments")


def hooks_from_args(args: argparse.Namespace) -> list[Hook]:
    """The hooks of the parsed flags, in command-line order, checked with
    :func:`~rpiboot.records.hooks.check_hooks` (UsageError naming a missing program)."""
    from rpiboot.records.hooks import Hook, check_hooks

    hooks = [Hook(command, when=when, shell=args.hook_shell, timeout=args.hook_timeout)
             for when, command in getattr(args, DEST, None) or []]
    check_hooks(hooks)
    return hooks
