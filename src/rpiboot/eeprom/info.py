"""A readable summary of an EEPROM image: layout, sections, config, embedded key, signature."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

from rpiboot.chips import chip_for_eeprom_size
from rpiboot.eeprom.image import EepromImage, Section
from rpiboot.errors import InputError


@dataclass
class SectionInfo:
    offset: int
    magic: str
    kind: str
    length: int
    name: str | None


@dataclass
class ImageInfo:
    """Everything ``rpiboot eeprom info`` shows (also its --json document)."""

    path: str
    size: int
    chip: str
    layout: str
    sha256: str
    build_timestamp: int | None
    sections: list[SectionInfo] = field(default_factory=list)
    config: str | None = None
    pubkey_embedded: bool = False
    pubkey_hash: str | None = None
    config_signature: str = "absent"  # absent | placeholder | valid | invalid | malformed
    config_signature_detail: str | None = None
    update_timestamp: int | None = None
    bootcode_signatures: list[str] = field(default_factory=list)
    bootsys_signatures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def chip_label(size: int) -> str:
    """"BCM2711 (Pi 4 family)" for an image of ``size`` bytes, "unknown" for other sizes."""
    chip = chip_for_eeprom_size(size)
    return f"{chip.family} ({chip.series} family)" if chip is not None else "unknown"


def _is_placeholder(data: bytes | None) -> bool:
    return data is None or not data.strip(b"\0") or not data.strip(b"\xff")


def _signature_status(config: bytes | None, sig_data: bytes | None,
                      pubkey: bytes | None) -> tuple[str, str | None]:
    from rpiboot.signing.keys import public_key_from_bin
    from rpiboot.signing.rsa import signature_matches
    from rpiboot.signing.sigfile import parse_sig

    if _is_placeholder(sig_data):
        return ("placeholder" if sig_data is not None else "absent"), None
    assert sig_data is not None
    try:
        sig = parse_sig(sig_data, source="bootconf.sig")
    except InputError as err:
        return "malformed", err.message
    digest = hashlib.sha256(config or b"").digest()
    if sig.sha256 != digest.hex():
        return "invalid", "the sha256 line does not match bootconf.txt"
    if sig.rsa2048 is None:
        return "invalid", "bootconf.sig has no rsa2048 signature"
    if _is_placeholder(pubkey):
        return "invalid", "no public key embedded to verify it with"
    assert pubkey is not None
    try:
        key = public_key_from_bin(pubkey)
    except InputError as err:
        return "invalid", err.message
    if signature_matches(key, digest, sig.rsa2048):
        return "valid", "rsa2048 signature verifies with the embedded pubkey.bin"
    return "invalid", "rsa2048 signature does not verify with the embedded pubkey.bin"


def _section_info(section: Section) -> SectionInfo:
    return SectionInfo(section.offset, f"{section.magic:08x}", section.kind, section.length,
                       section.name)


def _update_timestamp(image: EepromImage) -> int | None:
    from rpiboot.eeprom.image import READ_ONLY_END, UPDATETIME

    section = image.find_file(UPDATETIME, lo=0, hi=READ_ONLY_END)  # where set_update_timestamp
    data = image.section_data(section) if section is not None else None  # writes it
    raw = data if data is not None and len(data) == 8 else image.data[-8:]
    inverted, value = int.from_bytes(raw[:4], "little"), int.from_bytes(raw[4:8], "little")
    return value if inverted == (~value & 0xFFFFFFFF) and value != 0xFFFFFFFF else None


def _signature_blocks(data: bytes | None) -> list[str]:
    """2712 signature blocks at the end of a second stage, outermost first."""
    from rpiboot.signing.bootcode import parse_2712_blocks

    if not data:
        return []
    return [f"{b.sig_type} keynum {b.keynum} version {b.version} "
            f"({'verifies' if b.verifies else 'DOES NOT VERIFY'})"
            for b in parse_2712_blocks(data)]


def describe(image: EepromImage) -> ImageInfo:
    """Summarise ``image``."""
    from rpiboot.signing.keys import PUBKEY_BIN_SIZE, key_hash

    config = image.read_file("bootconf.txt")
    pubkey = image.read_file("pubkey.bin")
    embedded = not _is_placeholder(pubkey) and len(pubkey or b"") >= PUBKEY_BIN_SIZE
    status, detail = _signature_status(config, image.read_file("bootconf.sig"), pubkey)
    return ImageInfo(
        path=image.source, size=image.size, chip=chip_label(image.size),
        layout="A/B (partitioned)" if image.is_ab else "single",
        sha256=hashlib.sha256(image.data).hexdigest(),
        build_timestamp=image.build_timestamp(),
        sections=[_section_info(s) for s in image.sections],
        config=None if config is None else config.decode("utf-8", errors="replace"),
        pubkey_embedded=embedded,
        pubkey_hash=key_hash(pubkey).hex() if embedded and pubkey else None,
        config_signature=status, config_signature_detail=detail,
        update_timestamp=_update_timestamp(image),
        bootcode_signatures=_signature_blocks(image.read_file("bootcode.bin")),
        bootsys_signatures=_signature_blocks(image.read_file("bootsys")))
