"""Short names, NT case flags and VFAT long-name entries."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.bootimg.names import (
    NT_LOWER_BASE,
    NT_LOWER_EXT,
    assign_names,
    decode_lfn_parts,
    decode_short,
    lfn_entries,
    sfn_checksum,
    validate_name,
)
from rpiboot.errors import InputError


@pytest.mark.parametrize(("name", "short", "flags", "has_lfn"), [
    ("config.txt", b"CONFIG  TXT", NT_LOWER_BASE | NT_LOWER_EXT, False),
    ("START4.ELF", b"START4  ELF", 0, False),
    ("readme.TXT", b"README  TXT", NT_LOWER_BASE, False),
    ("overlays", b"OVERLAYS   ", NT_LOWER_BASE, False),
    ("Mixed.txt", b"MIXED   TXT", 0, True),              # spec: LFN + SFN without a tail
    ("bcm2711-rpi-4-b.dtb", b"BCM271~1DTB", 0, True),    # the examples of spec §3.4
    ("initramfs8", b"INITRA~1   ", 0, True),
    ("dwc2.dtbo", b"DWC2~1  DTB", 0, True),
    (".hidden", b"HIDDEN~1   ", 0, True),
    ("a b.txt", b"AB~1    TXT", 0, True),
    ("v1.2.3", b"V12~1   3  ", 0, True),
])
def test_short_names_like_mtools(name: str, short: bytes, flags: int, has_lfn: bool) -> None:
    (planned,) = assign_names([name])
    assert planned.short == short
    assert planned.nt_flags == flags
    assert (planned.long_name is not None) == has_lfn


def test_tails_count_up_and_skip_taken_names() -> None:
    planned = assign_names(["long_name_a.txt", "long_name_b.txt", "LONG_N~1.TXT"])
    assert [p.short for p in planned] == [b"LONG_N~2TXT", b"LONG_N~3TXT", b"LONG_N~1TXT"]


def test_checksum_known_value() -> None:
    # Worked by hand from the rotate-right-and-add definition for "A          ".
    total = 0
    for byte in b"A          ":
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    assert sfn_checksum(b"A          ") == total
    assert sfn_checksum(b"MIXED   TXT") == 0x46  # mtools wrote 0x46 for Mixed.txt (spec tree)


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a:b", 'q"', "tab\t", "dot.", "sp ",
                                 "x" * 256])
def test_unstorable_names_are_refused(bad: str) -> None:
    with pytest.raises(InputError):
        validate_name(bad, "somewhere")


name_chars = st.characters(blacklist_characters='"*/:<>?\\|', min_codepoint=0x20,
                           blacklist_categories=("Cs",))


@st.composite
def fat_names(draw: st.DrawFn) -> str:
    name = draw(st.text(name_chars, min_size=1, max_size=40))
    name = name.rstrip(". ")
    if name in ("", ".", ".."):
        name = "x"
    return name


@settings(max_examples=150, deadline=None)
@given(st.lists(fat_names(), max_size=30, unique_by=str.upper))
def test_assigned_names_are_unique_and_decode_back(names: list[str]) -> None:
    planned = assign_names(names)
    shorts = [p.short for p in planned]
    assert len(set(shorts)) == len(shorts)
    for name, plan in zip(names, planned, strict=True):
        assert len(plan.short) == 11
        if plan.long_name is None:
            assert decode_short(plan.short, plan.nt_flags) == name
        else:
            raw = lfn_entries(name, plan.short)
            entries = [raw[i:i + 32] for i in range(0, len(raw), 32)]
            assert entries[0][0] & 0x40
            assert all(e[11] == 0x0F and e[13] == sfn_checksum(plan.short) for e in entries)
            assert decode_lfn_parts(entries) == name
