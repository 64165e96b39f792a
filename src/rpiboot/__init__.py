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


# public name -> "module" or "module:attribute" that defines it (imported by __getattr__)
_EXPORTS: dict[str, str] = {
    "__version__": "rpiboot.version",
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
    # secure-boot toolchain: EEPROM images
    "EepromImage": "rpiboot.eeprom.image",
    "describe_eeprom": "rpiboot.eeprom.info:describe",
    # signing: signers, .sig files, keys, bootcode countersigning
    "Signer": "rpiboot.signing.signer",
    "Payload": "rpiboot.signing.signer",
    "PrivateKeySigner": "rpiboot.signing.signer",
    "ExternalSignature": "rpiboot.signing.signer",
    "HsmWrapperSigner": "rpiboot.signing.hsm",
    "signer_from_options": "rpiboot.signing.factory",
    "make_sig": "rpiboot.signing.sigfile",
    "write_sig": "rpiboot.signing.sigfile",
    "read_sig": "rpiboot.signing.sigfile",
    "verify_sig": "rpiboot.signing.sigfile",
    "load_private_key": "rpiboot.signing.keys",
    "load_public_key": "rpiboot.signing.keys",
    "generate_private_key": "rpiboot.signing.keys",
    "public_key_to_bin": "rpiboot.signing.keys",
    "key_hash": "rpiboot.signing.keys",
    "sign_2712": "rpiboot.signing.bootcode",
    "parse_2712_blocks": "rpiboot.signing.bootcode",
    # boot.img FAT ramdisks
    "ImageOptions": "rpiboot.bootimg.layout",
    "build_boot_image": "rpiboot.bootimg.writer:build_image",
    "FatImage": "rpiboot.bootimg.reader",
    "boot_image_info": "rpiboot.bootimg.inspect:image_info",
    "extract_boot_image": "rpiboot.bootimg.inspect:extract",
    "sign_boot_image": "rpiboot.bootimg.signed:sign_existing",
    # recovery directories
    "PrepareOptions": "rpiboot.recovery.prepare",
    "prepare_recovery_dir": "rpiboot.recovery.prepare",
    "UpdateOptions": "rpiboot.recovery.update",
    "update_pieeprom": "rpiboot.recovery.update",
    # rpiboot flash: boot, write and verify an OS image on many boards at once
    "Flasher": "rpiboot.flash.station",
    "FlashReport": "rpiboot.flash.station",
    "FlashOptions": "rpiboot.flash.flow",
    "FlashResult": "rpiboot.flash.flow",
    # provisioning records: one per board and operation, hooks when a board is done
    "Recorder": "rpiboot.records.recorder",
    "BoardRecord": "rpiboot.records.model",
    "RecordFilter": "rpiboot.records.store",
    "Store": "rpiboot.records.store",
    "open_store": "rpiboot.records.store",
    "Hook": "rpiboot.records.hooks",
    "run_hooks": "rpiboot.records.hooks",
    # the simulator is its own package: rpiboot.sim (simulate, VirtualBus, ...)
}

__all__ = [*_EXPORTS]


def __getattr__(name: str) -> Any:
    where = _EXPORTS.get(name)
    if where is None:
        raise AttributeError(f"module 'rpiboot' has no attribute {name!r}")
    module, _, attribute = where.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
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
    from rpiboot.bootimg.inspect import (
        extract as extract_boot_image,  # noqa: F401 - re-exported under this name
    )
    from rpiboot.bootimg.inspect import (
        image_info as boot_image_info,  # noqa: F401 - re-exported under this name
    )
    from rpiboot.bootimg.layout import (
        ImageOptions as ImageOptions,
    )
    from rpiboot.bootimg.reader import (
        FatImage as FatImage,
    )
    from rpiboot.bootimg.signed import (
        sign_existing as sign_boot_image,  # noqa: F401 - re-exported under this name
    )
    from rpiboot.bootimg.writer import (
        build_image as build_boot_image,  # noqa: F401 - re-exported under this name
    )
    from rpiboot.chips import (
        CHIPS as CHIPS,
    )
    from rpiboot.chips import (
        Chip as Chip,
    )
    from rpiboot.eeprom.image import (
        EepromImage as EepromImage,
    )
    from rpiboot.eeprom.info import (
        describe as describe_eeprom,  # noqa: F401 - re-exported under this name
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
    from rpiboot.flash.flow import (
        FlashOptions as FlashOptions,
    )
    from rpiboot.flash.flow import (
        FlashResult as FlashResult,
    )
    from rpiboot.flash.station import (
        Flasher as Flasher,
    )
    from rpiboot.flash.station import (
        FlashReport as FlashReport,
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
    from rpiboot.records.hooks import Hook as Hook
    from rpiboot.records.hooks import run_hooks as run_hooks
    from rpiboot.records.model import BoardRecord as BoardRecord
    from rpiboot.records.recorder import Recorder as Recorder
    from rpiboot.records.store import RecordFilter as RecordFilter
    from rpiboot.records.store import Store as Store
    from rpiboot.records.store import open_store as open_store
    from rpiboot.recovery.prepare import (
        PrepareOptions as PrepareOptions,
    )
    from rpiboot.recovery.prepare import (
        prepare_recovery_dir as prepare_recovery_dir,
    )
    from rpiboot.recovery.update import (
        UpdateOptions as UpdateOptions,
    )
    from rpiboot.recovery.update import (
        update_pieeprom as update_pieeprom,
    )
    from rpiboot.signing.bootcode import (
        parse_2712_blocks as parse_2712_blocks,
    )
    from rpiboot.signing.bootcode import (
        sign_2712 as sign_2712,
    )
    from rpiboot.signing.factory import (
        signer_from_options as signer_from_options,
    )
    from rpiboot.signing.hsm import (
        HsmWrapperSigner as HsmWrapperSigner,
    )
    from rpiboot.signing.keys import (
        generate_private_key as generate_private_key,
    )
    from rpiboot.signing.keys import (
        key_hash as key_hash,
    )
    from rpiboot.signing.keys import (
        load_private_key as load_private_key,
    )
    from rpiboot.signing.keys import (
        load_public_key as load_public_key,
    )
    from rpiboot.signing.keys import (
        public_key_to_bin as public_key_to_bin,
    )
    from rpiboot.signing.sigfile import (
        make_sig as make_sig,
    )
    from rpiboot.signing.sigfile import (
        read_sig as read_sig,
    )
    from rpiboot.signing.sigfile import (
        verify_sig as verify_sig,
    )
    from rpiboot.signing.sigfile import (
        write_sig as write_sig,
    )
    from rpiboot.signing.signer import (
        ExternalSignature as ExternalSignature,
    )
    from rpiboot.signing.signer import (
        Payload as Payload,
    )
    from rpiboot.signing.signer import (
        PrivateKeySigner as PrivateKeySigner,
    )
    from rpiboot.signing.signer import (
        Signer as Signer,
    )
    from rpiboot.version import __version__ as __version__
