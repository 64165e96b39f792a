"""Preflight through the CLI (`rpiboot recovery prepare`, `rpiboot recovery update-pieeprom`, the
drop-in `update-pieeprom`): exit codes, messages, the --force warning block, nothing written
on refusal, output-path errors; and the happy paths, whose outputs openssl verifies."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from eeprom_fixtures import *  # noqa: F403  (pytest fixtures)
from preflight_helpers import *  # noqa: F403  (fixtures and helpers)
from preflight_helpers import (
    EXAMPLE_KEY_HASH,
    NO_KEY,
    Firmware,
    flipped,
    metadata,
    openssl_verifies,
    sha256,
    tree,
)

from rpiboot.cli import compat_update_pieeprom
from rpiboot.cli.main import main as rpiboot_main
from rpiboot.eeprom.image import EepromImage
from rpiboot.signing.bootcode import parse_2712_blocks
from rpiboot.signing.keys import public_key_from_bin, public_key_pem
from rpiboot.signing.sigfile import parse_sig

WARNING = "WARNING: --force OVERRIDES THESE CHECKS"
Capture = pytest.CaptureFixture[str]


def _prepare(fw: Firmware, out: Path, flow: str, *extra: str, image: Path | None = None,
             recovery: Path | None = None) -> int:
    chip = "2712" if flow.endswith("5") else "2711"
    args = ["recovery", "prepare", str(out), "--flow", flow,
            "--image", str(image or fw.image(chip)),
            "--recovery-bin", str(recovery or fw.recovery(chip)),
            "--boot-conf", str(fw.boot_conf(flow))]
    if flow.startswith("secure"):
        args += ["-k", str(fw.private_pem)]
    return rpiboot_main([*args, *extra])


# -- rpiboot recovery prepare -------------------------------------------------------------------

def test_cli_other_chips_recovery_bin(fw: Firmware, tmp_path: Path, capsys: Capture) -> None:
    rc = _prepare(fw, tmp_path / "out", "secure-boot-recovery5", "--force",
                  recovery=fw.recovery("2711"))
    err = capsys.readouterr().err
    assert rc == 1 and "is a BCM2711 (Pi 4 family) second stage" in err
    assert str(fw.recovery("2711")) in err and WARNING not in err
    assert tree(tmp_path) == {}


def test_cli_flipped_bootcode_refused_then_forced_loudly(fw: Firmware, tmp_path: Path,
                                                         capsys: Capture) -> None:
    image = flipped(fw.image("2712"), 0x1000, tmp_path / "flipped.bin")
    assert _prepare(fw, tmp_path / "out", "secure-boot-recovery5", image=image) == 1
    err = capsys.readouterr().err
    assert "Raspberry Pi signature does not verify" in err and "--force" in err
    assert not (tmp_path / "out").exists()
    assert _prepare(fw, tmp_path / "out", "secure-boot-recovery5", "--force", image=image) == 0
    captured = capsys.readouterr()
    block = captured.err[captured.err.index(WARNING):]
    assert f"bootcode.bin in {image}: its Raspberry Pi signature does not verify" in block
    assert "ready" in captured.out and (tmp_path / "out/pieeprom.bin").is_file()


def test_cli_embedded_key_mismatch_before_program_pubkey(fw: Firmware, other_key: Path,
                                                         tmp_path: Path, capsys: Capture) -> None:
    rc = _prepare(fw, tmp_path / "out", "secure-boot-recovery5", "-p", str(other_key),
                  "--program-pubkey", "--i-understand-this-is-irreversible")
    assert rc == 1 and "do not match" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_board_metadata_and_expected_hash(fw: Firmware, tmp_path: Path,
                                              capsys: Capture) -> None:
    meta = metadata(tmp_path, "ab" * 32)
    assert _prepare(fw, tmp_path / "out", "secure-boot-recovery5", "--board-metadata",
                    str(meta)) == 1
    assert "locked to key hash abab" in capsys.readouterr().err
    assert _prepare(fw, tmp_path / "out", "secure-boot-recovery5", "--expect-key-hash",
                    "12345") == 2
    assert "--expect-key-hash" in capsys.readouterr().err
    assert _prepare(fw, tmp_path / "out", "secure-boot-recovery5", "--expect-key-hash",
                    "11" * 32) == 1
    assert not (tmp_path / "out").exists()


def test_cli_overwrite_is_not_force(fw: Firmware, tmp_path: Path, capsys: Capture) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert _prepare(fw, out, "recovery", "--force") == 1
    assert "--overwrite" in capsys.readouterr().err
    assert tree(out) == {"keep.txt": b"x"}
    assert _prepare(fw, out, "recovery", "--overwrite") == 0
    assert {"keep.txt", "pieeprom.bin", "pieeprom.sig", "bootcode4.bin"} <= set(tree(out))


def test_cli_output_path_errors(fw: Firmware, tmp_path: Path, capsys: Capture) -> None:
    (tmp_path / "file").write_text("x")
    assert _prepare(fw, tmp_path / "file", "recovery") == 1
    assert f"{tmp_path / 'file'} is a file, not a directory" in capsys.readouterr().err
    assert _prepare(fw, tmp_path / "file/sub", "recovery") == 1
    assert str(tmp_path / "file") in capsys.readouterr().err
    assert tree(tmp_path) == {"file": b"x"}


def test_cli_unwritable_parent(fw: Firmware, readonly_dir: Path, capsys: Capture) -> None:
    """A folder nobody may write to (a read-only mount as root, mode 0555 otherwise): exit 5
    for a permission problem, 1 for a read-only file system; the path is named."""
    code = _prepare(fw, readonly_dir / "out", "recovery")
    err = capsys.readouterr().err
    assert code in (1, 5) and str(readonly_dir) in err
    assert ("permission denied" if code == 5 else "read-only") in err
    assert list(readonly_dir.iterdir()) == []


# -- update-pieeprom (drop-in and `rpiboot recovery update-pieeprom`) ----------------------------

@pytest.fixture
def recovery5(fw: Firmware, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A secure-boot-recovery5 directory as usbboot has it; the current directory."""
    folder = tmp_path / "secure-boot-recovery5"
    folder.mkdir()
    shutil.copyfile(fw.image("2712"), folder / "pieeprom.original.bin")
    shutil.copyfile(fw.recovery("2712"), folder / "recovery.original.bin")
    shutil.copyfile(fw.boot_conf("secure-boot-recovery5"), folder / "boot.conf")
    shutil.copyfile(fw.config_txt("secure-boot-recovery5"), folder / "config.txt")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    return folder


