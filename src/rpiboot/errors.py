"""One root exception and the one exit-code table of every rpiboot command.

Library code raises subclasses of :class:`RpibootError`; only the CLI turns them into a
message on stderr and an exit status.  Each error carries a ``hint``: what the user should
do next.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit statuses of ``rpiboot`` (documented in README.md, never negative)."""

    OK = 0
    FAILED = 1  # a boot failed, or an operation on an input file failed
    USAGE = 2  # bad command line
    INTERNAL = 3  # a bug in rpiboot: please report it
    TIMEOUT = 4  # no board appeared, or a stage timed out
    PERMISSION = 5  # no permission to open the USB device / a file
    INTERRUPTED = 130  # Ctrl-C / SIGTERM


class RpibootError(Exception):
    """Base of every error rpiboot reports to a user."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(RpibootError):
    """The command line or an option value is wrong."""

    exit_code = ExitCode.USAGE


class InputError(RpibootError):
    """An input file (image, key, config, directory) is missing or malformed."""


class BootError(RpibootError):
    """A board's boot failed (ROM rejected bootcode, protocol error, disconnect)."""


class DeviceGone(BootError):
    """The board disconnected in the middle of a transfer."""


class TimeoutExpired(RpibootError):
    """No board appeared, or a stage did not finish, within the allowed time."""

    exit_code = ExitCode.TIMEOUT


class PermissionDenied(RpibootError):
    """The OS refused access to a USB device or a file."""

    exit_code = ExitCode.PERMISSION


class SigningError(RpibootError):
    """Signing or verifying failed (bad key, failing HSM wrapper, bad signature)."""


class InternalError(RpibootError):
    """A bug in rpiboot (an unexpected exception), reported instead of a traceback."""

    exit_code = ExitCode.INTERNAL


class Interrupted(RpibootError):
    """The user interrupted the run."""

    exit_code = ExitCode.INTERRUPTED
