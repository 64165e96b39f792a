"""Recovery directories and the update-pieeprom flow: every flow, every refusal, atomicity."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from eeprom_fixtures import *  # noqa: F403  (pytest fixtures)

from rpiboot.eeprom.image import EepromImage
from rpiboot.eeprom.info import describe
from rpiboot.errors import InputError, SigningError, UsageError
from rpiboot.recovery.prepare import PrepareOptions, prepare_recovery_dir
from rpiboot.recovery.update import UpdateOptions, sig_path_for, update_pieeprom
from rpiboot.signing import signer_from_options
from rpiboot.signing.bootcode import parse_2712_blocks


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _options(firmware_dir: Path, flow: str, out: Path, **extra: object) -> PrepareOptions:
    chip = "2712" if flow.endswith("5") else "2711"
    folder = firmware_dir / "rpi-eeprom" / chip
    image = next(folder.glob("pieeprom-*.bin"))
    return PrepareOptions(flow=flow, out_dir=out, image=image, recovery_bin=folder / "recovery.bin",
                          boot_conf=firmware_dir / "usbboot" / flow / "boot.conf",
                          **extra)  # type: ignore[arg-type]


def test_secure_boot_recovery5_matches_reference_flow(firmware_dir: Path, vectors_dir: Path,
                                                      private_pem: Path, tmp_path: Path) -> None:
    opts = _options(firmware_dir, "secure-boot-recovery5", tmp_path / "sb5",
                    signer=signer_from_options(key=private_pem), timestamp=1700000000)
    result = prepare_recovery_dir(opts)
    reference = vectors_dir / "eeprom/update-pieeprom-2712-signed-f/outputs"
    for name in ("pieeprom.bin", "pieeprom.sig", "pieeprom.signed_boot.bin", "bootcode5.bin"):
        assert _sha(tmp_path / "sb5" / name) == _sha(reference / name), name
    assert result.key_hash == "8251a63a2edee9d8f710d63e9da5d639064929ce15a2238986a189ac6fcd3cee"
    assert "program_pubkey" not in (tmp_path / "sb5/config.txt").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_countersigned_recovery_and_otp_options(firmware_dir: Path, private_pem: Path,
                                                tmp_path: Path) -> None:
    opts = _options(firmware_dir, "secure-boot-recovery5", tmp_path / "out",
                    signer=signer_from_options(key=private_pem), countersign_recovery=True,
                    program_pubkey=True,
                    revoke_devkey=True, program_jtag_lock=True, recovery_reboot=True,
                    recovery_metadata=False, uart_2ndstage=True, confirmed_irreversible=True)
    result = prepare_recovery_dir(opts)
    blocks = parse_2712_blocks((tmp_path / "out/bootcode5.bin").read_bytes())
    assert [(b.keynum, b.verifies) for b in blocks] == [(16, True), (0, True)]
    config = (tmp_path / "out/config.txt").read_text().splitlines()
    for line in ("program_pubkey=1", "revoke_devkey=1", "program_jtag_lock=1",
                 "recovery_reboot=1", "recovery_metadata=0", "uart_2ndstage=1"):
        assert line in config
    assert len(result.warnings) == 4
    assert any(str(result.key_hash) in w for w in result.warnings)


@pytest.mark.parametrize(("flow", "second_stage"), [("recovery", "bootcode4.bin"),
                                                    ("recovery5", "bootcode5.bin")])
def test_unsigned_flows(firmware_dir: Path, tmp_path: Path, flow: str,
                        second_stage: str) -> None:
    opts = _options(firmware_dir, flow, tmp_path / flow, recovery_reboot=True)
    prepare_recovery_dir(opts)
    out = tmp_path / flow
    assert (out / second_stage).read_bytes() == opts.recovery_bin.read_bytes()
    image = EepromImage.load(out / "pieeprom.bin")
    assert image.read_file("bootconf.txt") == opts.boot_conf.read_bytes()
    info = describe(image)
    assert not info.pubkey_embedded and info.config_signature == "placeholder"
    assert (out / "pieeprom.sig").read_text().startswith(_sha(out / "pieeprom.bin"))


def test_secure_boot_recovery_2711(firmware_dir: Path, private_pem: Path, tmp_path: Path) -> None:
    prepare_recovery_dir(_options(firmware_dir, "secure-boot-recovery", tmp_path / "sb",
                                  signer=signer_from_options(key=private_pem)))
    info = describe(EepromImage.load(tmp_path / "sb/pieeprom.bin"))
    assert info.config_signature == "valid" and info.pubkey_embedded
    assert not (tmp_path / "sb/bootcode5.bin").exists()


@pytest.mark.parametrize(("flow", "extra", "error", "message"), [
    ("secure-boot-recovery5", {"program_pubkey": True}, UsageError, "OTP"),
    ("secure-boot-recovery", {}, UsageError, "pass --key"),
    ("recovery", {"program_pubkey": True, "confirmed_irreversible": True}, UsageError,
     "needs a secure-boot flow"),
    ("recovery5", {"countersign_recovery": True}, UsageError, "does not sign"),
    ("nonsense", {}, UsageError, "unknown flow"),
])
def test_refusals_leave_nothing(firmware_dir: Path, private_pem: Path, tmp_path: Path, flow: str,
                                extra: dict[str, object], error: type[Exception],
                                message: str) -> None:
    base = "secure-boot-recovery5" if flow == "nonsense" else flow
    opts = _options(firmware_dir, base, tmp_path / "out", **extra)
    opts.flow = flow
    if flow == "secure-boot-recovery5":
        opts.signer = signer_from_options(key=private_pem)
    with pytest.raises(error, match=message):
        prepare_recovery_dir(opts)
    assert list(tmp_path.iterdir()) == []


def test_wrong_image_for_flow(firmware_dir: Path, tmp_path: Path) -> None:
    opts = _options(firmware_dir, "recovery", tmp_path / "out")
    opts.image = next((firmware_dir / "rpi-eeprom/2712").glob("pieeprom-*.bin"))
    with pytest.raises(InputError, match="needs a 524288-byte"):
        prepare_recovery_dir(opts)


def test_existing_directory_needs_force(firmware_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        prepare_recovery_dir(_options(firmware_dir, "recovery", out))
    prepare_recovery_dir(_options(firmware_dir, "recovery", out, overwrite=True))
    assert (out / "keep.txt").exists() and (out / "pieeprom.bin").exists()


def test_failure_midway_leaves_no_directory(firmware_dir: Path, vectors_dir: Path,
                                            private_pem: Path, tmp_path: Path) -> None:
    opts = _options(firmware_dir, "secure-boot-recovery", tmp_path / "out",
                    signer=signer_from_options(key=private_pem))
    opts.image = vectors_dir / "eeprom/_inputs/pieeprom-2711-2019-07-15.bin"
    with pytest.raises(InputError, match="does not support secure-boot"):
        prepare_recovery_dir(opts)
    assert list(tmp_path.iterdir()) == []


# -- update-pieeprom flow ----------------------------------------------------------------------

@pytest.fixture
def workdir(vectors_dir: Path, tmp_path: Path) -> Path:
    inputs = vectors_dir / "eeprom/_inputs"
    (tmp_path / "pieeprom.original.bin").write_bytes((inputs / "pieeprom-2712.bin").read_bytes())
    (tmp_path / "recovery.original.bin").write_bytes((inputs / "recovery-2712.bin").read_bytes())
    (tmp_path / "boot.conf").write_bytes((inputs / "secure-boot-recovery5-boot.conf").read_bytes())
    return tmp_path


def _update(workdir: Path, *, private_key: Path | None = None, hsm_wrapper: str | None = None,
            **extra: object) -> UpdateOptions:
    """Options as the CLI builds them: the key flags become one signer."""
    public_key = extra.get("public_key")
    fields: dict[str, object] = {
        "config": workdir / "boot.conf", "source": workdir / "pieeprom.original.bin",
        "output": workdir / "pieeprom.bin", "recovery": workdir / "recovery.original.bin",
        "signer": signer_from_options(key=private_key, hsm_wrapper=hsm_wrapper,
                                      public_key=public_key if isinstance(public_key, Path)
                                      else None)}
    return UpdateOptions(**{**fields, **extra})  # type: ignore[arg-type]


def test_mismatched_public_key_is_refused(workdir: Path, private_pem: Path,
                                          other_key: Path) -> None:
    with pytest.raises(SigningError, match="do not match"):
        update_pieeprom(_update(workdir, private_key=private_pem, public_key=other_key))
    assert not (workdir / "pieeprom.bin").exists() and not (workdir / "pieeprom.sig").exists()


@pytest.mark.parametrize(("extra", "message"), [
    ({"sign_recovery": True}, "only makes sense with -f"),
    ({"sign_firmware": True}, "needs a private key"),
    ({"hsm_wrapper": "/bin/true"}, "must be specified in HSM mode"),
    ({"private_key": Path("/nonexistent.pem")}, "Private key file"),
])
def test_update_argument_errors(workdir: Path, extra: dict[str, object], message: str) -> None:
    with pytest.raises((UsageError, InputError), match=message):
        update_pieeprom(_update(workdir, **extra))


def test_missing_inputs(workdir: Path) -> None:
    (workdir / "boot.conf").unlink()
    with pytest.raises(InputError, match="Bootloader config file"):
        update_pieeprom(_update(workdir))
    with pytest.raises(InputError, match="Source image"):
        update_pieeprom(_update(workdir, source=workdir / "none.bin"))


def test_sig_path_for() -> None:
    assert sig_path_for(Path("pieeprom.bin")) == Path("pieeprom.sig")
    assert sig_path_for(Path("my.custom.image.bin")) == Path("my.custom.image.sig")
    assert sig_path_for(Path("image")) == Path("image.sig")
