"""The update-pieeprom flow: build ``pieeprom.bin`` + ``pieeprom.sig`` for a recovery directory.

0. preflight: every input is read and checked first — the image and recovery.bin against the
   chip and their Raspberry Pi signatures (:mod:`rpiboot.recovery.preflight`), the key to embed
   against the signing key, the OTP options (flags, or the ``config.txt`` beside the output),
   the board's metadata (:mod:`rpiboot.recovery.board`) — then the output paths.  Nothing is
   signed, countersigned or written before all of it passed;
1. optional (``sign_firmware``): countersign the 2712 ``bootcode.bin`` (and ``bootsys``) of the
   source image into ``pieeprom.signed_boot.bin`` and make ``bootcode5.bin`` (recovery.bin,
   countersigned with ``sign_recovery``, else an unsigned copy);
2. optional (a signer: key, HSM wrapper): sign ``boot.conf``;
3. store the config (+ ``bootconf.sig`` + ``pubkey.bin``) into the image → ``pieeprom.bin``;
4. the plain ``pieeprom.sig`` (sha256 + ts) of the result;
5. check what was built (the config signature with the embedded key, the countersignatures,
   the key hash recovery.bin would program), then write every file together
   (:func:`rpiboot.fsutil.atomic_files`): all of them land, or none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rpiboot.chips import BootcodeSignature, Chip, chip_for_bootcode_signature
from rpiboot.errors import InputError, PermissionDenied, RpibootError, UsageError
from rpiboot.recovery.preflight import MIN_SECURE_BOOT_TIMESTAMP, check_secure_boot_support

__all__ = ["MIN_SECURE_BOOT_TIMESTAMP", "UpdateOptions", "UpdatePlan", "UpdateResult",
           "check_outputs", "check_secure_boot_support", "countersign_chip", "output_paths",
           "plan_update", "read_input", "sig_path_for", "update_pieeprom", "write_files"]

if TYPE_CHECKING:
    from rpiboot.eeprom.image import EepromImage
    from rpiboot.recovery.board import BoardState
    from rpiboot.recovery.preflight import Preflight
    from rpiboot.signing.signer import Signer

CUSTOMER_KEYNUM = 16
MAX_INPUT_SIZE = 16 * 1024 * 1024  # far above any EEPROM image, config or second stage
SIGNED_BOOT = "pieeprom.signed_boot.bin"


def countersign_chip() -> Chip:
    """The chip whose firmware ``-f`` countersigns (RSA-SHA256 signature blocks)."""
    chip = chip_for_bootcode_signature(BootcodeSignature.RSA_SHA256_BLOCK)
    assert chip is not None, "the chip table names one chip with RSA-SHA256 bootcode blocks"
    return chip


@dataclass
class UpdateOptions:
    """Inputs of :func:`update_pieeprom` (defaults = the reference script's file names)."""

    config: Path = Path("boot.conf")
    source: Path = Path("pieeprom.original.bin")
    output: Path = Path("pieeprom.bin")
    recovery: Path = Path("recovery.original.bin")
    signer: Signer | None = None  # signs the config (and -f firmware); None: nothing signed
    public_key: Path | None = None  # the key to embed; default: the signer's
    sign_firmware: bool = False
    sign_recovery: bool = False
    timestamp: int | None = None
    write_second_stage: bool = False  # recovery.bin as the chip's second stage even without -f
    force: bool = False  # use a bootloader whose Raspberry Pi signature does not verify
    board: BoardState | None = None  # what the board reported (rpiboot -j metadata)
    expect_key_hash: str | None = None  # the key hash the image must embed
    otp_options: Sequence[str] | None = None  # None: those set in config.txt beside output


@dataclass
class UpdateResult:
    """What :func:`update_pieeprom` wrote (or, from :func:`plan_update`, will write)."""

    image: Path
    image_sig: Path
    config_sig: bytes | None = None
    source_used: Path | None = None
    written: list[Path] = field(default_factory=list)
    key_hash: str | None = None  # SHA-256 of the embedded pubkey.bin (program_pubkey's hash)
    overrides: list[str] = field(default_factory=list)  # refusals force overrode


@dataclass
class _Inputs:
    source: bytes
    image: EepromImage
    chip: Chip
    config: bytes
    recovery: bytes | None


@dataclass
class UpdatePlan:
    """Every file of the flow, built and checked in memory, not yet written."""

    result: UpdateResult
    files: dict[Path, bytes]
    chip: Chip
    inputs: _Inputs  # what was read (source image, config, recovery.bin), unmodified


def sig_path_for(output: Path) -> Path:
    """``pieeprom.bin`` → ``pieeprom.sig`` (the last extension replaced)."""
    return output.with_suffix(".sig") if output.suffix else output.with_name(output.name + ".sig")


def _validate(opts: UpdateOptions) -> None:
    """Check the option combinations (the signer was checked when it was built)."""
    if opts.signer is not None and opts.signer.public_key is None:
        raise InputError("Public key (-p public.pem) must be specified in HSM mode",
                         hint="The image embeds the public key; pass the HSM key's with -p.")
    if opts.sign_recovery and not opts.sign_firmware:
        raise UsageError("-r (countersign recovery.bin) only makes sense with -f")
    if opts.sign_firmware and opts.signer is None:
        raise UsageError("-f (countersign firmware) needs a private key (-k) or an HSM "
                         "wrapper (-H) with -p")


def read_input(path: Path, missing: str, *, limit: int = MAX_INPUT_SIZE) -> bytes:
    """The bytes of an input file (at most ``limit``); the project's errors naming it
    otherwise."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise InputError(f"{path} is larger than {limit} bytes: not a bootloader input",
                             hint="Check the path.")
        return data
    except FileNotFoundError:
        raise InputError(missing, hint="Check the path (run it in the recovery directory, or "
                         "name the file).") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder, not a file", hint="Name the file.") from None
    except PermissionError:
        raise PermissionDenied(f"cannot read {path}: permission denied",
                               hint="Fix its permissions (ls -l, chmod) or run as a user who "
                               "may read it.") from None
    except OSError as exc:
        from rpiboot.fsutil import path_error

        raise path_error(path, exc, doing="read") from None


def _read_inputs(opts: UpdateOptions) -> _Inputs:
    from rpiboot.chips import chip_for_eeprom_size
    from rpiboot.eeprom.image import EepromImage

    data = read_input(opts.source, f'Source image "{opts.source}" not found')
    config = read_input(opts.config, f'Bootloader config file "{opts.config}" not found')
    if opts.public_key is not None and not opts.public_key.is_file():
        raise InputError(f'Public key "{opts.public_key}" not found')
    image = EepromImage(data, source=str(opts.source))
    chip = chip_for_eeprom_size(image.size)
    assert chip is not None, "EepromImage accepts only the chip table's sizes"
    recovery = None
    if opts.sign_firmware or opts.write_second_stage:
        recovery = read_input(opts.recovery, f"recovery.bin {opts.recovery} not found "
                              f"(needed for {chip.second_stage})")
    return _Inputs(data, image, chip, config, recovery)


def _countersign(data: bytes, signer: Signer | None) -> bytes:
    from rpiboot.signing.bootcode import sign_2712

    return sign_2712(data, keynum=CUSTOMER_KEYNUM, version=0, signer=signer)


def _preflight(opts: UpdateOptions, inputs: _Inputs, pf: Preflight) -> bytes | None:
    """Every check of the inputs; returns the pubkey.bin to embed (None: nothing signed)."""
    from rpiboot.recovery import board as boards
    from rpiboot.recovery.preflight import check_config_fits, check_image, check_second_stage

    chip, image = inputs.chip, inputs.image
    if opts.sign_firmware and chip is not countersign_chip():
        raise InputError(f"-f countersigns {countersign_chip().family} firmware, but "
                         f"{opts.source} is a {chip.family} image",
                         hint=f"Leave out -f: {chip.family} secure boot needs no countersignature.")
    if opts.signer is not None:
        check_secure_boot_support(opts.source, image.build_timestamp())
    parts = check_image(pf, image, chip=chip, countersign=opts.sign_firmware)
    check_config_fits(image, inputs.config, signed=opts.signer is not None)
    stage = None if inputs.recovery is None else check_second_stage(
        pf, inputs.recovery, what=f"recovery.bin {opts.recovery}", chip=chip,
        countersign=opts.sign_recovery)
    embed = None if opts.signer is None else boards.embedded_key(opts.signer, opts.public_key)
    kept = {} if opts.sign_firmware else dict(parts)  # countersignatures already in the inputs
    if stage is not None and not opts.sign_recovery:
        kept[f"recovery.bin {opts.recovery}"] = stage
    for what, fmt in kept.items():
        if embed is not None and fmt.countersigned:
            boards.check_countersign_key(fmt.blocks, embed, what)
    _check_otp_and_board(opts, inputs, embed,
                         firmware_countersigned=opts.sign_firmware or all(
                             fmt.countersigned for fmt in parts.values()),
                         stage_countersigned=None if stage is None
                         else opts.sign_recovery or stage.countersigned)
    return embed


def _check_otp_and_board(opts: UpdateOptions, inputs: _Inputs, embed: bytes | None, *,
                         firmware_countersigned: bool, stage_countersigned: bool | None) -> None:
    from rpiboot.recovery import board as boards
    from rpiboot.recovery.preflight import check_otp_options, otp_options_in
    from rpiboot.signing.keys import key_hash

    digest = None if embed is None else key_hash(embed).hex()
    otp, where = opts.otp_options, "the options given"
    error: type[RpibootError] = UsageError
    if otp is None:
        config_txt = opts.output.parent / "config.txt"
        otp, where, error = otp_options_in(config_txt), str(config_txt), InputError
    check_otp_options(otp, chip=inputs.chip, image=inputs.image, key_hash=digest,
                      firmware_countersigned=firmware_countersigned, where=where, error=error)
    boards.check_expected_key(opts.expect_key_hash, digest)
    boards.check_board(opts.board, chip=inputs.chip, key_hash=digest,
                       firmware_countersigned=firmware_countersigned,
                       second_stage_countersigned=stage_countersigned)


def output_paths(opts: UpdateOptions, chip: Chip) -> list[Path]:
    """Every file the flow writes, in order: [second stage, pieeprom.signed_boot.bin,]
    pieeprom.bin, pieeprom.sig."""
    folder = opts.output.parent
    paths = []
    if opts.sign_firmware or opts.write_second_stage:
        paths.append(folder / chip.second_stage)
    if opts.sign_firmware:
        paths.append(folder / SIGNED_BOOT)
    return [*paths, opts.output, sig_path_for(opts.output)]


def check_outputs(paths: Sequence[Path]) -> None:
    """Each output can be created (its folder exists and is writable) and is a regular file
    (or absent); two outputs never share a name."""
    from rpiboot.fsutil import check_output_file

    seen: set[Path] = set()
    for path in paths:
        resolved = path.resolve()
        if resolved in seen:
            raise UsageError(f"{path} would be written twice (two outputs have that name)",
                             hint="Choose another output name (-o).")
        seen.add(resolved)
        if path.exists() and not path.is_file():
            raise InputError(f"output {path} exists and is not a regular file",
                             hint="Name a file (it is replaced atomically).")
        check_output_file(path, what="output file")


def _build(opts: UpdateOptions, inputs: _Inputs, embed: bytes | None,
           say: Callable[[str], None]) -> UpdatePlan:
    """Sign, countersign and assemble every output in memory (after the preflight)."""
    from rpiboot.eeprom.image import BOOTCODE_BIN, BOOTSYS, EepromImage
    from rpiboot.signing.sigfile import make_sig

    paths = output_paths(opts, inputs.chip)
    result = UpdateResult(opts.output, sig_path_for(opts.output), source_used=opts.source)
    files: dict[Path, bytes] = {}
    image = EepromImage(inputs.source, source=str(opts.source))
    if inputs.recovery is not None:
        files[paths[0]] = _second_stage(opts, inputs.recovery, paths[0], say)
    if opts.sign_firmware:
        say(f"Signing {opts.source} as {paths[1]}")
        for name in (BOOTCODE_BIN, BOOTSYS) if image.is_ab else (BOOTCODE_BIN,):
            image.replace_file(name, _countersign(image.read_file(name) or b"", opts.signer))
        files[paths[1]] = image.to_bytes()
        result.source_used = paths[1]
    image.replace_file("bootconf.txt", inputs.config)
    if opts.signer is not None and embed is not None:
        say("Signing bootloader config")
        result.config_sig = make_sig(opts.config, signer=opts.signer, timestamp=opts.timestamp)
        say(result.config_sig.decode().rstrip("\n"))
        image.replace_file("bootconf.sig", result.config_sig)
        image.replace_file("pubkey.bin", embed)
    files[opts.output] = image.to_bytes()
    files[result.image_sig] = _plain_sig(files[opts.output], opts.timestamp)
    result.written = list(files)
    return UpdatePlan(result, files, inputs.chip, inputs)


def _second_stage(opts: UpdateOptions, recovery: bytes, path: Path,
                  say: Callable[[str], None]) -> bytes:
    if opts.sign_recovery:
        say(f"Signing {opts.recovery} as {path}")
        return _countersign(recovery, opts.signer)
    say(f"Using unsigned recovery.bin: {opts.recovery} -> {path}")
    return recovery


def _plain_sig(data: bytes, timestamp: int | None) -> bytes:
    """pieeprom.sig: the sha256 of the image and the ts line (what make_sig writes unsigned)."""
    import hashlib

    from rpiboot.signing.sigfile import SigFile, sig_timestamp

    return SigFile(hashlib.sha256(data).hexdigest(), sig_timestamp(timestamp)).to_bytes()


def _verify_built(plan: UpdatePlan, opts: UpdateOptions, embed: bytes | None) -> None:
    """What was built carries the key it should: the config signature verifies with the
    embedded pubkey.bin (whose hash program_pubkey would program), and every countersignature
    made is by that key."""
    from rpiboot.eeprom.image import BOOTCODE_BIN, BOOTSYS, EepromImage
    from rpiboot.eeprom.info import describe
    from rpiboot.errors import SigningError
    from rpiboot.recovery.board import check_countersign_key
    from rpiboot.signing.bootcode import parse_2712_blocks
    from rpiboot.signing.keys import key_hash

    image = EepromImage(plan.files[opts.output], source=str(opts.output))
    info = describe(image)
    if embed is None:
        if info.pubkey_embedded and info.config_signature != "valid":
            raise SigningError(f"{opts.source} embeds a public key (hash {info.pubkey_hash}) "
                               "and a bootconf.sig that does not verify for the new config: a "
                               "board locked to that key would refuse it",
                               hint="Sign the config with that key (-k), or start from an "
                               "image without an embedded key.")
        return
    expected = key_hash(embed).hex()
    if info.config_signature != "valid" or info.pubkey_hash != expected:
        raise SigningError(f"the config signature made for {opts.output} does not verify with "
                           f"the key it embeds ({info.config_signature_detail})",
                           hint="The signer (HSM wrapper) signed with another key than -p: "
                           "a board would refuse this config, or lock to the wrong key.")
    made: dict[str, bytes | None] = {}
    if opts.sign_firmware:
        made = {f"{name} in {opts.output}": image.read_file(name)
                for name in ((BOOTCODE_BIN, BOOTSYS) if image.is_ab else (BOOTCODE_BIN,))}
    if opts.sign_recovery:
        second_stage = output_paths(opts, plan.chip)[0]
        made[str(second_stage)] = plan.files[second_stage]
    for what, data in made.items():
        check_countersign_key(parse_2712_blocks(data or b""), embed, what)
    plan.result.key_hash = expected


def plan_update(opts: UpdateOptions, *, log: Callable[[str], None] | None = None,
                on_overrides: Callable[[list[str]], None] | None = None,
                check_output_paths: Callable[[list[Path]], None] | None = None) -> UpdatePlan:
    """Check everything, then build every output in memory (nothing is written).

    The outputs are checked with ``check_output_paths`` (default :func:`check_outputs`) after
    the inputs, before anything is signed.  ``on_overrides`` is called once, before anything
    is signed, with the refusals ``force`` overrode (the CLI prints them as a warning block).
    """
    from rpiboot.recovery.preflight import Preflight

    say = log or (lambda _line: None)
    _validate(opts)
    inputs = _read_inputs(opts)
    pf = Preflight(force=opts.force)
    embed = _preflight(opts, inputs, pf)
    (check_output_paths or check_outputs)(output_paths(opts, inputs.chip))
    if pf.overrides and on_overrides is not None:
        on_overrides(list(pf.overrides))
    plan = _build(opts, inputs, embed, say)
    plan.result.overrides = list(pf.overrides)
    _verify_built(plan, opts, embed)
    return plan


def write_files(files: dict[Path, bytes]) -> None:
    """Write every file together: all of them replace their targets, or none does."""
    from rpiboot.fsutil import atomic_files

    with atomic_files(*files) as handles:
        for handle, data in zip(handles, files.values(), strict=True):
            handle.write(data)


def update_pieeprom(opts: UpdateOptions, *, log: Callable[[str], None] | None = None,
                    on_overrides: Callable[[list[str]], None] | None = None) -> UpdateResult:
    """Run the whole flow; ``log`` receives progress lines (the CLI prints them).  Raises an
    :class:`~rpiboot.errors.RpibootError` before writing anything when a check fails."""
    say = log or (lambda _line: None)
    plan = plan_update(opts, log=say, on_overrides=on_overrides)
    write_files(plan.files)
    say(f"new-image: {plan.result.image}")
    say(f"source-image: {plan.result.source_used}")
    say(f"config: {opts.config}")
    return plan.result
