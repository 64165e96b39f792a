"""Every real file in ../shared/firmware is described with the facts it carries: chip (and how
sure), role, version and build date strings, signature state, and the kind-specific facts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from rpiboot.chips import CHIPS
from rpiboot.fwinfo import KINDS, describe_firmware
from rpiboot.fwinfo.model import FirmwareInfo
from rpiboot.recovery.preflight import MIN_SECURE_BOOT_TIMESTAMP

RPI_KEY = "e3345447549bda1f5416a479264be593d60f527c70d666d10ead908fd027fd27"
EXAMPLE_KEY = "8251a63a2edee9d8f710d63e9da5d639064929ce15a2238986a189ac6fcd3cee"

# file -> its kind (everything under ../shared/firmware that is a file)
KIND_OF = {
    "README.md": "unknown",
    "rpi-eeprom/LICENSE": "unknown",
    "rpi-eeprom/2711/pieeprom-2026-05-17.bin": "eeprom-image",
    "rpi-eeprom/2711/recovery.bin": "second-stage",
    "rpi-eeprom/2712/pieeprom-2026-05-26.bin": "eeprom-image",
    "rpi-eeprom/2712/recovery.bin": "second-stage",
    "usbboot/LICENSE": "unknown",
    "usbboot/msd/bootcode.bin": "second-stage",
    "usbboot/msd/bootcode4.bin": "second-stage",
    "usbboot/msd/start.elf": "videocore-firmware",
    "usbboot/mass-storage-gadget64/bootfiles.bin": "bootfiles-archive",
    "usbboot/secure-boot-msd/boot.img": "boot-image",
    "usbboot/secure-boot-msd/bootcode4.bin": "second-stage",
    "usbboot/secure-boot-example/boot.sig": "signature-file",
    "usbboot/secure-boot-example/example-private.pem": "key",
    "usbboot/secure-boot-example/example-public.pem": "key",
}


def _all_files(firmware_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(firmware_dir)) for p in firmware_dir.rglob("*")
                  if p.is_file())


def _expected_kind(name: str) -> str:
    if name in KIND_OF:
        return KIND_OF[name]
    if name.endswith("config.txt"):
        return "config-txt"
    if name.endswith("boot.conf"):
        return "bootloader-config"
    assert name.startswith("upstream-trees/"), f"{name}: add it to KIND_OF"
    return "unknown"


def describe(firmware_dir: Path, name: str) -> FirmwareInfo:
    return describe_firmware(firmware_dir / name)


def test_every_real_file_has_its_kind_size_and_sha256(firmware_dir: Path) -> None:
    names = _all_files(firmware_dir)
    assert set(KIND_OF) <= set(names) and len(names) >= 30
    for name in names:
        info = describe(firmware_dir, name)
        data = (firmware_dir / name).read_bytes()
        assert info.kind == _expected_kind(name), name
        assert info.kind in KINDS
        assert (info.size, info.sha256) == (len(data), hashlib.sha256(data).hexdigest()), name
        assert info.error is None
        json.dumps(info.to_dict())  # JSON-ready


def test_legacy_bootcode_is_bcm2835_and_bcm2837_by_name_and_unsigned(firmware_dir: Path) -> None:
    info = describe(firmware_dir, "usbboot/msd/bootcode.bin")
    assert info.chips == ["BCM2835", "BCM2837"] and info.chip_basis == "file-name"
    assert not info.chip_certain
    assert "loads start.elf" in info.role
    assert info.signature is not None and info.signature.format == "none"
    assert info.build is None and info.problems == []


@pytest.mark.parametrize("name", ["usbboot/msd/bootcode4.bin",
                                  "usbboot/secure-boot-msd/bootcode4.bin"])
def test_msd_bootcode4_is_the_2023_bcm2711_bootloader(firmware_dir: Path, name: str) -> None:
    info = describe(firmware_dir, name)
    assert info.chips == ["BCM2711"] and info.chip_basis == "signature-structure"
    assert info.signature is not None
    assert (info.signature.format, info.signature.rpi_signature, info.signature.keynum) == \
        ("rsa-sha1+hmac", "unverifiable", 1)
    assert info.build is not None
    assert (info.build.version, info.build.git_hash, info.build.date, info.build.time,
            info.build.build_timestamp, info.build.tree_state) == (
        "8ba17717", "8ba17717fbcedd4c3b6d4bce7e50c7af4155cba9", "2023-01-11", "17:40:52",
        1673458852, "release")
    assert "start*.elf" in info.role and "bootmain" not in info.role and info.problems == []


def test_pi4_recovery_bin(firmware_dir: Path) -> None:
    info = describe(firmware_dir, "rpi-eeprom/2711/recovery.bin")
    assert info.role.startswith("recovery.bin") and info.chips == ["BCM2711"]
    assert info.build is not None and info.signature is not None
    assert (info.build.version, info.build.date, info.build.build_timestamp) == \
        ("224877da", "2026-05-17", 1779045198)
    assert info.build.git_hash == "224877da90f82a72dbcc9db10bcf059259f54680"
    assert info.signature.format == "rsa-sha1+hmac" and info.problems == []


def test_pi5_recovery_bin_signature_is_verified_with_the_raspberry_pi_key(
        firmware_dir: Path) -> None:
    info = describe(firmware_dir, "rpi-eeprom/2712/recovery.bin")
    assert info.role.startswith("recovery.bin")
    assert info.chips == ["BCM2712"] and info.chip_basis == "signature" and info.chip_certain
    sig = info.signature
    assert sig is not None and sig.rpi_signature == "verified" and not sig.countersigned
    assert [(b.type, b.keynum, b.version, b.verifies, b.key_hash) for b in sig.blocks] == \
        [("rpi", 0, 1, True, RPI_KEY)]
    assert RPI_KEY in CHIPS[0x2712].rpi_bootcode_key_hashes
    assert info.build is not None
    assert (info.build.version, info.build.date, info.build.time, info.build.build_timestamp) \
        == ("086b83e3", "2026-05-26", "16:01:25", 1779807685)


def test_msd_start_elf_vc_build_strings(firmware_dir: Path) -> None:
    info = describe(firmware_dir, "usbboot/msd/start.elf")
    build = info.build
    assert build is not None and build.source == "videocore"
    assert (build.version, build.git_hash, build.date, build.time, build.branch,
            build.platform, build.tree_state) == (
        "19d0abbe4cdfcb6b3f4e28a1b6cd4eccf40196b4", "19d0abbe4cdfcb6b3f4e28a1b6cd4eccf40196b4",
        "2025-02-28", "14:54:47", "vc4-bcm2711_2", "raspberrypi", "clean")
    # this build leaves VC_BUILD_ID_VARIANT empty: the variant comes from the name
    assert (build.variant, build.variant_source) == ("start", "file name")
    assert info.chips == ["BCM2835", "BCM2837"] and info.chip_basis == "file-name"
    assert info.details == {"fixup": "fixup.dat"}


def test_pi4_eeprom_image(firmware_dir: Path) -> None:
    info = describe(firmware_dir, "rpi-eeprom/2711/pieeprom-2026-05-17.bin")
    assert info.chips == ["BCM2711"] and info.chip_basis == "eeprom-size" and info.chip_certain
    assert info.build is not None
    assert (info.build.version, info.build.date, info.build.build_timestamp) == \
        ("224877da", "2026-05-17", 1779045198)
    d = info.details
    assert (d["layout"], d["config_signature"], d["pubkey_hash"]) == \
        ("single", "placeholder", None)
    assert d["config"] == ("[all]\nBOOT_UART=0\nWAKE_ON_GPIO=1\nPOWER_OFF_ON_HALT=0\n"
                           "NET_INSTALL_AT_POWER_ON=1\n")
    assert "bootmain" in d["sections"] and "bootconf.txt" in d["sections"]  # type: ignore[operator]
    assert d["secure_boot"] == {
        "signed_config": False, "key_hash": None, "supports_secure_boot": True,
        "min_secure_boot_build": MIN_SECURE_BOOT_TIMESTAMP, "supports_program_pubkey": True,
        "min_program_pubkey_build": CHIPS[0x2711].program_pubkey_min_build,
        "firmware_countersigned": None, "countersign_key_hashes": []}
    assert info.signature is not None and info.signature.keynum == 1
    assert info.problems == []


def test_pi5_ab_eeprom_image(firmware_dir: Path) -> None:
    info = describe(firmware_dir, "rpi-eeprom/2712/pieeprom-2026-05-26.bin")
    assert info.chips == ["BCM2712"] and info.details["layout"] == "A/B (partitioned)"
    assert info.build is not None and info.build.build_timestamp == 1779807685
    assert info.signature is not None and info.signature.rpi_signature == "verified"
    bootsys = info.details["bootsys_signature"]
    assert isinstance(bootsys, dict) and bootsys["rpi_signature"] == "verified"
    assert info.details["boot_order_modes"] == ["SD card", "NVMe", "USB mass storage",
                                                "restart"]
    secure = info.details["secure_boot"]
    assert isinstance(secure, dict) and secure["firmware_countersigned"] is False
    assert info.problems == []


def test_boot_img_and_the_start4_elf_inside_it(firmware_dir: Path) -> None:
    info = describe(firmware_dir, "usbboot/secure-boot-msd/boot.img")
    d = info.details
    assert (d["fat_type"], d["label"], d["file_count"], d["files"], d["firmware"]) == \
        (12, "BOOT", 1, ["start4.elf"], ["start4.elf"])
    assert (d["kernel"], d["cmdline"], d["config"]) == (None, False, False)
    assert info.signature is not None and info.signature.format == "none"
    [start4] = info.members
    assert start4.kind == "videocore-firmware" and start4.chips == ["BCM2711"]
    assert start4.build is not None
    assert (start4.build.version, start4.build.date, start4.build.branch,
            start4.build.tree_state, start4.build.variant) == (
        "9d12e0291baa3b44ddca28a52c7cca48474af5b2", "2021-07-13", "bcm2711_2", "tainted",
        "start4")
    assert start4.path.endswith("boot.img:start4.elf")


def test_bootfiles_bin_serves_2711_and_2712_and_each_member_is_described(
        firmware_dir: Path) -> None:
    info = describe(firmware_dir, "usbboot/mass-storage-gadget64/bootfiles.bin")
    assert info.chips == ["BCM2711", "BCM2712"] and info.chip_basis == "chip-folder"
    assert info.details["chips"] == {"2711": ["BCM2711"], "2712": ["BCM2712"]}
    members = {m.name: m for m in info.members}
    assert len(members) == info.details["member_count"] == 26
    bootcode4, bootcode5 = members["2711/bootcode4.bin"], members["2712/bootcode5.bin"]
    assert bootcode4.chips == ["BCM2711"] and bootcode4.chip_basis == "chip-folder"
    assert bootcode4.build is not None and bootcode4.build.build_timestamp == 1780412696
    assert "bootmain" in bootcode4.role
    assert bootcode5.chip_basis == "signature" and bootcode5.build is not None
    assert (bootcode5.build.version, bootcode5.build.date, bootcode5.build.build_timestamp) == \
        ("fedc72ea", "2026-06-02", 1780412725)
    ab = members["2712/bootsys-ab.bin"]
    assert ab.kind == "second-stage" and "bootsys" in ab.role and ab.chip_certain
    for prefix in ("2711", "2712"):
        bootmain = members[f"{prefix}/bootmain"]
        assert bootmain.kind == "bootloader-stage" and bootmain.build is not None
        assert bootmain.build.version == "fedc72ea"
    assert members["2712/rp1c0fw1.bin"].role.startswith("RP1")
    assert {m.kind for m in info.members} == {"second-stage", "bootloader-stage",
                                              "bootloader-blob"}
    assert info.all_problems() == []


def test_config_files(firmware_dir: Path) -> None:
    gadget = describe(firmware_dir, "usbboot/mass-storage-gadget64/config.txt")
    assert gadget.details["boot_ramdisk"] is True and gadget.problems == []
    erase = describe(firmware_dir, "usbboot/eeprom-erase/config.txt")
    assert erase.details["erase_eeprom"] is True
    assert [p.severity for p in erase.problems] == ["warning"]
    secure = describe(firmware_dir, "usbboot/secure-boot-recovery/config.txt")
    assert secure.details["otp_options"] == []
    assert secure.details["commented_otp_options"] == [
        "program_jtag_lock", "program_pubkey", "program_rpiboot_gpio"]


def test_boot_conf_boot_order_is_decoded(firmware_dir: Path) -> None:
    info = describe(firmware_dir, "usbboot/recovery/boot.conf")
    assert info.details["boot_order"] == "0xf25641"
    assert info.details["boot_order_modes"] == ["SD card", "USB mass storage", "NVMe",
                                                "BCM-USB-MSD (SoC USB)", "network", "restart"]
    assert info.details["self_update"] == "1" and info.details["signed_boot"] is False


def test_boot_sig_and_example_keys(firmware_dir: Path) -> None:
    sig = describe(firmware_dir, "usbboot/secure-boot-example/boot.sig")
    assert sig.details["sha256"] == \
        "902be6c484ad71bb9f88b2fce51a2baf01efcb031c9daa0557d3b722c3951959"
    assert sig.details["ts"] == 1734010524 and sig.signature is not None
    assert sig.signature.signed and sig.details["signs"] is None  # boot.img is not shipped
    for name, private in (("example-private.pem", True), ("example-public.pem", False)):
        key = describe(firmware_dir, f"usbboot/secure-boot-example/{name}")
        assert key.details == {"private": private, "algorithm": "RSA-2048",
                               "key_hash": EXAMPLE_KEY}
