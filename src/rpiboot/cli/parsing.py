"""The argument parser every rpiboot command uses: errors become UsageError (exit 2)."""

from __future__ import annotations

import argparse

from rpiboot.errors import UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any, NoReturn


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` with a hint instead of exiting by itself,
    so every command reports bad usage through ``run_command`` (message + exit 2)."""

    def __init__(self, *args: Any, usage_hint: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.usage_hint = usage_hint

    def error(self, message: str) -> NoReturn:
        hint = self.usage_hint or f"Run '{self.prog} -h' for the list of options."
        raise UsageError(message, hint=hint)
