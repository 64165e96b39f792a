"""Drop-in parity where the reference tools ignore a flag or treat it differently in some
mode (issue 8, item 9), through the installed console scripts.

Facts from the reference sources (rpi-eeprom 387e8cc, usbboot 87d6e03):
* rpi-eeprom-config writes an image only with --config, --timestamp, --bootcode or
  --cacertder; --digest/--pubkey are applied only with --config; --bootsys alone is read mode.
* rpi-eeprom-digest is a shell script: an empty option value is the same as none.
* rpi-sign-bootcode -e (master) reads 2711 files too and ignores the signing flags.
* rpi-bootloader-key-convert takes ``input`` with nargs='+' and converts the first.
* rpi-make-boot-image, run with sudo, chowns the image to $SUDO_UID:$SUDO_GID.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from output_fixtures import tool  # the installed console scripts


@pytest.fixture(scope="module")
def vec(vectors_dir: Path) -> Path:
    return vectors_dir / "eeprom"


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def test_eeprom_config_digest_pubkey_without_config_is_read_mode(vec: Path,
                                                                tmp_path: Path) -> None:
    image = vec / "_inputs" / "pieeprom-2711.bin"
    config = _ok(tool("rpi-eeprom-config", image)).stdout
    out = tmp_path / "ignored.bin"
    result = _ok(tool("rpi-eeprom-config", "--digest", vec / "_inputs" / "test-bootconf.sig",
                      "--pubkey", vec / "_inputs" / "example-public.pem", "--out", out, image))
    assert out.read_text() == config and result.stdout == ""
    assert "--digest/--pubkey ignored" in result.stderr


def test_eeprom_config_bootsys_alone_is_read_mode(vec: Path, tmp_path: Path) -> None:
    image = vec / "_inputs" / "pieeprom-2712.bin"
    bootsys = vec / "bootcode-bootsys-replace-2712" / "inputs" / "bootsys.signed"
    out = tmp_path / "bootsys-only.bin"
    result = _ok(tool("rpi-eeprom-config", "--bootsys", bootsys, "-o", out, image))
    assert out.read_text() == _ok(tool("rpi-eeprom-config", image)).stdout
    assert "--bootsys ignored" in result.stderr


def test_eeprom_config_timestamp_writes_an_image_and_ignores_digest(vec: Path,
                                                                   tmp_path: Path) -> None:
    image = vec / "_inputs" / "pieeprom-2711.bin"
    plain, with_digest = tmp_path / "ts.bin", tmp_path / "ts+digest.bin"
    _ok(tool("rpi-eeprom-config", "-t", "1700000000", "-o", plain, image))
    result = _ok(tool("rpi-eeprom-config", "-t", "1700000000", "--digest",
                      vec / "_inputs" / "test-bootconf.sig", "-o", with_digest, image))
    assert plain.stat().st_size == image.stat().st_size  # an image, not the config text
    assert with_digest.read_bytes() == plain.read_bytes()
    assert "--digest ignored without --config" in result.stderr


def test_eeprom_config_bootcode_with_pubkey_ignores_the_key(vec: Path, tmp_path: Path) -> None:
    image = vec / "_inputs" / "pieeprom-2712.bin"
    bootcode = vec / "bootcode-bootsys-replace-2712" / "inputs" / "bootcode.bin.signed"
    alone, with_key = tmp_path / "bootcode.bin", tmp_path / "bootcode+key.bin"
    _ok(tool("rpi-eeprom-config", "--bootcode", bootcode, "-o", alone, image))
    _ok(tool("rpi-eeprom-config", "--bootcode", bootcode, "--pubkey",
             vec / "_inputs" / "example-public.pem", "-o", with_key, image))
    assert with_key.read_bytes() == alone.read_bytes()


def test_eeprom_digest_empty_values_count_as_not_given(vec: Path, tmp_path: Path) -> None:
    image = vec / "_inputs" / "pieeprom-2711.bin"
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    plain, empty = tmp_path / "plain.sig", tmp_path / "empty.sig"
    _ok(tool("rpi-eeprom-digest", "-i", image, "-o", plain, env=env))
    _ok(tool("rpi-eeprom-digest", "-k", "", "-H", "", "-c", "", "-i", image, "-o", empty,
             env=env))
    assert empty.read_bytes() == plain.read_bytes()
    assert len(plain.read_text().splitlines()) == 2  # sha256 + ts: no signature, no soc


def test_eeprom_digest_verify_ignores_output_and_wrapper(vec: Path, tmp_path: Path) -> None:
    conf = vec / "_inputs" / "recovery-boot.conf"
    sig = tmp_path / "bootconf.sig"
    _ok(tool("rpi-eeprom-digest", "-k", vec / "_inputs" / "example-private.pem", "-i", conf,
             "-o", sig))
    result = _ok(tool("rpi-eeprom-digest", "-k", vec / "_inputs" / "example-public.pem",
                      "-i", conf, "-v", sig, "-o", tmp_path / "not-written",
                      "-H", "no-such-wrapper"))
    assert "Verified OK" in result.stdout and not (tmp_path / "not-written").exists()


def test_sign_bootcode_extract_reads_2711_files(vec: Path, tmp_path: Path) -> None:
    signed = vec / "sign-bootcode-2711-hmac" / "outputs" / "blob.2711.bin"
    data = signed.read_bytes()
    result = _ok(tool("rpi-sign-bootcode", "-c", "2711", "-e", signed, "-o", tmp_path / "x",
                      "-k", "ignored.pem"))
    assert result.stdout == (f"length: 1000\nkeynum: 1\nrsa_sig: {data[1008:1264].hex()}\n"
                             f"hmac_sha1: {data[-20:].hex()}\n")
    assert not (tmp_path / "x").exists()


def test_key_convert_converts_the_first_input_and_ignores_the_rest(vec: Path,
                                                                   tmp_path: Path) -> None:
    pub = vec / "_inputs" / "example-public.pem"
    one, more = tmp_path / "one.bin", tmp_path / "more.bin"
    _ok(tool("rpi-bootloader-key-convert", pub, "--output", one))
    result = _ok(tool("rpi-bootloader-key-convert", pub, "not-even-there.pem", "--output",
                      more))
    assert more.read_bytes() == one.read_bytes() and len(one.read_bytes()) == 264
    assert "not-even-there.pem ignored" in result.stderr


def test_make_boot_image_under_sudo_gives_the_image_to_the_user(tmp_path: Path) -> None:
    source = tmp_path / "bootfs"
    source.mkdir()
    (source / "config.txt").write_text("arm_64bit=1\n")
    image = tmp_path / "boot.img"
    env = dict(os.environ, SUDO_UID="12345", SUDO_GID="23456")
    _ok(tool("rpi-make-boot-image", "-d", source, "-o", image, env=env))
    owner = (image.stat().st_uid, image.stat().st_gid)
    if os.geteuid() == 0:
        assert owner == (12345, 23456)
    else:  # only root may chown (the reference would fail here; we keep the image ours)
        assert owner == (os.getuid(), os.getgid())


def test_make_boot_image_never_packs_its_output_into_itself(tmp_path: Path) -> None:
    # the reference runs `rm -f OUTPUT` before it copies SOURCE/*: a rerun with the image
    # inside SOURCE gives the same image, not one that contains the previous one
    source = tmp_path / "bootfs"
    (source / "sub").mkdir(parents=True)
    (source / "config.txt").write_text("arm_64bit=1\n")
    image = source / "sub" / "boot.img"
    _ok(tool("rpi-make-boot-image", "-d", source, "-o", image))
    first = image.read_bytes()
    (source / "sub" / f".boot.img.{2**22 + 7}.0123abcd.rpiboot-tmp").write_bytes(b"x" * 9000)
    _ok(tool("rpi-make-boot-image", "-d", source, "-o", image))
    assert image.read_bytes() == first
    listing = _ok(tool("rpiboot", "bootimg", "list", image)).stdout
    assert "boot.img" not in listing.split(":", 1)[1] and "rpiboot-tmp" not in listing
