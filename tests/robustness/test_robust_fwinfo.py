"""``describe_firmware`` on hostile input: random bytes under every name it treats specially,
mutations of the real files of ../shared/firmware, folders holding them, huge sparse files,
devices and FIFOs.  Each gives a description or an InputError naming the file, within a
deadline and with bounded allocations."""

from __future__ import annotations

import json
import os
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import mutated

from rpiboot.eeprom.image import EepromImage
from rpiboot.errors import InputError
from rpiboot.fwinfo import KINDS, FirmwareInfo, Limits, describe_firmware
from rpiboot.signing.bootcode import parse_2712_blocks
from rpiboot.tarreader import iter_members

HOSTILE = settings(max_examples=150, deadline=3000,
                   suppress_health_check=[HealthCheck.function_scoped_fixture,
                                          HealthCheck.too_slow])
MiB = 1 << 20
NAMES = ("bootcode.bin", "bootcode4.bin", "bootcode5.bin", "recovery.bin", "start4.elf",
         "start_cd.elf", "fixup4.dat", "pieeprom.bin", "boot.img", "bootfiles.bin",
         "config.txt", "boot.conf", "cmdline.txt", "boot.sig", "key.pem", "pubkey.bin",
         "bootmain", "memsys00.bin", "anything.bin")
REAL = {  # real file -> the name it is tried under
    "usbboot/msd/bootcode.bin": "bootcode.bin",
    "usbboot/msd/bootcode4.bin": "bootcode4.bin",
    "usbboot/msd/start.elf": "start.elf",
    "rpi-eeprom/2711/recovery.bin": "recovery.bin",
    "rpi-eeprom/2712/recovery.bin": "bootcode5.bin",
    "rpi-eeprom/2711/pieeprom-2026-05-17.bin": "pieeprom.bin",
    "rpi-eeprom/2712/pieeprom-2026-05-26.bin": "pieeprom-2026-05-26.bin",
    "usbboot/secure-boot-msd/boot.img": "boot.img",
    "usbboot/mass-storage-gadget64/bootfiles.bin": "bootfiles.bin",
    "usbboot/secure-boot-example/boot.sig": "boot.sig",
    "usbboot/secure-boot-example/example-private.pem": "example-private.pem",
    "usbboot/recovery/boot.conf": "boot.conf",
    "usbboot/secure-boot-recovery/config.txt": "config.txt",
}


def check(path: Path, *, limits: Limits | None = None) -> FirmwareInfo | None:
    """Describe ``path``: a JSON-ready description, or an InputError that names it.  The peak
    of Python allocations stays within 4x the file + 16 MiB."""
    size = path.stat().st_size if path.is_file() else 0
    tracemalloc.start()
    try:
        info = describe_firmware(path, limits=limits or Limits())
    except InputError as err:
        assert str(path) in err.message, err.message
        return None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak <= 4 * size + 16 * MiB, peak
    document = info.to_dict()
    json.dumps(document)
    for item in info.walk():
        assert item.kind in KINDS and all(p.hint and p.severity in ("error", "warning")
                                          for p in item.problems)
    return info


def _hot(name: str, data: bytes) -> list[int]:
    """Offsets of the structures a parser reads first (where mutations hurt most)."""
    offsets = [0, 4, 8, len(data) - 4, len(data) - 284, len(data) - 532]
    if name.endswith(".bin") and name.startswith("pieeprom"):
        offsets += [s.offset for s in EepromImage(data).sections]
    elif name == "bootfiles.bin":
        with open(os.devnull, "rb"):
            import io

            offsets += [m.header_offset for m in iter_members(io.BytesIO(data), len(data), "x")]
    elif name.startswith(("bootcode", "recovery")):
        offsets += [b.offset for b in parse_2712_blocks(data)]
    elif name == "boot.img":
        offsets += [11, 13, 14, 16, 17, 19, 22, 32, 36, 510, 512, 1024, 2048]
    return [o for o in offsets if 0 <= o < len(data)]


