"""Built-in demo boards: one scenario per board type, with realistic timings.

Every preset is a bench-format scenario dict whose ``bootdir`` holds SYNTHETIC files
(random bytes, short texts): no Raspberry Pi firmware is shipped.
"""

from __future__ import annotations

import copy
from typing import Any

_AFTER_GONE = {"action": "disappear", "delay": 0.3}


def _fetch(name: str, expect: str = "present") -> dict[str, Any]:
    return {"op": "fetch", "name": name, "expect": expect}


def _missing(name: str) -> dict[str, Any]:
    return _fetch(name, "absent")


_CM4 = {
    "name": "cm4",
    "description": "CM4 (BCM2711) booting the mass-storage (msd) flow",
    "tool_args": "-d {bootdir}",
    "bootdir": {
        "bootcode4.bin": {"random": 105984},
        "start4.elf": {"random": 2 * 1024 * 1024},
    },
    "devices": [{
        "id": "cm4", "port": "1-1",
        "rom": {"pid": "2711", "serial_index": 3, "serial": "af04b2da",
                "expect_bootcode": "file:bootcode4.bin", "detach_delay": 0.2, "reenum_gap": 0.6},
        "second_stage": {
            "serial_index": 4, "serial": "b29d2da0",
            "steps": [_missing("config.txt"), _missing("pieeprom.sig"), _fetch("start4.elf"),
                      _missing("fixup4.dat"), {"op": "done"}],
            "after": _AFTER_GONE,
        },
    }],
}

_MSG64_SIZES = {"bootcode5.bin": 78332, "mcb.bin": 7092, "memsys00.bin": 40972,
                "memsys01.bin": 40972, "memsys02.bin": 40972, "memsys03.bin": 40972,
                "rp1c0fw1.bin": 16384, "bootmain": 556668}
_MSG64_MEMBERS = list(_MSG64_SIZES)
_CM5 = {
    "name": "cm5",
    "description": "CM5 (BCM2712) booting mass-storage-gadget64, then re-appearing as a USB disk",
    "tool_args": "-d {bootdir}",
    "bootdir": {
        "bootfiles.bin": {"tar": {"2712/": {"dir": True}, **{
            f"2712/{m}": {"random": size} for m, size in _MSG64_SIZES.items()}}},
        "config.txt": {"text": "[all]\nkernel=kernel8.img\narm_64bit=1\n"},
        "boot.img": {"random": 8 * 1024 * 1024},
    },
    "devices": [{
        "id": "cm5", "port": "1-1",
        "rom": {"pid": "2712", "serial_index": 3, "serial": "6e1c0f2a",
                "expect_bootcode": "tar:2712/bootcode5.bin", "status_delay": 1.5,
                "detach_delay": 0.2, "reenum_gap": 0.8},
        "second_stage": {
            "serial_index": 4, "serial": "6e1c0f2a",
            "steps": [_fetch(m, f"tar:2712/{m}") for m in _MSG64_MEMBERS[1:]]
            + [_fetch("config.txt"), _fetch("boot.img"), {"op": "done"}],
            "after": {"action": "reappear", "delay": 0.3, "gap": 0.8, "vid": "0525",
                      "pid": "a4a5", "product": "Mass Storage Gadget", "serial": "6e1c0f2a"},
        },
    }],
}

_CM3 = {
    "name": "cm3",
    "description": "CM3 (BCM2837) ROM with two interfaces (vendor interface 1, endpoint 3)",
    "tool_args": "-d {bootdir}",
    "bootdir": {
        "bootcode.bin": {"random": 52624},
        "config.txt": {"text": "gpu_mem=16\nenable_uart=1\n"},
        "start.elf": {"random": 2800000},
        "fixup.dat": {"random": 7265},
    },
    "devices": [{
        "id": "cm3", "port": "1-1",
        "rom": {"pid": "2764", "serial_index": 0, "two_interfaces": True,
                "expect_bootcode": "file:bootcode.bin", "reenum_gap": 0.6},
        "second_stage": {
            "serial_index": 1, "serial": "Broadcom",
            "steps": [_missing("autoboot.txt"), _fetch("config.txt"), _missing("recovery.elf"),
                      _fetch("start.elf"), _fetch("fixup.dat"), {"op": "done"}],
            "after": _AFTER_GONE,
        },
    }],
}

_PI_ZERO = {
    "name": "pi-zero",
    "description": "Pi Zero (BCM2835, ROM 2763) booting the legacy msd firmware",
    "tool_args": "-d {bootdir}",
    "bootdir": {"bootcode.bin": {"random": 51200}, "start.elf": {"random": 1500000}},
    "devices": [{
        "id": "pi0", "port": "1-1",
        "rom": {"pid": "2763", "serial_index": 0, "expect_bootcode": "file:bootcode.bin",
                "reenum_gap": 0.5},
        "second_stage": {
            "pid": "2764", "serial_index": 1, "serial": "Broadcom",
            "steps": [_missing("autoboot.txt"), _missing("config.txt"), _missing("recovery.elf"),
                      _fetch("start.elf"), _missing("fixup.dat"), {"op": "done"}],
            "after": _AFTER_GONE,
        },
    }],
}

_RECOVERY = {
    "name": "recovery",
    "description": "Pi 4 / CM4 EEPROM recovery with metadata records (rpiboot -j)",
    "tool_args": "-d {bootdir}",
    "bootdir": {
        "bootcode4.bin": {"random": 98304},
        "config.txt": {"text": "uart_2ndstage=1\n"},
        "pieeprom.bin": {"random": 524288},
        "pieeprom.sig": {"text": "0" * 64 + "\nts: 1700000000\n"},
    },
    "devices": [{
        "id": "pi4", "port": "1-1",
        "rom": {"pid": "2711", "serial_index": 3, "serial": "dc626c31",
                "expect_bootcode": "file:bootcode4.bin", "reenum_gap": 0.6},
        "second_stage": {
            "serial_index": 4, "serial": "dc626c31",
            "steps": [
                _fetch("config.txt"),
                {"op": "meta", "record": "MAC_ADDR*d8:3a:dd:00:11:22"},
                {"op": "meta", "record": "USER_BOARDREV*0xd03140"},
                {"op": "meta", "record": "USER_SERIAL_NUM*dc626c31"},
                {"op": "meta", "record": "FACTORY_UUID*19a519a6_19ab520e_1ac0212b"},
                {"op": "meta", "record": "EEPROM_UPDATE*1"},
                _missing("vl805.sig"), _fetch("pieeprom.sig"), _missing("pieeprom.upd"),
                _fetch("pieeprom.bin"), _missing("recover4.elf"), {"op": "done"},
            ],
            "after": _AFTER_GONE,
        },
    }],
}

PRESETS: dict[str, dict[str, Any]] = {
    p["name"]: p for p in (_CM4, _CM5, _CM3, _PI_ZERO, _RECOVERY)  # type: ignore[misc]
}


def preset(name: str) -> dict[str, Any]:
    """A copy of the preset scenario ``name`` (KeyError if unknown)."""
    return copy.deepcopy(PRESETS[name])
