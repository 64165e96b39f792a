"""The parsers benchmarks/fuzz_parsers.py fuzzes: their real inputs, the offsets where their
structures live, and what each case runs (with the invariants a valid result must meet).

A target's ``run`` raises RpibootError for a refused input; any other exception, or an
assertion about the result failing, is a failure the fuzzer reports.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rpiboot.errors import RpibootError


@dataclass
class Target:
    name: str
    inputs: list[bytes]
    hot: list[list[int]]  # per input: offsets where structure lives
    run: Callable[[bytes], object]  # raises RpibootError, or checks invariants and returns
    random_share: float = 0.02  # cases that start from random bytes instead of a real file
    keep_size: float = 0.0  # share of cases cut or padded back to the input's size
    fixup: Callable[[bytearray, list[int]], None] | None = None  # e.g. redo checksums


def _run_eeprom(data: bytes) -> object:
    from rpiboot.eeprom.image import EepromImage
    from rpiboot.eeprom.info import describe

    image = EepromImage(data, source="fuzz.bin")
    info = describe(image)
    files = image.extractable_files()
    assert info.size == len(data) and all(s.end <= len(data) for s in image.sections)
    with contextlib.suppress(RpibootError):  # an edit may refuse; it must not crash
        image.replace_file("bootconf.txt", b"[all]\n")
    return files


def _run_sig(data: bytes) -> object:
    from rpiboot.signing.sigfile import parse_sig

    sig = parse_sig(data, source="fuzz.sig")
    assert len(sig.sha256) == 64 and parse_sig(sig.to_bytes()) == sig
    return sig


def _run_fat(data: bytes) -> object:
    from rpiboot.bootimg.inspect import check_total_size, image_info
    from rpiboot.bootimg.reader import FatImage, find_partition

    offset = find_partition(data[:512], None)
    image = FatImage(io.BytesIO(data), offset=offset, name="fuzz.img")
    info = image_info(image)
    entries = list(image.walk())
    check_total_size(image, entries)  # what extract checks before writing
    for entry in entries:
        if not entry.is_dir:
            got = sum(len(chunk) for chunk in image.iter_file(entry))
            assert got == entry.size
    if entries:
        image.find(entries[-1].path)
    assert info["image_bytes"] <= len(data) - offset
    return entries


def _run_tar(data: bytes) -> object:
    from rpiboot.tarreader import iter_members

    members = list(iter_members(io.BytesIO(data), len(data), "fuzz.tar"))
    for member in members:
        assert member.offset >= 0 and 0 <= member.size <= len(data) - member.offset
    return members


def _run_messages(data: bytes) -> object:
    from rpiboot.protocol.messages import (
        parse_boot_message,
        parse_file_message,
        parse_metadata_record,
        parse_status,
    )
    from rpiboot.sources import refusal_reason

    for parse in (parse_boot_message, parse_status):
        with contextlib.suppress(RpibootError):
            parse(data[:24] if parse is parse_boot_message else data[:4])
    message = parse_file_message(data)
    text = message.name_text()
    if message.is_metadata:
        return parse_metadata_record(message.name)
    return refusal_reason(text)


def _run_metadata(data: bytes) -> object:
    from rpiboot.metadata import MetadataCollector, metadata_stem
    from rpiboot.protocol.messages import parse_metadata_record

    record = parse_metadata_record(data)
    if record is None:
        return None
    collector = MetadataCollector()
    collector.add(*record)
    parsed = json.loads(collector.to_json())
    assert list(parsed) == [record[0]]
    stem = metadata_stem(record[1])  # a serial is as untrusted as a record
    assert stem and "/" not in stem and not stem.startswith(".") and len(stem) <= 96
    assert metadata_stem(record[1] + "x") != stem
    return parsed


def _eeprom_hot(data: bytes) -> list[int]:
    from rpiboot.eeprom.image import EepromImage

    offsets = [s.offset for s in EepromImage(data).sections]
    stamp = data.find(b"BUILD_TIMESTAMP=")
    return [*offsets, stamp + 16] if stamp >= 0 else offsets


def _fat_hot(data: bytes) -> list[int]:
    from rpiboot.bootimg.reader import FatImage

    image = FatImage(io.BytesIO(data), name="seed")
    g = image.geometry
    root = g.root_start * g.sector_size
    return [*range(0, 64, 2), g.fat_start * g.sector_size, *range(root, root + 256, 32),
            g.cluster_offset(2)]


def _tar_hot(data: bytes) -> list[int]:
    from rpiboot.tarreader import iter_members

    headers = [m.offset - 512 for m in iter_members(io.BytesIO(data), len(data), "seed")]
    return [h + field for h in headers for field in (0, 124, 148, 156, 257, 345)]


def _tar_checksums(data: bytearray, hot: list[int]) -> None:
    """Recompute the checksum of every block that held a header in the real archive."""
    for header in sorted({offset - offset % 512 for offset in hot}):
        block = data[header:header + 512]
        if len(block) == 512:
            block[148:156] = b" " * 8
            data[header + 148:header + 156] = b"%06o\0 " % sum(block)


def _messages() -> list[bytes]:
    from rpiboot.protocol.messages import pack_file_message

    return [pack_file_message(0, b"start4.elf"), pack_file_message(1, b"config.txt"),
            pack_file_message(2, b""), pack_file_message(0, b"*MAC_ADDR*dc:a6:32:01:02:03"),
            pack_file_message(0, b"*FACTORY_UUID*19a519a6_19ab520e_1ac0212b")]


def targets(shared: Path) -> list[Target]:
    fw = shared / "firmware"
    eeproms = [(fw / f"rpi-eeprom/{chip}").glob("pieeprom-*.bin") for chip in ("2711", "2712")]
    eeprom_inputs = [p.read_bytes() for found in eeproms for p in sorted(found)]
    fat = (fw / "usbboot/secure-boot-msd/boot.img").read_bytes()
    tar = (fw / "usbboot/mass-storage-gadget64/bootfiles.bin").read_bytes()
    sig = (fw / "usbboot/secure-boot-example/boot.sig").read_bytes()
    records = [b"*FACTORY_UUID*19a519a6_19ab520e_1ac0212b", b"*MAC_ADDR*dc:a6:32:01:02:03",
               b"*USER_SERIAL_NUM*c0ffee01", b"*CUSTOMER_KEY_HASH*say \"hi\" \\ bye"]
    messages = _messages()
    return [
        Target("eeprom", eeprom_inputs, [_eeprom_hot(d) for d in eeprom_inputs], _run_eeprom,
               random_share=0.0, keep_size=0.9),
        Target("sig", [sig], [list(range(0, len(sig), 8))], _run_sig),
        Target("fat", [fat], [_fat_hot(fat)], _run_fat),
        Target("tar", [tar], [_tar_hot(tar)], _run_tar, fixup=_tar_checksums),
        Target("messages", messages, [[0, 4, 5, 8] for _ in messages], _run_messages,
               keep_size=0.9),
        Target("metadata", records, [[0, 1, 14] for _ in records], _run_metadata),
    ]
