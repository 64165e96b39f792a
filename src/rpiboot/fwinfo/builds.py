"""Version facts that firmware files carry in their own bytes.

Bootloader code (bootcode4/5.bin, recovery.bin, bootmain, the EEPROM image) holds
``VERSION:<git8>\\0DATE: YYYY/MM/DD\\0TIME: HH:MM:SS\\0`` and ``BUILD_TIMESTAMP=<seconds>``
(what ``rpi-eeprom-update`` reads with ``strings``), and a version record ``BVER`` with the
full 40-digit git hash, the build type (``release``), the date and the time.

VideoCore firmware (start*.elf) holds NUL-terminated ``VC_BUILD_ID_<FIELD>: <value>`` strings:
VERSION (git hash and tree state, e.g. ``(clean)``), TIME (twice: time of day, then the date as
``Feb 28 2025``), BRANCH, PLATFORM, VARIANT (``start``, ``start_cd`` ...; empty in some
builds), USER and HOSTNAME (not reported).

Every pattern has bounded repetitions, so a scan is linear in the bytes scanned.
"""

from __future__ import annotations

import re

from rpiboot.errors import InputError
from rpiboot.fwinfo.model import BuildInfo

MAX_TIMESTAMP = 0xFFFFFFFF  # BUILD_TIMESTAMP is a 32-bit Unix time
_VERSION = re.compile(rb"VERSION:([0-9a-f]{8})\x00(?:DATE: (\d{4})/(\d\d)/(\d\d)\x00)?"
                      rb"(?:TIME: (\d\d:\d\d:\d\d)\x00)?")
_TIMESTAMP = re.compile(rb"BUILD_TIMESTAMP=(\d+)")
_BVER = re.compile(rb"BVER.{8}([0-9a-f]{40})\x00([a-z]{1,16})\x00(\d{4})/(\d\d)/(\d\d)\x00{1,16}"
                   rb"(\d\d:\d\d:\d\d)\x00", re.DOTALL)
_VC_FIELD = re.compile(rb"VC_BUILD_ID_([A-Z]{1,16}): ([\x20-\x7e]{1,160})\x00")
_VC_DATE = re.compile(r"([A-Z][a-z]{2}) +(\d{1,2}) (\d{4})")
_CLOCK = re.compile(r"\d\d:\d\d:\d\d")
_GIT = re.compile(r"([0-9a-f]{7,40})(?: \((\w{1,20})\))?")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_START_NAME = re.compile(r"(start|fixup)(4?)_?(x|cd|db)?\.(elf|dat)")

BOOTLOADER_MARKERS = (re.compile(rb"VERSION:[0-9a-f]{8}\x00"), re.compile(rb"BUILD_TIMESTAMP=\d"))


def looks_like_bootloader(data: bytes) -> bool:
    """The bytes carry the bootloader's VERSION: and BUILD_TIMESTAMP= strings."""
    return all(marker.search(data) for marker in BOOTLOADER_MARKERS)


def build_timestamp(data: bytes, label: str) -> int | None:
    """The first ``BUILD_TIMESTAMP=`` value; InputError naming the offset when it is not a
    32-bit Unix time."""
    match = _TIMESTAMP.search(data)
    if match is None:
        return None
    digits = match.group(1)
    if len(digits) > len(str(MAX_TIMESTAMP)) or int(digits) > MAX_TIMESTAMP:
        shown = digits[:20].decode("ascii") + ("..." if len(digits) > 20 else "")
        raise InputError(f"{label}: BUILD_TIMESTAMP at offset {match.start(1):#x} is out of "
                         f"range: {shown} (a build time is a Unix time up to {MAX_TIMESTAMP})",
                         hint="The file is damaged or was edited; use the file Raspberry Pi "
                         "released.")
    return int(digits)


def bootloader_build(data: bytes, label: str) -> BuildInfo | None:
    """The bootloader version facts in ``data``, or None when it has none."""
    timestamp = build_timestamp(data, label)
    version = _VERSION.search(data)
    record = _BVER.search(data)
    if timestamp is None and version is None and record is None:
        return None
    info = BuildInfo(source="bootloader", build_timestamp=timestamp)
    if version is not None:
        info.version = version.group(1).decode()
        if version.group(2):
            info.date = "-".join(part.decode() for part in version.group(2, 3, 4))
        info.time = version.group(5).decode() if version.group(5) else None
    if record is not None:
        git_hash = record.group(1).decode()
        if info.version is None or git_hash.startswith(info.version):
            info.git_hash = git_hash
            info.version = info.version or git_hash[:8]
            info.tree_state = record.group(2).decode()
            info.date = info.date or "-".join(part.decode() for part in record.group(3, 4, 5))
            info.time = info.time or record.group(6).decode()
    return info


def videocore_fields(data: bytes) -> dict[str, list[str]]:
    """Every non-empty ``VC_BUILD_ID_<FIELD>`` value, by field, in order."""
    found: dict[str, list[str]] = {}
    for match in _VC_FIELD.finditer(data):
        value = match.group(2).decode("ascii").strip()
        if value:
            found.setdefault(match.group(1).decode("ascii"), []).append(value)
    return found


def videocore_build(data: bytes, name: str) -> BuildInfo | None:
    """The VideoCore firmware version facts in ``data`` (None without a VC_BUILD_ID_VERSION);
    the variant from VC_BUILD_ID_VARIANT, or else from the file name ``name``."""
    fields = videocore_fields(data)
    if "VERSION" not in fields:
        return None
    info = BuildInfo(source="videocore", version=fields["VERSION"][0])
    git = _GIT.fullmatch(fields["VERSION"][0])
    if git is not None:
        info.version = git.group(1)
        info.git_hash = git.group(1) if len(git.group(1)) == 40 else None
        info.tree_state = git.group(2)
    for value in fields.get("TIME", []):
        if _CLOCK.fullmatch(value):
            info.time = info.time or value
        elif (date := iso_date(value)) is not None:
            info.date = info.date or date
    info.branch = _first(fields, "BRANCH")
    info.platform = _first(fields, "PLATFORM")
    info.variant = _first(fields, "VARIANT")
    info.variant_source = "VC_BUILD_ID_VARIANT" if info.variant else None
    if info.variant is None and (named := start_variant(name)) is not None:
        info.variant, info.variant_source = named, "file name"
    return info


def _first(fields: dict[str, list[str]], key: str) -> str | None:
    values = fields.get(key)
    return values[0] if values else None


def iso_date(text: str) -> str | None:
    """``Feb 28 2025`` (C ``__DATE__``) as ``2025-02-28``; None for anything else."""
    match = _VC_DATE.fullmatch(text)
    if match is None or match.group(1) not in _MONTHS:
        return None
    month = _MONTHS.index(match.group(1)) + 1
    return f"{match.group(3)}-{month:02d}-{int(match.group(2)):02d}"


def start_variant(name: str) -> str | None:
    """The start*.elf variant a start or fixup file name stands for: ``start_cd.elf`` and
    ``fixup_cd.dat`` → ``start_cd``; ``start4x.elf`` / ``fixup4x.dat`` → ``start4x``."""
    match = _START_NAME.fullmatch(name.lower())
    if match is None:
        return None
    four, flavour = match.group(2), match.group(3) or ""
    if four:
        return f"start4{flavour}"
    return f"start_{flavour}" if flavour else "start"
