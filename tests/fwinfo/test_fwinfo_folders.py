"""Folder verdicts: the real usbboot folders as shipped in ../shared (where usbboot's symbolic
links are missing), folders prepared by ``rpiboot recovery prepare``, and broken copies."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from fwinfo_helpers import copy_of, has, messages, prepare, prepared

from rpiboot.fwinfo import describe_firmware

__all__ = ["prepared"]  # the session fixture

USBBOOT = "usbboot"

# folder -> (flow, told by, chips it boots, errors that must be reported)
REAL_FOLDERS: dict[str, tuple[str, str, list[str], list[str]]] = {
    "msd": ("msd", "contents and folder name", ["BCM2835", "BCM2837", "BCM2711"], []),
    "mass-storage-gadget64": ("mass-storage-gadget64", "contents and folder name",
                              ["BCM2711", "BCM2712"], ["no boot.img"]),
    "secure-boot-msd": ("secure-boot-msd", "contents and folder name", ["BCM2711"], []),
    "recovery": ("recovery", "contents and folder name", [],
                 ["no bootcode4.bin", "no pieeprom.bin"]),
    "recovery5": ("recovery5", "contents and folder name", [],
                  ["no bootcode5.bin", "no pieeprom.bin"]),
    "secure-boot-recovery": ("secure-boot-recovery", "contents and folder name", [],
                             ["no bootcode4.bin", "no pieeprom.bin"]),
    "secure-boot-recovery5": ("secure-boot-recovery5", "contents and folder name", [],
                              ["no bootcode5.bin", "no pieeprom.bin"]),
    "rpi-imager-embedded": ("rpi-imager-embedded", "contents and folder name", [],
                            ["no bootfiles.bin", "no boot.img"]),
    "secure-boot-example": ("secure-boot-example", "contents and folder name", [],
                            ["no bootfiles.bin", "no boot.img"]),
    "eeprom-erase": ("eeprom-erase", "contents and folder name", [],
                     ["no recovery.bin as the second stage"]),
}


@pytest.mark.parametrize("folder", sorted(REAL_FOLDERS))
def test_real_usbboot_folders(firmware_dir: Path, folder: str) -> None:
    flow, basis, chips, errors = REAL_FOLDERS[folder]
    info = describe_firmware(firmware_dir / USBBOOT / folder)
    assert info.kind == "directory" and info.folder is not None
    assert (info.folder.flow, info.folder.flow_basis, info.folder.chips) == (flow, basis, chips)
    for text in errors:
        assert has(info, text), (text, messages(info))
    if not errors:
        assert messages(info, "error") == []
    assert all(p.hint for _, p in info.all_problems())  # every problem says what to do


def test_the_real_recovery_folder_says_what_rpiboot_would_do_instead(firmware_dir: Path) -> None:
    info = describe_firmware(firmware_dir / USBBOOT / "recovery")
    assert has(info, "built-in mass-storage bootcode4.bin")  # boots as a drive, not flashed
    pi5 = describe_firmware(firmware_dir / USBBOOT / "recovery5")
    assert has(pi5, "cannot start a BCM2712 board")


def test_msd_notes_the_missing_start4_elf_and_lists_second_stages(firmware_dir: Path) -> None:
    info = describe_firmware(firmware_dir / USBBOOT / "msd")
    assert info.folder is not None
    assert info.folder.second_stages == {
        "BCM2835": str(firmware_dir / USBBOOT / "msd/bootcode.bin"),
        "BCM2837": str(firmware_dir / USBBOOT / "msd/bootcode.bin"),
        "BCM2711": str(firmware_dir / USBBOOT / "msd/bootcode4.bin")}
    assert any("no start4.elf" in note for note in info.notes)


def test_gadget_second_stages_come_from_bootfiles_bin(firmware_dir: Path) -> None:
    info = describe_firmware(firmware_dir / USBBOOT / "mass-storage-gadget64")
    assert info.folder is not None
    assert info.folder.second_stages["BCM2712"].endswith("bootfiles.bin:2712/bootcode5.bin")


def test_secure_boot_example_flags_the_private_key(firmware_dir: Path) -> None:
    info = describe_firmware(firmware_dir / USBBOOT / "secure-boot-example")
    assert has(info, "example-private.pem is a private key", "warning")
    assert not has(info, "example-public.pem", "warning")


def test_release_folder_and_the_usbboot_root(firmware_dir: Path) -> None:
    release = describe_firmware(firmware_dir / "rpi-eeprom/2711")
    assert release.folder is not None and release.folder.flow == "rpi-eeprom-release"
    assert any("--flow recovery " in note for note in release.notes)
    root = describe_firmware(firmware_dir / USBBOOT)
    assert root.folder is not None and root.folder.flow == "unknown"
    assert any("recovery5" in note for note in root.notes)


# ----------------------------------------------------------------- prepared folders
@pytest.mark.parametrize("flow", ["recovery", "recovery5", "secure-boot-recovery",
                                  "secure-boot-recovery5"])
def test_prepared_folders_are_clean(prepared: dict[str, Path], flow: str) -> None:
    info = describe_firmware(prepared[flow])
    assert info.folder is not None and info.folder.flow == flow
    assert info.folder.flow_basis == "contents"
    assert info.folder.chips == (["BCM2712"] if flow.endswith("5") else ["BCM2711"])
    assert messages(info) == []
    sig = next(m for m in info.members if m.name == "pieeprom.sig")
    assert sig.details["signs"] == "pieeprom.bin" and sig.details["sha256_matches"] is True


def test_secure_pi5_folder_facts(prepared: dict[str, Path]) -> None:
    info = describe_firmware(prepared["secure-boot-recovery5"])
    image = next(m for m in info.members if m.name == "pieeprom.bin")
    secure = image.details["secure_boot"]
    assert isinstance(secure, dict)
    assert secure["signed_config"] is True and secure["firmware_countersigned"] is True
    assert secure["countersign_key_hashes"] == [secure["key_hash"]]
    assert image.details["config_signature"] == "valid"


def test_program_pubkey_is_flagged_irreversible(firmware_dir: Path, tmp_path: Path) -> None:
    folder = prepare(firmware_dir, "secure-boot-recovery5", tmp_path / "lock",
                     program_pubkey=True, confirmed_irreversible=True)
    info = describe_firmware(folder)
    assert has(info, "program_pubkey=1 is IRREVERSIBLE", "warning")
    assert messages(info, "error") == []
    assert not has(info, "a board without a key yet", "warning")


def test_a_countersigned_recovery_bin_for_boards_without_a_key(firmware_dir: Path,
                                                              tmp_path: Path) -> None:
    folder = prepare(firmware_dir, "secure-boot-recovery5", tmp_path / "relock",
                     program_pubkey=True, confirmed_irreversible=True,
                     countersign_recovery=True)
    info = describe_firmware(folder)
    stage = next(m for m in info.members if m.name == "bootcode5.bin")
    assert stage.signature is not None and stage.signature.countersigned
    assert has(info, "a board without a key yet", "warning")


# ----------------------------------------------------------------- broken copies
def test_missing_sig_and_stale_config(prepared: dict[str, Path], tmp_path: Path) -> None:
    folder = copy_of(prepared["recovery"], tmp_path / "recovery")
    (folder / "pieeprom.sig").unlink()
    (folder / "boot.conf").write_text("[all]\nBOOT_ORDER=0xf41\n")
    info = describe_firmware(folder)
    assert has(info, "no pieeprom.sig")
    assert has(info, "another config than boot.conf", "warning")


def test_pieeprom_changed_after_signing(prepared: dict[str, Path], tmp_path: Path) -> None:
    folder = copy_of(prepared["recovery5"], tmp_path / "recovery5")
    data = bytearray((folder / "pieeprom.bin").read_bytes())
    data[-100] ^= 0xFF
    (folder / "pieeprom.bin").write_bytes(bytes(data))
    assert has(describe_firmware(folder), "pieeprom.sig does not match pieeprom.bin")


def test_second_stage_for_the_wrong_chip(firmware_dir: Path, prepared: dict[str, Path],
                                         tmp_path: Path) -> None:
    folder = copy_of(prepared["recovery5"], tmp_path / "recovery5")
    shutil.copy(firmware_dir / "rpi-eeprom/2711/recovery.bin", folder / "bootcode5.bin")
    info = describe_firmware(folder)
    assert has(info, "bootcode5.bin is a BCM2711 second stage")
    assert info.folder is not None and info.folder.chips == []


def test_a_bootloader_instead_of_recovery_bin(firmware_dir: Path, prepared: dict[str, Path],
                                              tmp_path: Path) -> None:
    folder = copy_of(prepared["recovery"], tmp_path / "recovery")
    shutil.copy(firmware_dir / "usbboot/msd/bootcode4.bin", folder / "bootcode4.bin")
    assert has(describe_firmware(folder), "bootcode4.bin is not recovery.bin")


def test_folder_name_and_contents_disagree(prepared: dict[str, Path], tmp_path: Path) -> None:
    folder = copy_of(prepared["recovery"], tmp_path / "recovery5")
    info = describe_firmware(folder)
    assert has(info, "named recovery5")
    assert info.folder is not None and info.folder.flow == "recovery"


def test_program_pubkey_without_a_key_in_the_image(prepared: dict[str, Path],
                                                  tmp_path: Path) -> None:
    folder = copy_of(prepared["recovery"], tmp_path / "provision")
    (folder / "config.txt").write_text("program_pubkey=1\n")
    info = describe_firmware(folder)
    assert info.folder is not None and info.folder.flow == "secure-boot-recovery"
    assert has(info, "program_pubkey", "warning")
    assert has(info, "needs a signed image that embeds the public key")
    assert has(info, "signature is placeholder")


def test_unsigned_firmware_in_a_pi5_provisioning_folder(
        firmware_dir: Path, prepared: dict[str, Path], tmp_path: Path) -> None:
    """A signed config but firmware that is not countersigned: once program_pubkey has locked
    the board, its ROM refuses the bootloader (the project's preflight rule)."""
    folder = copy_of(prepared["secure-boot-recovery5"], tmp_path / "provision5")
    plain = prepare(firmware_dir, "recovery5", tmp_path / "plain")
    image = bytearray((plain / "pieeprom.bin").read_bytes())
    signed = (folder / "pieeprom.bin").read_bytes()
    image[0x0A1E00:0x0A3000] = signed[0x0A1E00:0x0A3000]  # key, cert, bootconf.sig sections
    (folder / "pieeprom.bin").write_bytes(bytes(image))
    (folder / "config.txt").write_text("program_pubkey=1\n")
    info = describe_firmware(folder)
    assert has(info, "not countersigned")


def test_msd_without_start_elf_and_with_a_bad_bootcode5(firmware_dir: Path,
                                                        tmp_path: Path) -> None:
    folder = copy_of(firmware_dir / USBBOOT / "msd", tmp_path / "msd")
    (folder / "start.elf").unlink()
    shutil.copy(firmware_dir / "usbboot/msd/bootcode.bin", folder / "bootcode5.bin")
    info = describe_firmware(folder)
    assert has(info, "loads start.elf, which is not here")
    assert has(info, "bootcode5.bin has no BCM2712 signature block")
    assert info.folder is not None and "BCM2712" not in info.folder.chips


def test_gadget_with_a_signed_boot_img(firmware_dir: Path, tmp_path: Path) -> None:
    from rpiboot.signing.sigfile import write_sig

    folder = copy_of(firmware_dir / USBBOOT / "mass-storage-gadget64", tmp_path / "gadget")
    shutil.copy(firmware_dir / "usbboot/secure-boot-msd/boot.img", folder / "boot.img")
    key = firmware_dir / "usbboot/secure-boot-example/example-public.pem"
    shutil.copy(key, folder / "example-public.pem")
    write_sig(folder / "boot.img", folder / "boot.sig", timestamp=1,
              signer=signer_from_private(firmware_dir))
    info = describe_firmware(folder)
    assert info.folder is not None and info.folder.flow == "secure-boot-example"
    assert messages(info) == []
    image = next(m for m in info.members if m.name == "boot.img")
    assert image.signature is not None and image.signature.signed
    assert image.signature.detail == "boot.sig: sha256 matches; rsa2048 verifies with " \
        "example-public.pem"
    sig = next(m for m in info.members if m.name == "boot.sig")
    assert (sig.details["signs"], sig.details["sha256_matches"], sig.details["verified_with"]) \
        == ("boot.img", True, ["example-public.pem"])
    (folder / "boot.img").write_bytes((folder / "boot.img").read_bytes()[:-1] + b"!")
    assert has(describe_firmware(folder), "boot.sig does not match boot.img")


def signer_from_private(firmware_dir: Path) -> object:
    from rpiboot.signing import signer_from_options

    return signer_from_options(key=firmware_dir / "usbboot/secure-boot-example/"
                               "example-private.pem")


def test_boot_img_without_boot_ramdisk(firmware_dir: Path, tmp_path: Path) -> None:
    folder = copy_of(firmware_dir / USBBOOT / "secure-boot-msd", tmp_path / "x")
    (folder / "config.txt").write_text("uart_2ndstage=1\n")
    assert has(describe_firmware(folder), "does not set boot_ramdisk=1")


def test_unreadable_entries_are_reported_not_raised(firmware_dir: Path, tmp_path: Path) -> None:
    folder = copy_of(firmware_dir / USBBOOT / "msd", tmp_path / "msd")
    os.mkfifo(folder / "config.txt")  # never opened: no hang
    (folder / "bootcode4.bin").unlink()
    (folder / "bootcode4.bin").symlink_to(folder / "missing.bin")
    (folder / "overlays").mkdir()
    (folder / "2712").symlink_to(folder / "2712")  # a link to itself
    info = describe_firmware(folder)
    loop = next(m for m in info.members if m.name == "2712")
    assert loop.error is not None and "symbolic links" in loop.error
    fifo = next(m for m in info.members if m.name == "config.txt")
    assert fifo.error is not None and "not a regular file" in fifo.error
    link = next(m for m in info.members if m.name == "bootcode4.bin")
    assert link.error is not None and "no such file" in link.error
    assert next(m for m in info.members if m.name == "overlays").kind == "directory"
    assert info.folder is not None and info.folder.chips == ["BCM2835", "BCM2837"]


def test_per_chip_sub_folders_win(firmware_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "split"
    (folder / "2711").mkdir(parents=True)
    shutil.copy(firmware_dir / "rpi-eeprom/2711/recovery.bin", folder / "2711/bootcode4.bin")
    shutil.copy(firmware_dir / "usbboot/msd/bootcode4.bin", folder / "bootcode4.bin")
    info = describe_firmware(folder)
    assert info.folder is not None
    assert info.folder.second_stages["BCM2711"] == str(folder / "2711/bootcode4.bin")
    sub = next(m for m in info.members if m.name == "2711")
    assert [m.name for m in sub.members] == ["bootcode4.bin"]
    assert sub.members[0].chip_basis == "chip-folder"


def test_limits_bound_a_large_folder(firmware_dir: Path, tmp_path: Path) -> None:
    from rpiboot.fwinfo import Limits

    for number in range(12):
        (tmp_path / f"file{number:02d}.txt").write_text("x")
    info = describe_firmware(tmp_path, limits=Limits(entries=5))
    assert len(info.members) == 5 and any("first 5 of 12" in note for note in info.notes)


def test_an_os_boot_folder(firmware_dir: Path, tmp_path: Path) -> None:
    folder = copy_of(firmware_dir / USBBOOT / "msd", tmp_path / "cm3-boot")
    (folder / "bootcode4.bin").unlink()
    (folder / "kernel7.img").write_bytes(b"\0" * 4096)
    (folder / "cmdline.txt").write_text("console=serial0,115200  root=/dev/mmcblk0p2 rootwait\n")
    (folder / "bcm2710-rpi-cm3.dtb").write_bytes(b"\xd0\x0d\xfe\xed\0\0\x10\0" + bytes(64))
    (folder / "fixup_cd.dat").write_bytes(b"\1" * 64)
    info = describe_firmware(folder)
    assert info.folder is not None and info.folder.flow == "os-boot"
    assert info.folder.chips == ["BCM2835", "BCM2837"] and messages(info) == []
    kinds = {m.name: (m.kind, m.details) for m in info.members}
    assert kinds["cmdline.txt"] == ("cmdline", {"cmdline": "console=serial0,115200 "
                                                "root=/dev/mmcblk0p2 rootwait"})
    assert kinds["bcm2710-rpi-cm3.dtb"] == ("device-tree", {"total_size": 4096})
    assert kinds["fixup_cd.dat"] == ("fixup", {"start_elf": "start_cd.elf"})
    assert kinds["kernel7.img"][0] == "unknown"
