"""Prepare a ready-to-serve ``rpiboot -d DIR`` recovery directory.

Flows (the usbboot directory of the same name):

* ``recovery`` / ``recovery5``: flash an (unsigned-config) bootloader on a Pi 4 / Pi 5 family
  board;
* ``secure-boot-recovery`` / ``secure-boot-recovery5``: flash a bootloader whose config is signed
  with the customer key and which embeds the public key (Pi 5: bootcode/bootsys countersigned,
  optionally recovery.bin too); ``program_pubkey`` then locks the board to that key.

The directory is built in a temporary sibling and moved into place only when complete.
Irreversible OTP options (program_pubkey, program_jtag_lock, revoke_devkey) need an explicit
confirmation.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rpiboot.chips import BootcodeSignature, Chip, eeprom_chips, size_text
from rpiboot.errors import InputError, UsageError
from rpiboot.fsutil import atomic_write

if TYPE_CHECKING:
    from rpiboot.signing.signer import Signer


@dataclass(frozen=True)
class Flow:
    """One usbboot recovery folder: the chip it flashes, and whether it signs."""

    chip: Chip
    secure: bool

    @property
    def image_size(self) -> int:
        return self.chip.eeprom_size or 0

    @property
    def second_stage(self) -> str:
        """The name the boot ROM asks for."""
        return self.chip.second_stage

    @property
    def countersigns(self) -> bool:
        """The chip's second stage takes a customer countersignature (RSA-SHA256 block)."""
        return self.chip.bootcode_signature is BootcodeSignature.RSA_SHA256_BLOCK


def _flows() -> dict[str, Flow]:
    """Every chip's recovery folders, from the chip table (plain flows first)."""
    flows: dict[str, Flow] = {}
    for secure in (False, True):
        for chip in eeprom_chips():
            name = chip.secure_recovery_dir if secure else chip.recovery_dir
            if name is not None:
                flows[name] = Flow(chip=chip, secure=secure)
    return flows


FLOWS = _flows()
IRREVERSIBLE = ("program_pubkey", "program_jtag_lock", "revoke_devkey")


@dataclass
class PrepareOptions:
    flow: str
    out_dir: Path
    image: Path
    recovery_bin: Path
    boot_conf: Path
    signer: Signer | None = None  # secure-boot flows: signs the config (and countersigns)
    public_key: Path | None = None  # the key to embed; default: the signer's
    countersign_recovery: bool = False
    program_pubkey: bool = False
    program_jtag_lock: bool = False
    revoke_devkey: bool = False
    recovery_reboot: bool = False
    recovery_metadata: bool | None = None  # None: recovery.bin's default (send metadata)
    uart_2ndstage: bool = False
    eeprom_write_protect: bool = False
    confirmed_irreversible: bool = False
    overwrite: bool = False
    timestamp: int | None = None


@dataclass
class PrepareResult:
    out_dir: Path
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    key_hash: str | None = None


def irreversible_options(opts: PrepareOptions) -> list[str]:
    return [name for name in IRREVERSIBLE if getattr(opts, name)]


def _image_size_hint() -> str:
    """"Pi 4 family: recovery / secure-boot-recovery with a 512 KiB image; ..."."""
    return "; ".join(f"{chip.series} family: {chip.recovery_dir} / {chip.secure_recovery_dir} "
                     f"with a {size_text(chip.eeprom_size or 0)} image"
                     for chip in eeprom_chips()) + "."


def _countersign_flows() -> str:
    """"Pi 5 (secure-boot-recovery5)": the flows that can countersign recovery.bin."""
    return " / ".join(f"{flow.chip.series} ({name})" for name, flow in FLOWS.items()
                      if flow.secure and flow.countersigns)