def _enable_program_pubkey(folder: Path) -> None:
    text = (folder / "config.txt").read_text()
    (folder / "config.txt").write_text(text.replace("#program_pubkey=1", "program_pubkey=1"))


def test_dropin_program_pubkey_in_config_txt(fw: Firmware, recovery5: Path,
                                             capsys: Capture) -> None:
    _enable_program_pubkey(recovery5)
    before = tree(recovery5)
    assert compat_update_pieeprom.main([]) == 1
    assert "program_pubkey" in capsys.readouterr().err
    assert compat_update_pieeprom.main(["-k", str(fw.private_pem)]) == 1
    assert "not countersigned" in capsys.readouterr().err
    assert tree(recovery5) == before
    assert compat_update_pieeprom.main(["-f", "-k", str(fw.private_pem)]) == 0
    assert {"pieeprom.bin", "pieeprom.sig", "bootcode5.bin"} <= set(tree(recovery5))


def test_dropin_refusal_keeps_the_previous_pair(fw: Firmware, recovery5: Path,
                                                capsys: Capture) -> None:
    assert compat_update_pieeprom.main(["-f", "-k", str(fw.private_pem)]) == 0
    before = tree(recovery5)
    flipped(fw.recovery("2712"), 0x3000, recovery5 / "recovery.original.bin")
    before["recovery.original.bin"] = (recovery5 / "recovery.original.bin").read_bytes()
    assert compat_update_pieeprom.main(["-f", "-r", "-k", str(fw.private_pem)]) == 1
    assert "recovery.original.bin: its Raspberry Pi signature does not verify" in \
        capsys.readouterr().err
    assert tree(recovery5) == before  # the reference deletes pieeprom.bin/.sig first
    assert rpiboot_main(["recovery", "update-pieeprom", "-f", "-r", "-k", str(fw.private_pem),
                         "--force"]) == 0
    assert WARNING in capsys.readouterr().err
    assert parse_2712_blocks((recovery5 / "bootcode5.bin").read_bytes())[0].verifies


