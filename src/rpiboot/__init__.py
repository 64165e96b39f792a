"""rpiboot: boot Raspberry Pi boards over USB, and the secure-boot toolchain around it.

The public Python API (documented in docs/api.md) is importable from here; each name is
imported on first use, so ``import rpiboot`` (and ``rpiboot --version``) stays fast::

    from rpiboot import boot_one
    board = boot_one("mass-storage-gadget64", port_path="1-1.3", timeout=30)
    print(board.metadata)
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time

__version__ = "0.1.0"

# public name -> the module that defines it (imported lazily by __getattr__)
_EXPORTS: dict[str, str] = {
    # boot engine
    "Server": "rpiboot.engine.server",
    "serve": "rpiboot.boot",
    "boot_one": "rpiboot.boot",
    "BootOptions": "rpiboot.options",
    "BoardResult": "rpiboot.options",
    "ServeResult": "rpiboot.options",
    # events
    "Event": "rpiboot.events",
    "BoardRef": "rpiboot.events",
    "Waiting": "rpiboot.events",
    "BoardAttached": "rpiboot.events",
    "StageStarted": "rpiboot.events",
    "BootcodeSent": "rpiboot.events",
    "TransferProgress": "rpiboot.events",
    "FileServed": "rpiboot.events",
    "NameRefused": "rpiboot.events",
    "MetadataReceived": "rpiboot.events",
    "BoardFinished": "rpiboot.events",
    "BoardFailed": "rpiboot.events",
    "ServeFailed": "rpiboot.events",
    # errors
    "ExitCode": "rpiboot.errors",
    "RpibootError": "rpiboot.errors",
    "UsageError": "rpiboot.errors",
    "InputError": "rpiboot.errors",
    "BootError": "rpiboot.errors",
    "DeviceGone": "rpiboot.errors",
    "TimeoutExpired": "rpiboot.errors",
    "PermissionDenied": "rpiboot.errors",
    "SigningError": "rpiboot.errors",
    "InternalError": "rpiboot.errors",
    "Interrupted": "rpiboot.errors",
    # chips
    "Chip": "rpiboot.chips",
    "CHIPS": "rpiboot.chips",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rpiboot' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # the names above, for type checkers and IDEs (re-exported)
    from typing import Any

    from rpiboot.boot import (
        boot_one as boot_one,
    )
    from rpiboot.boot import (
        serve as serve,
    )
    from rpiboot.chips import (
        CHIPS as CHIPS,
    )
    from rpiboot.chips import (
        Chip as Chip,
    )
    from rpiboot.engine.server import (
        Server as Server,
    )
    from rpiboot.errors import (
        BootError as BootError,
    )
    from rpiboot.errors import (
        DeviceGone as DeviceGone,
    )
    from rpiboot.errors import (
        ExitCode as ExitCode,
    )
    from rpiboot.errors import (
        InputError as InputError,
    )
    from rpiboot.errors import (
        InternalError as InternalError,
    )
    from rpiboot.errors import (
        Interrupted as Interrupted,
    )
    from rpiboot.errors import (
        PermissionDenied as PermissionDenied,
    )
    from rpiboot.errors import (
        RpibootError as RpibootError,
    )
    from rpiboot.errors import (
        SigningError as SigningError,
    )
    from rpiboot.errors import (
        TimeoutExpired as TimeoutExpired,
    )
    from rpiboot.errors import (
        UsageError as UsageError,
    )
    from rpiboot.events import (
        BoardAttached as BoardAttached,
    )
    from rpiboot.events import (
        BoardFailed as BoardFailed,
    )
    from rpiboot.events import (
        BoardFinished as BoardFinished,
    )
    from rpiboot.events import (
        BoardRef as BoardRef,
    )
    from rpiboot.events import (
        BootcodeSent as BootcodeSent,
    )
    from rpiboot.events import (
        Event as Event,
    )
    from rpiboot.events import (
        FileServed as FileServed,
    )
    from rpiboot.events import (
        MetadataReceived as MetadataReceived,
    )
    from rpiboot.events import (
        NameRefused as NameRefused,
    )
    from rpiboot.events import (
        ServeFailed as ServeFailed,
    )
    from rpiboot.events import (
        StageStarted as StageStarted,
    )
    from rpiboot.events import (
        TransferProgress as TransferProgress,
    )
    from rpiboot.events import (
        Waiting as Waiting,
    )
    from rpiboot.options import (
        BoardResult as BoardResult,
    )
    from rpiboot.options import (
        BootOptions as BootOptions,
    )
    from rpiboot.options import (
        ServeResult as ServeResult,
    )
