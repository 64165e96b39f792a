"""FAT directory names: 8.3 short names, NT case flags, VFAT long-name entries.

Rules (as mtools and Windows NT apply them):
* a name that is a valid 8.3 name once upper-cased, with each part all-lower or all-upper,
  is stored as a short name only; lower-case parts set NT flag 0x08 (base) / 0x10 (extension);
* a valid 8.3 name with mixed case in a part gets a long name plus the upper-cased short name;
* anything else gets a long name plus a generated short name with a numeric tail (``~1``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from rpiboot.errors import InputError

NT_LOWER_BASE = 0x08
NT_LOWER_EXT = 0x10
ATTR_LFN = 0x0F
LFN_CHARS_PER_ENTRY = 13
MAX_LFN_UNITS = 255
_SFN_SPECIAL = set("!#$%&'()-@^_`{}~")
_LFN_FORBIDDEN = set('"*/:<>?\\|')


@dataclass(frozen=True)
class DirName:
    """How one name is stored: its 11-byte short name, NT case flags and long name (or None)."""

    short: bytes
    nt_flags: int
    long_name: str | None

    @property
    def entry_count(self) -> int:
        """Directory entries this name takes (long-name entries + the short entry)."""
        return 1 + (lfn_entry_count(self.long_name) if self.long_name is not None else 0)


def lfn_entry_count(name: str) -> int:
    return -(-len(name.encode("utf-16-le")) // (2 * LFN_CHARS_PER_ENTRY))


def validate_name(name: str, where: str) -> None:
    """Raise InputError if ``name`` cannot be stored as a FAT long name."""
    problem = None
    if name in ("", ".", ".."):
        problem = "is not a file name"
    elif any(ch in _LFN_FORBIDDEN or ord(ch) < 0x20 for ch in name):
        problem = 'contains a character FAT forbids (\\ / : * ? " < > | or a control character)'
    elif name.endswith((".", " ")):
        problem = "ends with a dot or a space, which FAT drops"
    elif len(name.encode("utf-16-le", "surrogatepass")) // 2 > MAX_LFN_UNITS:
        problem = "is longer than 255 characters"
    else:
        try:
            name.encode("utf-16-le")
        except UnicodeEncodeError:
            problem = "is not valid Unicode (undecodable bytes in the file name)"
    if problem:
        raise InputError(f"{where}: name {name!r} {problem}",
                         hint="rename the file; FAT (and the Pi firmware) cannot store it")


def _sfn_char_ok(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch in _SFN_SPECIAL)


def _uniform_case(part: str) -> int | None:
    """0 = no lower-case letters, 1 = all letters lower-case, None = mixed."""
    has_lower = any(c.islower() for c in part)
    has_upper = any(c.isupper() for c in part)
    if has_lower and has_upper:
        return None
    return 1 if has_lower else 0


def _split_83(name: str) -> tuple[str, str] | None:
    """(base, ext) if ``name`` has the shape of an 8.3 name (any case), else None."""
    base, dot, ext = name.partition(".")
    if not base or len(base) > 8 or len(ext) > 3 or "." in ext or (dot and not ext):
        return None
    if not all(_sfn_char_ok(c) for c in base + ext):
        return None
    return base, ext


def pack_short(base: str, ext: str) -> bytes:
    raw = base.ljust(8).encode("ascii") + ext.ljust(3).encode("ascii")
    return b"\x05" + raw[1:] if raw[0] == 0xE5 else raw


def _basis(name: str) -> tuple[str, str]:
    """Windows/mtools basis name: upper-case, strip spaces and leading dots, '_' for others."""
    stripped = name.lstrip(".")
    base, _, ext = stripped.rpartition(".") if "." in stripped else (stripped, "", "")

    def clean(part: str) -> str:
        out = []
        for ch in part.upper():
            if ch in " .":
                continue
            out.append(ch if _sfn_char_ok(ch) else "_")
        return "".join(out)

    return clean(base) or "_", clean(ext)[:3]


def assign_names(names: Iterable[str], taken: Iterable[bytes] = ()) -> list[DirName]:
    """Short names (unique within one directory) for ``names``, in the given order.

    ``taken``: the 11-byte short names the directory already holds (when entries are added
    to an existing directory); none of them is handed out again."""
    names = list(names)
    used: set[bytes] = set(taken)
    plans: list[DirName | None] = []
    for name in names:  # first pass: names that are 8.3 as they stand keep their short name
        split = _split_83(name)
        base_case = _uniform_case(split[0]) if split else None
        ext_case = _uniform_case(split[1]) if split else None
        short = pack_short(split[0].upper(), split[1].upper()) if split else b""
        if split and base_case is not None and ext_case is not None and short not in used:
            flags = (NT_LOWER_BASE if base_case else 0) | (NT_LOWER_EXT if ext_case else 0)
            used.add(short)
            plans.append(DirName(short, flags, None))
        else:
            plans.append(None)
    result: list[DirName] = []
    for name, plan in zip(names, plans, strict=True):
        if plan is None:
            plan = _with_long_name(name, used)
            used.add(plan.short)
        result.append(plan)
    return result


def _with_long_name(name: str, used: set[bytes]) -> DirName:
    split = _split_83(name)
    if split:  # mixed case: upper-cased short name, no tail unless taken
        short = pack_short(split[0].upper(), split[1].upper())
        if short not in used:
            return DirName(short, 0, name)
    base, ext = _basis(name)
    for number in range(1, 1_000_000):
        tail = f"~{number}"
        short = pack_short(base[: 8 - len(tail)] + tail, ext)
        if short not in used:
            return DirName(short, 0, name)
    raise InputError(f"no free short name for {name!r}")  # pragma: no cover - 10^6 clashes


def sfn_checksum(short: bytes) -> int:
    total = 0
    for byte in short:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


def lfn_entries(long_name: str, short: bytes) -> bytes:
    """The long-name directory entries (in on-disk order) that precede ``short``."""
    units = long_name.encode("utf-16-le")
    count = lfn_entry_count(long_name)
    padded = units + (b"\x00\x00" if len(units) < count * 26 else b"")
    padded = padded.ljust(count * 26, b"\xff")
    checksum = sfn_checksum(short)
    out = bytearray()
    for index in range(count, 0, -1):
        chunk = padded[(index - 1) * 26: index * 26]
        ordinal = index | (0x40 if index == count else 0)
        out += struct.pack("<B10sBBB12sH4s", ordinal, chunk[:10], ATTR_LFN, 0, checksum,
                           chunk[10:22], 0, chunk[22:26])
    return bytes(out)


def decode_short(short: bytes, nt_flags: int) -> str:
    """The name a short entry shows, honouring NT case flags."""
    raw = b"\xe5" + short[1:] if short[0] == 0x05 else short
    base = raw[:8].decode("cp437").rstrip(" ")
    ext = raw[8:11].decode("cp437").rstrip(" ")
    if nt_flags & NT_LOWER_BASE:
        base = base.lower()
    if nt_flags & NT_LOWER_EXT:
        ext = ext.lower()
    return f"{base}.{ext}" if ext else base


def decode_lfn_parts(entries: list[bytes]) -> str:
    """Join long-name entries (in on-disk order) into the long name.

    Invalid UTF-16 (a lone surrogate, as a damaged or crafted image may hold) becomes U+FFFD,
    so every name can be printed, compared and written to disk."""
    units = b"".join(e[1:11] + e[14:26] + e[28:32] for e in reversed(entries))
    text = units.decode("utf-16-le", "replace")
    end = text.find("\x00")
    return text if end < 0 else text[:end]


def same_name_key(name: str) -> str:
    """The key under which FAT considers two names equal (case-insensitive)."""
    return name.upper()