def test_dropin_output_errors(fw: Firmware, recovery5: Path, vectors_dir: Path,
                              capsys: Capture) -> None:
    before = tree(recovery5)
    assert compat_update_pieeprom.main(["-o", "missing/pieeprom.bin"]) == 1
    assert "missing" in capsys.readouterr().err
    (recovery5 / "pieeprom.sig").mkdir()
    assert compat_update_pieeprom.main([]) == 1
    assert "pieeprom.sig exists and is not a regular file" in capsys.readouterr().err
    (recovery5 / "pieeprom.sig").rmdir()
    shutil.copyfile(fw.image("2711"), recovery5 / "pieeprom.original.bin")
    assert compat_update_pieeprom.main(["-f", "-k", str(fw.private_pem)]) == 1
    assert "-f countersigns BCM2712 firmware" in capsys.readouterr().err
    before["pieeprom.original.bin"] = fw.image("2711").read_bytes()
    assert tree(recovery5) == before


# -- happy paths, checked with openssl ----------------------------------------------------------

def _check_config_signature(image: EepromImage, public_pem: Path, tmp: Path) -> None:
    config, sig = image.read_file("bootconf.txt"), image.read_file("bootconf.sig")
    assert config is not None and sig is not None
    signature = parse_sig(sig).rsa2048
    assert signature is not None and openssl_verifies(public_pem, config, signature, tmp)


def _check_blocks(data: bytes, public_pem: Path, tmp: Path) -> None:
    """Outermost block: ours (openssl with the TEST public key); the Raspberry Pi block inside
    verifies with openssl too, with the key it carries."""
    customer, rpi = parse_2712_blocks(data)
    assert customer.keynum == 16 and rpi.keynum == 0
    assert openssl_verifies(public_pem, data[:customer.offset + 12],
                            customer.signature, tmp / "customer")
    rpi_pem = tmp / "rpi.pem"
    rpi_pem.write_bytes(public_key_pem(public_key_from_bin(rpi.pubkey_bin)))
    assert openssl_verifies(rpi_pem, data[:rpi.offset + 12], rpi.signature, tmp / "rpi")


def test_happy_path_pi5_locked_board(fw: Firmware, tmp_path: Path, capsys: Capture) -> None:
    meta = metadata(tmp_path, EXAMPLE_KEY_HASH)
    out = tmp_path / "out"
    assert _prepare(fw, out, "secure-boot-recovery5", "--countersign-recovery",
                    "--program-pubkey", "--i-understand-this-is-irreversible",
                    "--board-metadata", str(meta), "--expect-key-hash", EXAMPLE_KEY_HASH) == 0
    assert WARNING not in capsys.readouterr().err
    image = EepromImage.load(out / "pieeprom.bin")
    _check_config_signature(image, fw.public_pem, tmp_path / "cfg")
    pubkey = image.read_file("pubkey.bin") or b""
    assert sha256(pubkey) == EXAMPLE_KEY_HASH  # the hash program_pubkey programs
    modulus = subprocess.run(["openssl", "rsa", "-pubin", "-in", str(fw.public_pem), "-noout",
                              "-modulus"], capture_output=True, check=True).stdout
    assert modulus.strip().split(b"=")[1].lower() == pubkey[:256][::-1].hex().encode()
    for name in ("bootcode.bin", "bootsys"):
        _check_blocks(image.read_file(name) or b"", fw.public_pem, tmp_path / name)
    _check_blocks((out / "bootcode5.bin").read_bytes(), fw.public_pem, tmp_path / "b5")
    assert (out / "pieeprom.sig").read_text().split("\n")[0] == sha256(image.to_bytes())
    assert "program_pubkey=1" in (out / "config.txt").read_text().splitlines()


def test_happy_path_pi4_fresh_board(fw: Firmware, tmp_path: Path, capsys: Capture) -> None:
    meta = metadata(tmp_path, NO_KEY, boardrev="c03141")
    out = tmp_path / "out"
    assert _prepare(fw, out, "secure-boot-recovery", "--program-pubkey",
                    "--program-rpiboot-gpio", "8", "--i-understand-this-is-irreversible",
                    "--board-metadata", str(meta)) == 0
    assert "program_rpiboot_gpio=8 is set" in capsys.readouterr().err
    image = EepromImage.load(out / "pieeprom.bin")
    _check_config_signature(image, fw.public_pem, tmp_path / "cfg")
    assert (out / "bootcode4.bin").read_bytes() == fw.recovery("2711").read_bytes()
    lines = (out / "config.txt").read_text().splitlines()
    assert "program_pubkey=1" in lines and "program_rpiboot_gpio=8" in lines
