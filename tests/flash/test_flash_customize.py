"""customize_disk on whole disks (MBR like Raspberry Pi OS, GPT, none) made with mkfs.fat;
fsck.fat and mtools judge the result."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flash_fat_helpers import (
    BASIC_DATA,
    EFI_SYSTEM,
    LINUX_DATA,
    fsck_clean,
    gpt_disk,
    mbr_disk,
    mdir_names,
    mkfs,
    mtype,
    partition_bytes,
)

from rpiboot.errors import InputError
from rpiboot.flash.customize import (
    CustomizeFolder,
    RenderedFile,
    board_fields,
    customize_disk,
    verify_files,
)
from rpiboot.flash.fat_edit import DiskError

STAMP = 1_700_000_000
CM4 = {"MAC_ADDR": "d8:3a:dd:00:11:22", "USER_BOARDREV": "0xd03140",
       "USER_SERIAL_NUM": "dc626c31", "FACTORY_UUID": "8J39WD"}
FIELDS = board_fields(port_path="1-1.3", chip="BCM2711", metadata=CM4)
BOOTFS = {"config.txt": b"[all]\nenable_uart=1\n", "cmdline.txt": b"console=serial0 quiet\n",
          "overlays/README": b"overlays\n", "start4.elf": bytes(range(256)) * 300}
PNG = b"\x89PNG\r\n\x1a\n{serial}\xff\xfe\x00" + bytes(range(256))


def _folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _custom(tmp_path: Path) -> Path:
    return _folder(tmp_path / "custom", {
        "user-data": b"#cloud-config\nhostname: cm4-{serial}\n# {{not a field}}\n",
        "network-config": b"ethernets:\n  eth0:\n    match: {{macaddress: '{mac}'}}\n",
        "config.txt": b"[all]\nenable_uart=1\n# board {chip} at {port_path}\n",
        "ssh": b"",
        "overlays/splash-{serial}.png": PNG,
        "boards/{USER_SERIAL_NUM}/{mac_hex}.txt": b"rev {board_rev} uuid {factory_uuid}\n",
    })


def _rpi_os_disk(tmp_path: Path, fat: int = 32, sector_size: int = 512) -> tuple[Path, int,
                                                                                   int]:
    size = {12: 1600, 16: 20000, 32: 34000}[fat]
    fs = mkfs(tmp_path / "bootfs.img", fat=fat, size_kib=size, sector_size=sector_size,
              cluster_sectors=1, files=BOOTFS)
    disk = tmp_path / "disk.img"
    offset, length = mbr_disk(disk, fs.read_bytes(), kind=0x0C if fat == 32 else 0x0E,
                              start_lba=8192, extra=[(0x83, 8192 + size * 2 + 2048, 2048)])
    return disk, offset, length


def test_a_raspberry_pi_os_disk_gets_its_board_files(tmp_path: Path) -> None:
    disk, offset, length = _rpi_os_disk(tmp_path)
    before = disk.read_bytes()
    done = customize_disk(disk, _custom(tmp_path), FIELDS, timestamp=STAMP)
    expected = {
        "boards/dc626c31/d83add001122.txt": b"rev 0xd03140 uuid 8J39WD\n",
        "config.txt": b"[all]\nenable_uart=1\n# board BCM2711 at 1-1.3\n",
        "network-config": b"ethernets:\n  eth0:\n    match: {macaddress: 'd8:3a:dd:00:11:22'}\n",
        "overlays/splash-dc626c31.png": PNG,
        "ssh": b"",
        "user-data": b"#cloud-config\nhostname: cm4-dc626c31\n# {not a field}\n"}
    assert [(f.path, f.size, f.action, f.templated) for f in done] == [
        (path, len(data), "replaced" if path == "config.txt" else "created", data != PNG)
        for path, data in expected.items()]
    assert done[0].source == tmp_path / "custom" / "boards/{USER_SERIAL_NUM}/{mac_hex}.txt"
    fsck_clean(disk, offset, length)
    for path, data in expected.items():
        assert mtype(disk, path, offset) == data
    assert mtype(disk, "start4.elf", offset) == BOOTFS["start4.elf"]
    assert mdir_names(disk, "overlays", offset)["splash-dc626c31.png"] == "SPLASH~1.PNG"
    assert mdir_names(disk, "", offset)["network-config"] == "NETWOR~1"
    after = disk.read_bytes()
    assert after[:offset] == before[:offset]  # the MBR and the gap: untouched
    assert after[offset + length:] == before[offset + length:]  # the Linux partition too


@pytest.mark.parametrize(("kind", "number", "before"), [
    (BASIC_DATA, 1, []), (EFI_SYSTEM, 2, [LINUX_DATA]), (BASIC_DATA, 3, [LINUX_DATA] * 2)])
def test_gpt_disks(tmp_path: Path, kind: str, number: int, before: list[str]) -> None:
    fs = mkfs(tmp_path / "fs.img", fat=16, size_kib=20000, cluster_sectors=1, files=BOOTFS)
    disk = tmp_path / "gpt.img"
    offset, length = gpt_disk(disk, fs.read_bytes(), kind=kind, number=number, before=before)
    done = customize_disk(disk, _custom(tmp_path), FIELDS, timestamp=STAMP)
    assert len(done) == 6
    fsck_clean(disk, offset, length)
    assert mtype(disk, "user-data", offset).startswith(b"#cloud-config\nhostname: cm4-dc626c31")


def test_a_copy_of_the_real_secure_boot_msd_boot_img(tmp_path: Path, firmware_dir: Path) -> None:
    image = tmp_path / "boot.img"
    shutil.copyfile(firmware_dir / "usbboot/secure-boot-msd/boot.img", image)
    image.chmod(0o644)
    start4 = mtype(image, "start4.elf")
    folder = _folder(tmp_path / "c", {"config.txt": b"[all]\n# {serial}\n",
                                      "cmdline.txt": b"console=serial0 root=/dev/mmcblk0p2\n",
                                      "START4.ELF": b"a much smaller firmware"})
    done = customize_disk(image, folder, FIELDS, timestamp=STAMP)
    assert {f.path: f.action for f in done} == {"START4.ELF": "replaced",
                                               "cmdline.txt": "created",
                                               "config.txt": "created"}
    fsck_clean(image)
    assert mtype(image, "config.txt") == b"[all]\n# dc626c31\n"
    assert mtype(image, "start4.elf") == b"a much smaller firmware" != start4
    assert "start4.elf" in mdir_names(image)  # the entry keeps its name


@pytest.mark.parametrize(("fat", "sector_size"), [(12, 512), (16, 4096), (12, 4096)])
def test_fat12_and_fat16_partitions(tmp_path: Path, fat: int, sector_size: int) -> None:
    size = {(12, 512): 1600, (16, 4096): 40000, (12, 4096): 8000}[(fat, sector_size)]
    fs = mkfs(tmp_path / "fs.img", fat=fat, size_kib=size, sector_size=sector_size,
              cluster_sectors=1, files=BOOTFS)
    disk = tmp_path / "disk.img"
    offset, length = mbr_disk(disk, fs.read_bytes(), kind=0x06 if fat == 16 else 0x01,
                              first_slot=2, extra=[(0x83, 60000, 100)])
    customize_disk(disk, _custom(tmp_path), FIELDS, timestamp=STAMP)
    fsck_clean(disk, offset, length)
    assert mtype(disk, "boards/dc626c31/d83add001122.txt", offset).startswith(b"rev 0xd03140")


def _unchanged(disk: Path, folder: Path | CustomizeFolder, fields: dict[str, str],
               match: str, **kwargs: object) -> InputError:
    before = disk.read_bytes()
    with pytest.raises(InputError, match=match) as caught:
        customize_disk(disk, folder, fields, timestamp=STAMP, **kwargs)  # type: ignore[arg-type]
    assert disk.read_bytes() == before
    return caught.value


def test_unknown_fields_are_listed_and_nothing_is_written(tmp_path: Path) -> None:
    disk, _, _ = _rpi_os_disk(tmp_path, fat=16)
    folder = _folder(tmp_path / "c", {"a.txt": b"ok {serial}\n", "b.txt": b"\n\nx {hostnme} y\n",
                                      "{nope}.txt": b"fine", "d/e.txt": b"{mac} {MAC_WIFI_ADDR}"})
    error = _unchanged(disk, folder, FIELDS, "unknown template fields")
    assert "b.txt line 3, column 3: {hostnme}" in error.message
    assert "{nope}.txt (name): {nope}" in error.message
    assert "d/e.txt line 1, column 7: {MAC_WIFI_ADDR}" in error.message
    assert "serial" in (error.hint or "") and "port_path" in (error.hint or "")


def test_binary_and_verbatim_files_are_copied_as_they_are(tmp_path: Path) -> None:
    disk, offset, length = _rpi_os_disk(tmp_path, fat=16)
    files = {"splash.png": PNG, "nul.txt": b"text {with} a NUL\x00", "latin1.txt": b"caf\xe9 {x}",
             "meta.json": b'{"serial": "{serial}"}\n', "conf/x.json": b"{ }",
             "keep.txt": b"{serial}", ".verbatim": b"# JSON has braces\n*.json\n\n"}
    done = customize_disk(disk, _folder(tmp_path / "c", files), FIELDS, timestamp=STAMP)
    assert {f.path: f.templated for f in done} == {
        "conf/x.json": False, "keep.txt": True, "latin1.txt": False, "meta.json": False,
        "nul.txt": False, "splash.png": False}
    fsck_clean(disk, offset, length)
    for name in ("splash.png", "nul.txt", "latin1.txt", "meta.json", "conf/x.json"):
        assert mtype(disk, name, offset) == files[name]
    assert mtype(disk, "keep.txt", offset) == b"dc626c31"
    assert ".verbatim" not in mdir_names(disk, "", offset)


@pytest.mark.parametrize(("content", "where"), [
    (b"a {\n", "line 1, column 3: a lone '{'"),
    (b"ok\n}x", "line 2, column 1: a lone '}'"),
    (b"x {serial:>8}", "'{serial:>8}' is not a field placeholder"),
    (b"x\n\n  { serial }", "line 3, column 3"),
])
def test_bad_braces_name_the_file_line_and_column(tmp_path: Path, content: bytes,
                                                  where: str) -> None:
    folder = _folder(tmp_path / "c", {"ok.txt": b"{serial}", "bad.txt": content})
    with pytest.raises(InputError, match=r"bad\.txt: ") as caught:
        CustomizeFolder.load(folder)
    assert where in caught.value.message and "{{" in (caught.value.hint or "")


def test_names_after_templating_are_checked(tmp_path: Path) -> None:
    disk, _, _ = _rpi_os_disk(tmp_path, fat=16)
    folder = _folder(tmp_path / "c", {"{serial}.txt": b"1", "DC626C31.TXT": b"2"})
    _unchanged(disk, folder, FIELDS, "both become 'dc626c31.txt'")
    slash = _folder(tmp_path / "d", {"host-{serial}.txt": b"1"})
    _unchanged(disk, slash, {**FIELDS, "serial": "a/b"}, "the name after templating")


def test_partition_tables_that_lie_or_hold_no_fat(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "c", {"a.txt": b"a"})
    fs = mkfs(tmp_path / "fs.img", fat=12, size_kib=1600, cluster_sectors=1).read_bytes()
    linux = tmp_path / "linux.img"
    mbr_disk(linux, fs, kind=0x83)
    _unchanged(linux, folder, FIELDS, r"no FAT partition found \(MBR partition 1 \(type 0x83\)")
    beyond = tmp_path / "beyond.img"
    mbr_disk(beyond, fs, kind=0x0C, extra=[(0x0B, 1 << 30, 100)], tail=0)
    customize_disk(beyond, folder, FIELDS, timestamp=STAMP)  # the lying entry is not used
    _unchanged(beyond, folder, FIELDS, "MBR partition 2 .* claims bytes", partition=2)
    _unchanged(beyond, folder, FIELDS, "there is no partition 3", partition=3)
    short = tmp_path / "short.img"
    _, length = mbr_disk(short, fs, kind=0x0C, tail=0)
    data = bytearray(short.read_bytes())
    data[446 + 12:446 + 16] = (length // 512 - 8).to_bytes(4, "little")  # 4 KiB too small
    short.write_bytes(bytes(data))
    _unchanged(short, folder, FIELDS, "but its partition holds")
    gpt = tmp_path / "gpt.img"
    gpt_disk(gpt, fs)
    damaged = bytearray(gpt.read_bytes())
    damaged[512 + 40] ^= 1  # a byte of the primary header
    gpt.write_bytes(bytes(damaged))
    _unchanged(gpt, folder, FIELDS, "GPT header at byte 512: CRC32 mismatch")


def test_out_of_space_changes_nothing(tmp_path: Path) -> None:
    disk, _, _ = _rpi_os_disk(tmp_path, fat=12)
    folder = _folder(tmp_path / "c", {"big.bin": bytes(2 << 20), "user-data": b"{serial}"})
    _unchanged(disk, folder, FIELDS, "not enough free space")


def test_a_folder_is_loaded_once_and_rendered_per_board(tmp_path: Path) -> None:
    source = CustomizeFolder.load(_custom(tmp_path))
    assert source.fields_used == {"serial", "mac", "chip", "port_path", "USER_SERIAL_NUM",
                                  "mac_hex", "board_rev", "factory_uuid"}
    other = board_fields(port_path="1-1.4", chip="BCM2712", serial="usb-only",
                         metadata={"MAC_ADDR": "2c:cf:67:00:11:22", "USER_BOARDREV": "1",
                                   "FACTORY_UUID": "u", "USER_SERIAL_NUM": "9a3f1c07"})
    for fields in (FIELDS, other):
        (tmp_path / fields["serial"]).mkdir()
        disk, offset, length = _rpi_os_disk(tmp_path / fields["serial"], fat=16)
        customize_disk(disk, source, fields, timestamp=STAMP)
        assert mtype(disk, "user-data", offset).startswith(
            b"#cloud-config\nhostname: cm4-" + fields["serial"].encode())
        fsck_clean(disk, offset, length)


def test_board_fields() -> None:
    assert FIELDS == {**CM4, "serial": "dc626c31", "mac": "d8:3a:dd:00:11:22",
                      "mac_hex": "d83add001122", "board_rev": "0xd03140",
                      "factory_uuid": "8J39WD", "port_path": "1-1.3", "chip": "BCM2711"}
    bare = board_fields(port_path="3-2", metadata={}, serial="c0ffee00")
    assert bare == {"serial": "c0ffee00", "port_path": "3-2"}


def test_verification_reports_what_differs(tmp_path: Path) -> None:
    disk, offset, _ = _rpi_os_disk(tmp_path, fat=16)
    name = f"{disk}, MBR partition 1 (type 0x0e)"
    good = RenderedFile(path="config.txt", source=Path("x"), data=BOOTFS["config.txt"],
                        templated=False)
    verify_files(disk, offset, name, [good])
    for data, what in ((b"[all]\nenable_uart=0\n", "first difference at byte 18"),
                       (b"short", "20 bytes instead of 5")):
        with pytest.raises(DiskError, match=what):
            verify_files(disk, offset, name, [RenderedFile(path="config.txt", source=Path("x"),
                                                           data=data, templated=False)])
    with pytest.raises(DiskError, match="'nope.txt' reads back differently after writing "
                                        r"\(it is missing\)"):
        verify_files(disk, offset, name, [RenderedFile(path="nope.txt", source=Path("x"),
                                                       data=b"", templated=False)])
    assert partition_bytes(disk, offset, 512)[510:] == b"\x55\xaa"
