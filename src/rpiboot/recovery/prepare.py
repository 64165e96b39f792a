"""Prepare a ready-to-serve ``rpiboot -d DIR`` recovery directory.

Flows (the usbboot directory of the same name):

* ``recovery`` / ``recovery5``: flash an (unsigned-config) bootloader on a Pi 4 / Pi 5 family
  board;
* ``secure-boot-recovery`` / ``secure-boot-recovery5``: flash a bootloader whose config is signed
  with the customer key and which embeds the public key (Pi 5: bootcode/bootsys countersigned,
  optionally recovery.bin too); ``program_pubkey`` then locks the board to that key.

Every input is checked before anything is signed or written (the update-pieeprom preflight:
image, recovery.bin, keys, OTP options, the board's metadata; see
:mod:`rpiboot.recovery.update`).  Irreversible OTP options need an explicit confirmation.
The files are built in memory; a new directory is written in a temporary sibling and renamed
into place, an existing one (``overwrite``) gets all its files replaced together.
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
from rpiboot.recovery.preflight import OTP_OPTIONS

if TYPE_CHECKING:
    from rpiboot.recovery.board import BoardState
    from rpiboot.recovery.update import UpdateOptions, UpdatePlan
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
IRREVERSIBLE = OTP_OPTIONS


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
    program_rpiboot_gpio: int | None = None  # Pi 4B / Pi 400: the GPIO that forces RPIBOOT
    recovery_reboot: bool = False
    recovery_metadata: bool | None = None  # None: recovery.bin's default (send metadata)
    uart_2ndstage: bool = False
    eeprom_write_protect: bool = False
    confirmed_irreversible: bool = False
    overwrite: bool = False  # write into a non-empty out_dir (its files are replaced)
    timestamp: int | None = None
    force: bool = False  # use a bootloader whose Raspberry Pi signature does not verify
    board: BoardState | None = None  # what the board reported (rpiboot -j metadata)
    expect_key_hash: str | None = None  # the key hash the image must embed


@dataclass
class PrepareResult:
    out_dir: Path
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    key_hash: str | None = None
    overrides: list[str] = field(default_factory=list)  # refusals force overrode


def irreversible_options(opts: PrepareOptions) -> list[str]:
    """The OTP options ``opts`` sets (program_rpiboot_gpio counts when a GPIO is given)."""
    return [name for name in IRREVERSIBLE if getattr(opts, name) not in (None, False)]


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
            raise InputError(f"{path}: {what} " + ("is not a file" if path.exists()
                                                   else "not found"),
                             hint="Check the path.")
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
    _validate_otp(opts, flow)
    _validate_out_dir(opts.out_dir, overwrite=opts.overwrite)
    return flow


def _validate_otp(opts: PrepareOptions, flow: Flow) -> None:
    wanted = irreversible_options(opts)
    if "program_pubkey" in wanted and not flow.secure:
        raise UsageError("program_pubkey needs a secure-boot flow (the image must embed the "
                         "public key whose hash is programmed)")
    gpio = opts.program_rpiboot_gpio
    if gpio is not None and gpio not in flow.chip.rpiboot_gpios:
        choices = ", ".join(map(str, flow.chip.rpiboot_gpios))
        raise UsageError(f"program_rpiboot_gpio={gpio}: "
                         + (f"{flow.chip.family} accepts GPIO {choices}" if choices else
                            f"the option does not exist on {flow.chip.family} boards"),
                         hint="Only Pi 4B / Pi 400 (no nRPIBOOT jumper) need it.")
    if wanted and not opts.confirmed_irreversible:
        raise UsageError(
            f"{', '.join(wanted)}: would permanently modify the chip's OTP memory",
            hint="Re-run with --i-understand-this-is-irreversible once you are sure.")


def _validate_out_dir(out_dir: Path, *, overwrite: bool) -> None:
    """Read-only checks of the output directory (nothing is created here)."""
    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise InputError(f"{out_dir} is a file, not a directory",
                             hint="Name a new directory for the recovery files.")
        if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
            raise InputError(f"{out_dir}: directory exists and is not empty",
                             hint="Choose a new directory, or pass --overwrite (overwrite=True) "
                             "to replace its files.")
    except OSError as exc:
        from rpiboot.fsutil import path_error

        raise path_error(out_dir, exc, doing="read the output directory") from None


def _check_out_dir(out_dir: Path) -> None:
    """After every input check: the directory (or, for a new one, its parent) is writable."""
    from rpiboot.fsutil import check_output_dir

    if out_dir.is_dir():
        check_output_dir(out_dir, what="output directory", create=False)
    else:
        check_output_dir(out_dir.absolute().parent, what="parent of the output directory")


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
    if opts.program_rpiboot_gpio is not None:
        lines += [f"# IRREVERSIBLE: RPIBOOT when GPIO {opts.program_rpiboot_gpio} is pulled low",
                  f"program_rpiboot_gpio={opts.program_rpiboot_gpio}"]
    if opts.recovery_reboot:
        lines.append("recovery_reboot=1")
    if opts.recovery_metadata is not None:
        lines.append(f"recovery_metadata={int(opts.recovery_metadata)}")
    return "\n".join(lines) + "\n"


def _update_options(opts: PrepareOptions, flow: Flow) -> UpdateOptions:
    from rpiboot.recovery.update import UpdateOptions

    return UpdateOptions(
        config=opts.boot_conf, source=opts.image, output=opts.out_dir / "pieeprom.bin",
        recovery=opts.recovery_bin, signer=opts.signer, public_key=opts.public_key,
        sign_firmware=flow.secure and flow.countersigns,
        sign_recovery=opts.countersign_recovery, timestamp=opts.timestamp,
        write_second_stage=True, force=opts.force, board=opts.board,
        expect_key_hash=opts.expect_key_hash, otp_options=irreversible_options(opts))


def _directory_files(opts: PrepareOptions, plan: UpdatePlan) -> dict[str, bytes]:
    """Every file of the directory, by name: the inputs (as usbboot's directories hold them),
    the update-pieeprom outputs and config.txt."""
    files = {"pieeprom.original.bin": plan.inputs.source, "boot.conf": plan.inputs.config,
             "recovery.original.bin": plan.inputs.recovery or b""}
    files.update({path.name: data for path, data in plan.files.items()})
    files["config.txt"] = config_txt(opts).encode()
    return files


def _warnings(opts: PrepareOptions, key_hash: str | None) -> list[str]:
    values = {"program_rpiboot_gpio": opts.program_rpiboot_gpio}
    warnings = [f"{name}={values.get(name, 1)} is set: booting a board with this directory "
                "changes its OTP PERMANENTLY" for name in irreversible_options(opts)]
    if opts.program_pubkey:
        warnings.append(f"the board will be locked to key hash {key_hash}: only code signed "
                        "with the matching private key will boot")
    return warnings


def _commit(files: dict[str, bytes], out_dir: Path) -> None:
    """An existing directory: its files replaced together; a new one: written in a temporary
    sibling, then renamed into place."""
    from rpiboot.fsutil import path_error
    from rpiboot.recovery.update import write_files

    if out_dir.is_dir():
        write_files({out_dir / name: data for name, data in files.items()})
        return
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.absolute().parent))
    except OSError as exc:
        raise path_error(out_dir, exc) from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        work.chmod(0o777 & ~umask)
        for name, data in files.items():
            with open(work / name, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(work, out_dir)
    except OSError as exc:
        raise path_error(out_dir, exc) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def prepare_recovery_dir(opts: PrepareOptions, *, log: Callable[[str], None] | None = None,
                         on_overrides: Callable[[list[str]], None] | None = None
                         ) -> PrepareResult:
    """Check everything, build the directory in memory, then write it; raise RpibootError
    (leaving ``out_dir`` untouched) on failure.  ``on_overrides``: see
    :func:`rpiboot.recovery.update.plan_update`."""
    from rpiboot.recovery.update import plan_update

    flow = _validate(opts)
    plan = plan_update(_update_options(opts, flow), log=log, on_overrides=on_overrides,
                       check_output_paths=lambda _paths: _check_out_dir(opts.out_dir))
    files = _directory_files(opts, plan)
    _commit(files, opts.out_dir)
    key_hash = plan.result.key_hash if flow.secure else None
    return PrepareResult(opts.out_dir, sorted(files), _warnings(opts, key_hash), key_hash,
                         plan.result.overrides)
