"""The chip table: its lookups, and that every consumer reads it instead of its own copy."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from rpiboot import chips
from rpiboot.chips import (
    CHIPS,
    GADGET_FIRMWARE,
    MSD_FIRMWARE,
    ROM_SERIAL_INDICES,
    BootcodeSignature,
    Chip,
    builtin_msd_names,
    chip_for,
    chip_for_bootcode_signature,
    chip_for_eeprom_size,
    chip_for_family,
    chip_for_prefix,
    eeprom_chips,
    eeprom_sizes,
    is_rom_stage,
    size_text,
)
from rpiboot.record import FrozenRecordError

SRC = Path(__file__).resolve().parents[2] / "src" / "rpiboot"


def test_table_rows_are_frozen_and_keyword_only() -> None:
    chip = CHIPS[0x2711]
    with pytest.raises(FrozenRecordError):
        chip.prefix = "2712"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Chip(0x2711, "BCM2711")  # type: ignore[misc]
    assert all(pid == chip.pid for pid, chip in CHIPS.items())


def test_public_names_the_boot_engine_uses() -> None:
    cm4, cm5 = CHIPS[0x2711], CHIPS[0x2712]
    assert (cm4.family, cm4.prefix, cm4.second_stage) == ("BCM2711", "2711", "bootcode4.bin")
    assert (cm5.family, cm5.prefix, cm5.second_stage) == ("BCM2712", "2712", "bootcode5.bin")
    assert [c.builtin_msd for c in CHIPS.values()] == [True, True, True, False]
    assert [c.signed_boot_message for c in CHIPS.values()] == [True, True, False, False]
    assert chips.BROADCOM_VID == 0x0A5C and chip_for(0x2712) is cm5 and chip_for(0x1234) is None
    assert frozenset({0, 3}) == ROM_SERIAL_INDICES
    assert is_rom_stage(0) and is_rom_stage(3) and not is_rom_stage(1) and not is_rom_stage(4)


def test_lookups() -> None:
    cm4, cm5 = CHIPS[0x2711], CHIPS[0x2712]
    assert chip_for_family("BCM2712") is cm5 and chip_for_family("bcm2711") is cm4
    assert chip_for_family("BCM9999") is None
    assert chip_for_prefix("2711") is cm4 and chip_for_prefix("2712") is cm5
    assert chip_for_prefix("2710") is None  # shared by BCM2835 and BCM2837
    assert chip_for_eeprom_size(512 * 1024) is cm4 and chip_for_eeprom_size(2 << 20) is cm5
    assert chip_for_eeprom_size(1 << 20) is None
    assert chip_for_bootcode_signature(BootcodeSignature.RSA_SHA256_BLOCK) is cm5
    assert chip_for_bootcode_signature(BootcodeSignature.RSA_SHA1_HMAC) is cm4
    assert chip_for_bootcode_signature(BootcodeSignature.NONE) is None
    assert eeprom_chips() == (cm4, cm5) and eeprom_sizes() == (524288, 2097152)
    assert builtin_msd_names() == {"bootcode.bin", "bootcode4.bin", "start.elf", "start4.elf"}
    assert (cm4.gadget_firmware, cm5.gadget_firmware) == (GADGET_FIRMWARE, GADGET_FIRMWARE)
    assert CHIPS[0x2763].gadget_firmware == MSD_FIRMWARE
    assert (cm5.recovery_dir, cm5.secure_recovery_dir) == ("recovery5", "secure-boot-recovery5")
    assert (size_text(524288), size_text(2097152), size_text(1000)) == (
        "512 KiB", "2 MiB", "1000 bytes")


def test_consumers_hold_the_table_values() -> None:
    from rpiboot import firmware, sources
    from rpiboot.eeprom import image, info
    from rpiboot.recovery import prepare, update

    assert set(firmware._MSD_FILES) == sources.BUILTIN_MSD_NAMES == builtin_msd_names()
    assert (firmware.MSD, firmware.GADGET) == (MSD_FIRMWARE, GADGET_FIRMWARE)
    assert eeprom_sizes() == image.IMAGE_SIZES
    assert info.chip_label(2097152) == "BCM2712 (Pi 5 family)"
    assert update.countersign_chip() is CHIPS[0x2712]
    for name, flow in prepare.FLOWS.items():
        assert name in (flow.chip.recovery_dir, flow.chip.secure_recovery_dir)
        assert (flow.image_size, flow.second_stage) == (flow.chip.eeprom_size,
                                                        flow.chip.second_stage)


# -- nobody else keeps chip facts ---------------------------------------------------------------

TELLING_PIDS = {0x2763, 0x2764, 0x2711, 0x2712, 2710, 2711, 2712}  # USB PIDs, chip numbers
TELLING_SIZES = {512 * 1024, 2 * 1024 * 1024}  # EEPROM image sizes
SIZE_FREE = ("bootimg",)  # FAT geometry has its own 512 MiB (in KiB) threshold
TELLING_NAMES = {  # a whole string constant that is one of these is a chip fact
    "2710", "2711", "2712", "BCM2835", "BCM2837", "BCM2711", "BCM2712", MSD_FIRMWARE,
    "recovery5", "secure-boot-recovery", "secure-boot-recovery5"}
TELLING_TEXT = ("bootcode4.bin", "bootcode5.bin", "start4.elf", GADGET_FIRMWARE)  # inside a text
PROSE_KEYWORDS = {"help", "description", "epilog"}  # argparse help text may name the files


def _int_value(node: ast.AST) -> int | None:
    """The value of an int literal or of a constant product/sum/shift such as 2 * 1024 * 1024."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Add, ast.LShift)):
        left, right = _int_value(node.left), _int_value(node.right)
        if left is not None and right is not None:
            return left * right if isinstance(node.op, ast.Mult) else (
                left + right if isinstance(node.op, ast.Add) else left << right)
    return None


