"""The CLI: rpiboot eeprom/sign/keys/recovery subcommands and the drop-in tools' edge cases."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from eeprom_fixtures import *  # noqa: F403  (pytest fixtures)

from rpiboot.cli import (
    compat_eeprom_config,
    compat_eeprom_digest,
    compat_key_convert,
    compat_sign_bootcode,
    compat_update_pieeprom,
)
from rpiboot.cli.main import main as rpiboot_main

KEY_HASH = "8251a63a2edee9d8f710d63e9da5d639064929ce15a2238986a189ac6fcd3cee"


def test_eeprom_info_json(vectors_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = vectors_dir / "eeprom/update-pieeprom-2712-signed-f/outputs/pieeprom.bin"
    assert rpiboot_main(["eeprom", "info", "--json", str(image)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["version"] == 1 and info["size"] == 2097152
    assert info["layout"].startswith("A/B") and info["build_timestamp"] == 1779807685
    assert info["pubkey_embedded"] and info["pubkey_hash"] == KEY_HASH
    assert info["config_signature"] == "valid"
    assert info["config"].startswith("[all]")
    assert {"offset": 0x10000, "magic": "55aaf11f", "kind": "file", "length": 78880,
            "name": "bootsys"} in info["sections"]
    assert info["bootcode_signatures"][0].startswith("customer keynum 16")


def test_eeprom_info_human(vectors_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = vectors_dir / "eeprom/_inputs/pieeprom-2711.bin"
    assert rpiboot_main(["eeprom", "info", str(image)]) == 0
    out = capsys.readouterr().out
    assert "layout:           single" in out and "not embedded" in out
    assert "bootconf.txt" in out and "placeholder" in out


def test_eeprom_edit_with_sign_key_then_tamper(vectors_dir: Path, private_pem: Path,
                                               tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    source = vectors_dir / "eeprom/_inputs/pieeprom-2711.bin"
    conf = tmp_path / "boot.conf"
    conf.write_text("[all]\nSIGNED_BOOT=1\n")
    out = tmp_path / "signed.bin"
    assert rpiboot_main(["eeprom", "edit", str(source), "-o", str(out), "--config", str(conf),
                         "--sign-key", str(private_pem)]) == 0
    assert rpiboot_main(["eeprom", "info", "--json", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["config_signature"] == "valid"
    conf.write_text("[all]\nSIGNED_BOOT=0\n")
    tampered = tmp_path / "tampered.bin"
    assert rpiboot_main(["eeprom", "edit", str(out), "-o", str(tampered), "--config",
                         str(conf)]) == 0
    assert rpiboot_main(["eeprom", "info", "--json", str(tampered)]) == 0
    assert json.loads(capsys.readouterr().out)["config_signature"] == "invalid"
    assert rpiboot_main(["eeprom", "extract", str(out), "-d", str(tmp_path / "x")]) == 0
    assert (tmp_path / "x/bootconf.txt").read_text() == "[all]\nSIGNED_BOOT=1\n"


def test_sign_and_keys_subcommands(private_pem: Path, public_pem: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    img = tmp_path / "boot.img"
    img.write_bytes(b"\x42" * 10000)
    assert rpiboot_main(["sign", "file", str(img), "-k", str(private_pem)]) == 0
    assert rpiboot_main(["sign", "verify", str(img), "-k", str(public_pem)]) == 0
    img.write_bytes(b"\x43" * 10000)
    assert rpiboot_main(["sign", "verify", str(img), "-k", str(public_pem)]) == 1
    assert rpiboot_main(["keys", "hash", str(private_pem)]) == 0
    assert capsys.readouterr().out.strip().endswith(KEY_HASH)
    assert rpiboot_main(["keys", "to-bin", str(public_pem), "-o", str(tmp_path / "k.bin")]) == 0
    assert rpiboot_main(["keys", "to-pem", str(tmp_path / "k.bin"), "-o",
                         str(tmp_path / "k.pem")]) == 0
    assert (tmp_path / "k.pem").read_text().endswith("-----END PUBLIC KEY-----\n")
    assert rpiboot_main(["keys", "generate", str(tmp_path / "new.pem"), "--public-out",
                         str(tmp_path / "new.pub")]) == 0
    assert stat.S_IMODE(os.stat(tmp_path / "new.pem").st_mode) == 0o600
    assert rpiboot_main(["keys", "generate", str(tmp_path / "bad.pem"), "--bits", "3072"]) == 1
    assert not (tmp_path / "bad.pem").exists()


def test_sign_bootcode_offline_roundtrip(private_pem: Path, public_pem: Path,
                                         tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    blob = tmp_path / "bootcode.bin"
    blob.write_bytes(b"\x07" * 3000)
    payload = tmp_path / "payload.bin"
    assert rpiboot_main(["sign", "request", str(blob), "--bootcode", "-o", str(payload)]) == 0
    sig = tmp_path / "payload.sig"
    subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(private_pem), "-out", str(sig),
                    str(payload)], check=True)
    assert rpiboot_main(["sign", "bootcode", str(blob), "--signature", str(sig), "-p",
                         str(public_pem), "-o", str(tmp_path / "offline.bin")]) == 0
    assert rpiboot_main(["sign", "bootcode", str(blob), "-k", str(private_pem), "-o",
                         str(tmp_path / "direct.bin")]) == 0
    assert (tmp_path / "offline.bin").read_bytes() == (tmp_path / "direct.bin").read_bytes()
    capsys.readouterr()
    assert rpiboot_main(["sign", "bootcode-info", "--json", str(tmp_path / "direct.bin")]) == 0
    (block,) = json.loads(capsys.readouterr().out)["blocks"]
    assert block["keynum"] == 16 and block["verifies"] and block["key_hash"] == KEY_HASH


def test_recovery_prepare_cli_requires_confirmation(firmware_dir: Path, private_pem: Path,
                                                    tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    folder = firmware_dir / "rpi-eeprom/2711"
    args = ["recovery", "prepare", str(tmp_path / "sb"), "--flow", "secure-boot-recovery",
            "--image", str(next(folder.glob("pieeprom-*.bin"))), "--recovery-bin",
            str(folder / "recovery.bin"), "--boot-conf",
            str(firmware_dir / "usbboot/secure-boot-recovery/boot.conf"), "-k", str(private_pem),
            "--program-pubkey"]
    assert rpiboot_main(args) == 2
    assert not (tmp_path / "sb").exists()
    assert rpiboot_main([*args, "--i-understand-this-is-irreversible"]) == 0
    captured = capsys.readouterr()
    assert "PERMANENTLY" in captured.err and KEY_HASH in captured.out
    assert "program_pubkey=1" in (tmp_path / "sb/config.txt").read_text()


def test_outputs_to_devices_are_written_not_replaced(vectors_dir: Path) -> None:
    image = vectors_dir / "eeprom/_inputs/pieeprom-2711.bin"
    assert compat_eeprom_config.main([str(image), "--out", os.devnull]) == 0
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


@pytest.mark.parametrize(("tool", "argv", "status"), [
    (compat_eeprom_config, [], 1),
    (compat_eeprom_config, ["--apply", "x.conf", "img.bin"], 1),
    (compat_eeprom_config, ["--config", "x.conf"], 2),
    (compat_eeprom_config, ["--bogus"], 2),
    (compat_eeprom_digest, ["-h"], 0),
    (compat_eeprom_digest, ["-i", "/nonexistent"], 1),
    (compat_sign_bootcode, ["-c", "2713", "-i", "/dev/null"], 2),
    (compat_key_convert, ["--inform", "der", "x.pem"], 1),
    (compat_update_pieeprom, ["-c", "/nonexistent.conf"], 1),
])
def test_dropin_statuses(tool: object, argv: list[str], status: int,
                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert tool.main(argv) == status  # type: ignore[attr-defined]


def test_digest_refuses_pkcs11_and_verifies_private_pem(vectors_dir: Path, tmp_path: Path,
                                                        private_pem: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    conf = vectors_dir / "eeprom/_inputs/recovery-boot.conf"
    assert compat_eeprom_digest.main(["-k", "pkcs11:token=x", "-i", str(conf), "-o",
                                      str(tmp_path / "o.sig")]) == 1
    assert "pkcs11" in capsys.readouterr().err and not (tmp_path / "o.sig").exists()
    assert compat_eeprom_digest.main(["-k", str(private_pem), "-i", str(conf), "-o",
                                      str(tmp_path / "o.sig")]) == 0
    assert compat_eeprom_digest.main(["-k", str(private_pem), "-i", str(conf), "-v",
                                      str(tmp_path / "o.sig")]) == 0
    assert "Verified OK" in capsys.readouterr().out


def test_sign_bootcode_2711_refuses_hsm(vectors_dir: Path, tmp_path: Path) -> None:
    case = vectors_dir / "eeprom/sign-bootcode-2711-hmac/inputs"
    assert compat_sign_bootcode.main(["-c", "2711", "-i", str(case / "blob.bin"), "-o",
                                      str(tmp_path / "o.bin"), "-m", str(case / "hmac.key"),
                                      "-H", "/bin/true"]) == 2
    assert not (tmp_path / "o.bin").exists()


def test_cli_modules_import_lazily() -> None:
    code = ("import sys, rpiboot.cli.eeprom_cmd, rpiboot.cli.sign_cmd, rpiboot.cli.keys_cmd, "
            "rpiboot.cli.recovery_cmd, rpiboot.cli.compat_eeprom_config, "
            "rpiboot.cli.compat_eeprom_digest, rpiboot.cli.compat_sign_bootcode, "
            "rpiboot.cli.compat_key_convert, rpiboot.cli.compat_update_pieeprom; "
            "bad = [m for m in sys.modules if m.startswith('cryptography')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
