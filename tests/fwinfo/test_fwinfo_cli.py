"""``rpiboot firmware info``: the command contract (through ``invoke`` as the ``rpiboot
firmware`` command forwards to it, and ``python -m`` in a subprocess), its human and JSON
output, exit statuses, and the JSON schema (field names are a stable interface)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rpiboot.cli import fwinfo_cmd
from rpiboot.cli.command import invoke, run_command
from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import UsageError
from rpiboot.fwinfo import KINDS, SCHEMA_VERSION, describe_firmware

PROG = "rpiboot firmware info"
TOP_KEYS = ["version", "path", "name", "kind", "role", "size", "sha256", "chips", "chip_basis",
            "chip_certain", "build", "signature", "details", "notes", "problems", "error",
            "members", "folder"]
MEMBER_KEYS = TOP_KEYS[1:]
BUILD_KEYS = {"source", "version", "git_hash", "date", "time", "build_timestamp", "variant",
              "variant_source", "branch", "platform", "tree_state"}
SIGNATURE_KEYS = {"format", "signed", "rpi_signature", "detail", "countersigned",
                  "customer_key_hash", "keynum", "blocks"}
BLOCK_KEYS = {"offset", "type", "keynum", "version", "verifies", "key_hash"}
PROBLEM_KEYS = {"severity", "message", "hint"}
FOLDER_KEYS = {"flow", "flow_basis", "description", "chips", "second_stages"}
DETAILS_KEYS = {  # kind -> the keys of "details" (docs/firmware-info.md lists them)
    "second-stage": set(), "bootloader-stage": set(), "bootloader-blob": set(),
    "videocore-firmware": {"fixup"}, "fixup": {"start_elf"}, "unknown": set(),
    "directory": set(), "key": {"private", "algorithm", "key_hash"},
    "eeprom-image": {"layout", "section_count", "sections", "config", "boot_order",
                     "boot_order_modes", "signed_boot", "pubkey_hash", "config_signature",
                     "config_signature_detail", "update_timestamp", "bootsys_signature",
                     "secure_boot"},
    "boot-image": {"fat_type", "image_bytes", "label", "volume_id", "file_count", "files",
                   "kernel", "firmware", "cmdline", "config"},
    "bootfiles-archive": {"member_count", "chips", "files"},
    "config-txt": {"settings", "otp_options", "commented_otp_options", "boot_ramdisk",
                   "erase_eeprom"},
    "bootloader-config": {"settings", "boot_order", "boot_order_modes", "signed_boot",
                          "self_update"},
    "signature-file": {"sha256", "ts", "target_soc", "signs", "sha256_matches",
                       "verified_with"},
    "cmdline": {"cmdline"}, "device-tree": {"total_size"}, "elf": {"machine"},
}
SECURE_BOOT_KEYS = {"signed_config", "key_hash", "supports_secure_boot", "min_secure_boot_build",
                    "supports_program_pubkey", "min_program_pubkey_build",
                    "firmware_countersigned", "countersign_key_hashes"}


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = run_command(PROG, lambda args: invoke("rpiboot.cli.fwinfo_cmd", PROG, args), argv)
    out = capsys.readouterr()
    return status, out.out, out.err


def test_the_module_follows_the_command_contract() -> None:
    assert isinstance(fwinfo_cmd.HELP, str) and "\n" not in fwinfo_cmd.HELP
    parser = fwinfo_cmd.build_parser(PROG)
    assert isinstance(parser, ArgumentParser) and parser.prog == PROG
    with pytest.raises(UsageError):
        parser.parse_args(["--no-such-option"])
    args = parser.parse_args(["x.bin", "--json", "--check", "-v"])
    assert (args.json, args.check, args.verbose, args.path) == (True, True, True, Path("x.bin"))


def test_invoke_prints_a_readable_summary(firmware_dir: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run([str(firmware_dir / "rpi-eeprom/2712/recovery.bin")], capsys)
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].endswith("recovery.bin — recovery.bin: flashes the bootloader EEPROM "
                             "(pieeprom.bin) and applies the OTP options of config.txt")
    assert "  chip        BCM2712 (Pi 5) — by signature verified with the Raspberry Pi key " \
        "(certain)" in lines
    assert any(line.startswith("  version     086b83e3 (git 086b83e3332d") for line in lines)
    assert "              BUILD_TIMESTAMP 1779807685 (2026-05-26 15:01:25 UTC)" in lines


def test_a_folder_summary_lists_members_and_problems(firmware_dir: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run([str(firmware_dir / "usbboot/recovery5")], capsys)
    assert status == 0
    assert "  flow        recovery5 — flashes the bootloader EEPROM of a Pi 5 family board" in out
    assert "  boots       no chip (no usable second stage)" in out
    assert "  ERROR       no bootcode5.bin:" in out and "→ " in out


def test_check_exits_1_on_an_error_problem(firmware_dir: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["--check", str(firmware_dir / "usbboot/recovery")], capsys)[0] == 1
    assert _run(["--check", str(firmware_dir / "usbboot/msd")], capsys)[0] == 0
    # warnings alone (no boot.sig) do not fail the check
    assert _run(["--check", str(firmware_dir / "usbboot/secure-boot-msd")], capsys)[0] == 0


def test_verbose_describes_every_member(firmware_dir: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(["-v", str(firmware_dir / "usbboot/secure-boot-msd")], capsys)
    assert "boot.img:start4.elf — VideoCore firmware start4.elf" in out
    assert "variant start4 (from file name)" in out


def test_errors_name_the_file_and_exit_1(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pieeprom.bin"
    path.write_bytes(b"\0" * 1000)
    status, out, err = _run([str(path)], capsys)
    assert (status, out) == (1, "")
    assert err.startswith(f"{PROG}: error: {path}: Expected sizes")
    status, _, err = _run([str(tmp_path / "missing")], capsys)
    assert status == 1 and "no such file" in err
    assert _run(["--bogus"], capsys)[0] == 2


def test_python_m_in_a_subprocess(firmware_dir: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "rpiboot.cli.fwinfo_cmd", "--json",
                           str(firmware_dir / "usbboot/mass-storage-gadget64")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["folder"]["flow"] == "mass-storage-gadget64"
    assert document["chips"] == ["BCM2711", "BCM2712"]
    bad = subprocess.run([sys.executable, "-m", "rpiboot.cli.fwinfo_cmd", "/dev/zero"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 1
    assert bad.stderr.startswith(f"{PROG}: error: /dev/zero: not a regular file")


def _check_schema(item: dict[str, object], top: bool) -> None:
    assert list(item) == (TOP_KEYS if top else MEMBER_KEYS)
    assert item["kind"] in KINDS
    details = item["details"]
    assert isinstance(details, dict)
    if item["error"] is None:
        assert set(details) == DETAILS_KEYS[str(item["kind"])], item["path"]
    else:
        assert details == {}
    if item["kind"] == "eeprom-image":
        assert set(details["secure_boot"]) == SECURE_BOOT_KEYS
    if item["build"] is not None:
        assert set(item["build"]) == BUILD_KEYS  # type: ignore[arg-type]
    if item["signature"] is not None:
        signature = item["signature"]
        assert isinstance(signature, dict) and set(signature) == SIGNATURE_KEYS
        assert all(set(block) == BLOCK_KEYS for block in signature["blocks"])
    assert all(set(p) == PROBLEM_KEYS for p in item["problems"])  # type: ignore[attr-defined]
    if item["folder"] is not None:
        assert set(item["folder"]) == FOLDER_KEYS  # type: ignore[arg-type]
    for member in item["members"]:  # type: ignore[attr-defined]
        _check_schema(member, top=False)


@pytest.mark.parametrize("target", ["usbboot", "usbboot/msd", "usbboot/mass-storage-gadget64",
                                    "usbboot/secure-boot-msd", "usbboot/secure-boot-example",
                                    "rpi-eeprom/2711", "rpi-eeprom/2712", "usbboot/recovery"])
def test_json_schema_is_stable(firmware_dir: Path, target: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(["--json", str(firmware_dir / target)], capsys)
    assert status == 0
    document = json.loads(out)
    assert document["version"] == SCHEMA_VERSION == 1
    _check_schema(document, top=True)


def test_json_of_a_file_equals_the_library_dict(firmware_dir: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = firmware_dir / "rpi-eeprom/2711/pieeprom-2026-05-17.bin"
    _, out, _ = _run(["--json", str(path)], capsys)
    assert json.loads(out) == describe_firmware(path).to_dict()
    _check_schema(json.loads(out), top=True)


def test_every_kind_has_documented_details() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs/firmware-info.md").read_text()
    assert set(DETAILS_KEYS) == set(KINDS)
    for kind in KINDS:
        assert f"`{kind}`" in doc, kind
    for keys in DETAILS_KEYS.values():
        for key in keys:
            assert f"`{key}`" in doc, key


def test_the_python_example_of_the_doc_runs(firmware_dir: Path) -> None:
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs/firmware-info.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", doc, re.MULTILINE | re.DOTALL)
    assert blocks
    for code in blocks:
        code = code.replace('Path("../shared/firmware")', f"Path({str(firmware_dir)!r})")
        exec(compile(code, "firmware-info.md", "exec"), {"__name__": "doc_example"})