def _skipped_strings(tree: ast.AST) -> set[int]:
    """ids of docstrings and of argparse help texts."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skipped.add(id(body[0].value))
        if isinstance(node, ast.keyword) and node.arg in PROSE_KEYWORDS:
            skipped.update(id(sub) for sub in ast.walk(node.value))
    return skipped


def _chip_facts(path: Path, root: Path = SRC) -> Iterator[str]:
    tree = ast.parse(path.read_text(), str(path))
    skipped = _skipped_strings(tree)
    telling = TELLING_PIDS | (set() if path.relative_to(root).parts[0] in SIZE_FREE
                              else TELLING_SIZES)
    for node in ast.walk(tree):
        where = f"{path.relative_to(root)}:{getattr(node, 'lineno', '?')}"
        value = _int_value(node)
        if value in telling:
            yield f"{where}: {value} ({value:#x})"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in skipped:
            if node.value in TELLING_NAMES:
                yield f"{where}: {node.value!r}"
            yield from (f"{where}: {name!r} in {node.value[:50]!r}" for name in TELLING_TEXT
                        if name in node.value)


def test_no_module_outside_chips_and_sim_hard_codes_chip_facts() -> None:
    modules = [p for p in SRC.rglob("*.py")
               if p != SRC / "chips.py" and SRC / "sim" not in p.parents]
    assert len(modules) > 40
    found = [fact for path in sorted(modules) for fact in _chip_facts(path)]
    assert found == [], "read these from rpiboot.chips:\n" + "\n".join(found)


def test_the_fact_finder_finds_facts(tmp_path: Path) -> None:
    path = tmp_path / "sample.py"
    path.write_text('"""bootcode5.bin in a docstring is prose."""\n'
                    "SIZE = 2 * 1024 * 1024\nPID = 0x2712\n"
                    'NAME = "bootcode5.bin"\nPREFIX = "2711"\n'
                    'HINT = f"see {PID} in bootcode5.bin"\n'
                    'parser.add_argument("-f", help="writes bootcode5.bin")\n')
    facts = list(_chip_facts(path, tmp_path))
    assert [fact.split(":")[1] for fact in facts] == ["2", "3", "4", "5", "6"], facts