@pytest.fixture(scope="module")
def real(firmware_dir: Path) -> list[tuple[str, bytes, list[int]]]:
    found = []
    for relative, name in REAL.items():
        data = (firmware_dir / relative).read_bytes()
        found.append((name, data, _hot(name, data)))
    return found


@HOSTILE
@given(name=st.sampled_from(NAMES), data=st.binary(max_size=4096))
def test_random_bytes_under_every_special_name(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    check(path)


@HOSTILE
@given(data=st.data())
def test_mutated_real_files(tmp_path: Path, real: list[tuple[str, bytes, list[int]]],
                            data: st.DataObject) -> None:
    which = data.draw(st.integers(0, len(real) - 1))
    name, original, hot = real[which]
    mutant = data.draw(mutated([original], [hot]))
    path = tmp_path / name
    path.write_bytes(mutant)
    started = time.monotonic()
    check(path)
    assert time.monotonic() - started < 3


@settings(max_examples=40, deadline=5000,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_a_folder_with_a_damaged_file_is_still_described(
        tmp_path: Path, real: list[tuple[str, bytes, list[int]]], data: st.DataObject) -> None:
    folder = tmp_path / "recovery"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    picks = data.draw(st.lists(st.integers(0, len(real) - 1), min_size=1, max_size=4,
                               unique=True))
    for index in picks:
        name, original, hot = real[index]
        (folder / name).write_bytes(data.draw(mutated([original], [hot])))
    info = check(folder)
    assert info is not None and info.folder is not None  # a folder never raises for a file
    assert {m.name for m in info.members} == {real[i][0] for i in picks}


def test_a_huge_sparse_file_is_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "start4.elf"
    with open(path, "wb") as handle:
        handle.write(b"\x7fELF\x01\x01\x01" + bytes(11) + b"\x89\x00")
        handle.truncate(3 * 1024 * MiB)  # 3 GiB, sparse
    started = time.monotonic()
    info = check(path)
    assert info is not None and info.kind == "elf" and info.sha256 is None
    assert info.size == 3 * 1024 * MiB and time.monotonic() - started < 5


def test_the_hash_limit(firmware_dir: Path) -> None:
    info = check(firmware_dir / "usbboot/msd/start.elf", limits=Limits(hash=1024))
    assert info is not None and info.sha256 is None and info.build is not None


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/null"])
def test_devices_are_refused(target: str) -> None:
    with pytest.raises(InputError, match=f"{target}: not a regular file"):
        describe_firmware(target)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "bootcode4.bin"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        describe_firmware(fifo)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        describe_firmware(tmp_path / "nope.bin")


def test_a_damaged_eeprom_names_file_and_offset(firmware_dir: Path, tmp_path: Path) -> None:
    data = bytearray((firmware_dir / "rpi-eeprom/2711/pieeprom-2026-05-17.bin").read_bytes())
    data[0x11DA8:0x11DAC] = b"\x12\x34\x56\x78"  # the padding section after the bootcode
    path = tmp_path / "pieeprom.bin"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=rf"{path}: EEPROM is corrupted at offset 0x11da8"):
        describe_firmware(path)


def test_an_out_of_range_build_timestamp_names_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "bootcode4.bin"
    path.write_bytes(b"\0" * 16 + b"VERSION:0123abcd\0BUILD_TIMESTAMP=" + b"9" * 30 + b"\0")
    with pytest.raises(InputError, match=rf"{path}: BUILD_TIMESTAMP at offset 0x31"):
        describe_firmware(path)


def test_a_truncated_pi5_second_stage_is_described_as_broken(firmware_dir: Path,
                                                            tmp_path: Path) -> None:
    path = tmp_path / "bootcode5.bin"
    path.write_bytes((firmware_dir / "rpi-eeprom/2712/recovery.bin").read_bytes()[:-100])
    info = check(path)
    assert info is not None and info.kind == "second-stage" and info.chips == ["BCM2712"]
    assert info.chip_basis == "file-name"
    assert [p.severity for p in info.problems] == ["error"]
    assert "no BCM2712 signature block" in info.problems[0].message