def _validate(opts: PrepareOptions) -> Flow:
    flow = FLOWS.get(opts.flow)
    if flow is None:
        raise UsageError(f"unknown flow {opts.flow!r}", hint="choose one of " + ", ".join(FLOWS))
    for path, what in ((opts.image, "pieeprom image"), (opts.recovery_bin, "recovery.bin"),
                       (opts.boot_conf, "boot.conf")):
        if not path.is_file():
            raise InputError(f"{path}: {what} not found")
    size = opts.image.stat().st_size
    if size != flow.image_size:
        raise InputError(f"{opts.image}: {size} bytes, but the {opts.flow} flow "
                         f"({flow.chip.family}) needs a {flow.image_size}-byte pieeprom image",
                         hint=_image_size_hint())
    signing = opts.signer is not None
    if flow.secure and not signing:
        raise UsageError(f"the {opts.flow} flow signs the config: pass --key PRIVATE.pem (or "
                         "--hsm-wrapper W --public-key P)")
    if not flow.secure and (signing or opts.countersign_recovery):
        raise UsageError(f"the {opts.flow} flow does not sign anything; use the "
                         f"secure-boot-{opts.flow} flow to sign")
    if opts.countersign_recovery and not flow.countersigns:
        raise UsageError(f"--countersign-recovery is for the {_countersign_flows()} flow")
    wanted = irreversible_options(opts)
    if "program_pubkey" in wanted and not flow.secure:
        raise UsageError("program_pubkey needs a secure-boot flow (the image must embed the "
                         "public key whose hash is programmed)")
    if wanted and not opts.confirmed_irreversible:
        raise UsageError(
            f"{', '.join(wanted)}: would permanently modify the chip's OTP memory",
            hint="Re-run with --i-understand-this-is-irreversible once you are sure.")
    if opts.out_dir.exists() and any(opts.out_dir.iterdir()) and not opts.overwrite:
        raise InputError(f"{opts.out_dir}: directory exists and is not empty",
                         hint="Choose a new directory or pass --force to replace its files.")
    return flow


def config_txt(opts: PrepareOptions) -> str:
    """The config.txt recovery.bin reads."""
    lines = ["# Written by rpiboot recovery prepare", f"# flow: {opts.flow}"]
    if opts.uart_2ndstage:
        lines.append("uart_2ndstage=1")
    if opts.eeprom_write_protect:
        lines.append("eeprom_write_protect=1")
    if opts.program_pubkey:
        lines += ["# IRREVERSIBLE: locks the board to the public key in pieeprom.bin",
                  "program_pubkey=1"]
    if opts.revoke_devkey:
        lines += ["# IRREVERSIBLE: revokes the Raspberry Pi development key", "revoke_devkey=1"]
    if opts.program_jtag_lock:
        lines += ["# IRREVERSIBLE: permanently disables VideoCore JTAG", "program_jtag_lock=1"]
    if opts.recovery_reboot:
        lines.append("recovery_reboot=1")
    if opts.recovery_metadata is not None:
        lines.append(f"recovery_metadata={int(opts.recovery_metadata)}")
    return "\n".join(lines) + "\n"


def _build(opts: PrepareOptions, flow: Flow, work: Path,
           log: Callable[[str], None]) -> PrepareResult:
    from rpiboot.eeprom.image import EepromImage
    from rpiboot.eeprom.info import describe
    from rpiboot.recovery.update import UpdateOptions, update_pieeprom

    shutil.copyfile(opts.image, work / "pieeprom.original.bin")
    shutil.copyfile(opts.boot_conf, work / "boot.conf")
    shutil.copyfile(opts.recovery_bin, work / "recovery.original.bin")
    update = UpdateOptions(
        config=work / "boot.conf", source=work / "pieeprom.original.bin",
        output=work / "pieeprom.bin", recovery=work / "recovery.original.bin",
        signer=opts.signer, public_key=opts.public_key,
        sign_firmware=flow.secure and flow.countersigns,
        sign_recovery=opts.countersign_recovery, timestamp=opts.timestamp)
    update_pieeprom(update, log=log)
    if not (work / flow.second_stage).exists():
        shutil.copyfile(opts.recovery_bin, work / flow.second_stage)
    atomic_write(work / "config.txt", config_txt(opts).encode())
    result = PrepareResult(opts.out_dir, sorted(p.name for p in work.iterdir()))
    info = describe(EepromImage.load(work / "pieeprom.bin"))
    if flow.secure:
        if info.config_signature != "valid":
            raise InputError(f"internal check failed: the config signature of the new image is "
                             f"{info.config_signature} ({info.config_signature_detail})")
        result.key_hash = info.pubkey_hash
    for name in irreversible_options(opts):
        result.warnings.append(f"{name}=1 is set: booting a board with this directory changes "
                               "its OTP PERMANENTLY")
    if opts.program_pubkey:
        result.warnings.append(f"the board will be locked to key hash {result.key_hash}: only "
                               "code signed with the matching private key will boot")
    return result


def _move_into_place(work: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.replace(work, out_dir)
        return
    for path in work.iterdir():
        os.replace(path, out_dir / path.name)
    work.rmdir()


def prepare_recovery_dir(opts: PrepareOptions, *,
                         log: Callable[[str], None] | None = None) -> PrepareResult:
    """Build the directory; raise RpibootError (leaving ``out_dir`` untouched) on failure."""
    flow = _validate(opts)
    parent = opts.out_dir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{opts.out_dir.name}.", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    work.chmod(0o777 & ~umask)
    say = log or (lambda _line: None)
    try:
        result = _build(opts, flow, work,
                        lambda line: say(line.replace(str(work), str(opts.out_dir))))
        _move_into_place(work, opts.out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result
