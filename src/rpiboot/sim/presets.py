"""Built-in demo boards: one scenario per board type, with realistic timings.

Every preset is a bench-format scenario dict whose ``bootdir`` holds SYNTHETIC files
(random bytes, short texts): no Raspberry Pi firmware is shipped.  The request lists follow
the protocol spec (section 8: observed sequences) and the real usbboot folders; files marked
``required`` fail the board when the host answers size 0 (see :mod:`rpiboot.sim.requirements`
and the table in docs/simulator.md).
"""

from __future__ import annotations

import copy
from typing import Any

_AFTER_GONE = {"action": "disappear", "delay": 0.3}
# The bootloader / msd firmware that misses a file it needs gives up on this boot and resets:
# the file-server device drops off the bus (a real board may come back as its ROM and retry).
_GIVES_UP = {"action": "disappear", "delay": 0.3}
# recovery.bin carries on asking for its remaining files and sends Done (usbboot issue #214's
# log); it then halts showing the error on its LED / HDMI, which the host cannot see.
_CARRIES_ON = {"action": "continue"}
_SIG_80 = "0" * 64 + "\nts: 1700000000\n"  # an unsigned .sig: sha256 line + ts line
_SIG_602 = _SIG_80 + "rsa2048: " + "0" * 512 + "\n"  # a signed .sig (boot.sig)


def _fetch(name: str, expect: str = "present") -> dict[str, Any]:
    return {"op": "fetch", "name": name, "expect": expect}


def _missing(name: str) -> dict[str, Any]:
    return _fetch(name, "absent")


def _needed(name: str, why: str, *, expect: str = "present", group: str | None = None,
            hint: str = "") -> dict[str, Any]:
    """A fetch the second stage cannot do without (alone, or one of ``group``)."""
    step = _fetch(name, expect)
    step["required"] = group or True
    step["why"] = why
    if hint:
        step["hint"] = hint
    return step


_NO_FIRMWARE = "the firmware cannot start"
_START_HINT = "usbboot's msd/ folder has start.elf; the reference rpiboot embeds it."
_START4_HINT = ("start4.elf is a Raspberry Pi firmware file: the boot partition of Raspberry "
                "Pi OS has it; the reference rpiboot embeds it.")
_EEPROM_HINT = ("Run 'rpiboot recovery update-pieeprom' in the folder: it builds pieeprom.bin "
                "and pieeprom.sig from pieeprom.original.bin and boot.conf.")


def _eeprom_steps() -> list[dict[str, Any]]:
    """recovery.bin's update files: the image's .sig, then pieeprom.upd or pieeprom.bin."""
    return [
        _needed("pieeprom.sig", "recovery.bin cannot verify the EEPROM image and aborts "
                "with LED error code 24", hint=_EEPROM_HINT),
        _needed("pieeprom.upd", "nothing to flash", expect="absent", group="eeprom image",
                hint=_EEPROM_HINT),
        _needed("pieeprom.bin", "nothing to flash", group="eeprom image", hint=_EEPROM_HINT),
    ]


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
            "steps": [_missing("config.txt"), _missing("pieeprom.sig"),
                      _needed("start4.elf", _NO_FIRMWARE, hint=_START4_HINT),
                      _missing("fixup4.dat"), {"op": "done"}],
            "after": _AFTER_GONE,
            "on_failure": _GIVES_UP,
        },
    }],
}

_MSG64_SIZES = {"bootcode5.bin": 78332, "mcb.bin": 7092, "memsys00.bin": 40972,
                "memsys01.bin": 40972, "memsys02.bin": 40972, "memsys03.bin": 40972,
                "rp1c0fw1.bin": 16384, "bootmain": 556668}
_MSG64_MEMBERS = list(_MSG64_SIZES)
_MSG64_WHY = {"mcb.bin": "SDRAM cannot be set up", "bootmain": "the bootloader cannot run",
              **{f"memsys0{i}.bin": "SDRAM cannot be set up" for i in range(4)}}
_ARCHIVE_HINT = "It is a 2712/ member of mass-storage-gadget64's bootfiles.bin."
_GADGET_HINT = ("Use mass-storage-gadget64's boot.img (a usbboot release or 'apt install "
                "rpiboot' has it), or build one with 'rpiboot bootimg create'.")


def _msg64_member(name: str) -> dict[str, Any]:
    if name in _MSG64_WHY:
        return _needed(name, _MSG64_WHY[name], expect=f"tar:2712/{name}", hint=_ARCHIVE_HINT)
    return _fetch(name, f"tar:2712/{name}")


_CM5 = {
    "name": "cm5",
    "description": "CM5 (BCM2712) booting mass-storage-gadget64, then re-appearing as a USB disk",
    "tool_args": "-d {bootdir}",
    "bootdir": {
        "bootfiles.bin": {"tar": {"2712/": {"dir": True}, **{
            f"2712/{m}": {"random": size} for m, size in _MSG64_SIZES.items()}}},
        "config.txt": {"text": "boot_ramdisk=1\nuart_2ndstage=1\n"},  # the real folder's
        "boot.img": {"random": 8 * 1024 * 1024},
    },
    "devices": [{
        "id": "cm5", "port": "1-1",
        "rom": {"pid": "2712", "serial_index": 3, "serial": "6e1c0f2a",
                "expect_bootcode": "tar:2712/bootcode5.bin", "status_delay": 1.5,
                "detach_delay": 0.2, "reenum_gap": 0.8},
        "second_stage": {
            "serial_index": 4, "serial": "6e1c0f2a",
            "steps": [_msg64_member(m) for m in _MSG64_MEMBERS[1:]] + [
                _needed("config.txt", "without boot_ramdisk=1 the bootloader does not load "
                        "boot.img", hint="mass-storage-gadget64's config.txt has it."),
                _needed("boot.img", "the gadget's Linux kernel and initramfs are in it, so no "
                        "USB disk appears", hint=_GADGET_HINT),
                {"op": "done"}],
            "after": {"action": "reappear", "delay": 0.3, "gap": 0.8, "vid": "0525",
                      "pid": "a4a5", "product": "Mass Storage Gadget", "serial": "6e1c0f2a",
                      # what `rpiboot flash --simulate cm5` writes: its 64 MiB eMMC
                      "disks": [{"name": "emmc", "bytes": 64 * 1024 * 1024, "fill": "zero",
                                 "model": "File-Stor Gadget"}],
                      "disks_delay": 0.5},
            "on_failure": _GIVES_UP,
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
                      _needed("start.elf", _NO_FIRMWARE, hint=_START_HINT), _fetch("fixup.dat"),
                      {"op": "done"}],
            "after": _AFTER_GONE,
            "on_failure": _GIVES_UP,
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
                      _needed("start.elf", _NO_FIRMWARE, hint=_START_HINT),
                      _missing("fixup.dat"), {"op": "done"}],
            "after": _AFTER_GONE,
            "on_failure": _GIVES_UP,
        },
    }],
}


def _metadata(*records: str) -> list[dict[str, Any]]:
    return [{"op": "meta", "record": record} for record in records]


_RECOVERY = {
    "name": "recovery",
    "description": "Pi 4 / CM4 EEPROM recovery with metadata records (rpiboot -j)",
    "tool_args": "-d {bootdir}",
    "bootdir": {
        "bootcode4.bin": {"random": 98304},
        "config.txt": {"text": "# Uncomment to enable more UART debug logs\n#uart_2ndstage=1\n"},
        "pieeprom.bin": {"random": 524288},
        "pieeprom.sig": {"text": _SIG_80},
    },
    "devices": [{
        "id": "pi4", "port": "1-1",
        "rom": {"pid": "2711", "serial_index": 3, "serial": "dc626c31",
                "expect_bootcode": "file:bootcode4.bin", "reenum_gap": 0.6},
        "second_stage": {
            "serial_index": 4, "serial": "dc626c31",
            "steps": [
                _fetch("config.txt"),
                *_metadata("MAC_ADDR*d8:3a:dd:00:11:22", "USER_BOARDREV*0xd03140",
                           "USER_SERIAL_NUM*dc626c31",
                           "FACTORY_UUID*19a519a6_19ab520e_1ac0212b", "EEPROM_UPDATE*1"),
                _missing("vl805.sig"), *_eeprom_steps(),
                _missing("recover4.elf"), _missing("fixup4rc.dat"), _missing("recovery.elf"),
                _missing("fixup_rc.dat"), _fetch("start4.elf", "any"), _missing("fixup4.dat"),
                {"op": "done"},
            ],
            "after": _AFTER_GONE,
            "on_failure": _CARRIES_ON,
        },
    }],
}

# recovery5: bootcode5.bin IS the 2712 recovery.bin (usbboot's recovery5/ has no bootfiles.bin).
# The request list follows the Pi 4 one without its VL805 and start4.elf parts (no VL805 and
# no start*.elf on a Pi 5): an assumption, no device log of it was available.
_RECOVERY5 = {
    "name": "recovery5",
    "description": "Pi 5 / CM5 EEPROM recovery (recovery5) with metadata records (rpiboot -j)",
    "tool_args": "-d {bootdir}",
    "bootdir": {
        "bootcode5.bin": {"random": 105396},
        "config.txt": {"text": "uart_2ndstage=1\n"},  # what the real recovery5/ sets
        "pieeprom.bin": {"random": 2 * 1024 * 1024},
        "pieeprom.sig": {"text": _SIG_80},
    },
    "devices": [{
        "id": "pi5", "port": "1-1",
        "rom": {"pid": "2712", "serial_index": 3, "serial": "9a3f1c07",
                "expect_bootcode": "file:bootcode5.bin", "status_delay": 1.5,
                "detach_delay": 0.2, "reenum_gap": 0.8},
        "second_stage": {
            "serial_index": 4, "serial": "9a3f1c07",
            "steps": [
                _fetch("config.txt"),
                *_metadata("MAC_ADDR*2c:cf:67:00:11:22", "USER_BOARDREV*0xd04180",
                           "USER_SERIAL_NUM*9a3f1c07",
                           "FACTORY_UUID*19a519a7_32a5458f_4c97395e", "EEPROM_UPDATE*1"),
                *_eeprom_steps(),
                {"op": "done"},
            ],
            "after": _AFTER_GONE,
            "on_failure": _CARRIES_ON,
        },
    }],
}

_SIGNED_HINT = "Sign boot.img with the customer key: 'rpiboot bootimg sign -k KEY boot.img'."
_CM4_SECURE = {
    "name": "cm4-secure",
    "description": "CM4 with secure boot on, booting a signed boot.img (secure-boot-msd)",
    "tool_args": "-d {bootdir}",
    "bootdir": {
        "bootcode4.bin": {"random": 105984},
        "config.txt": {"text": "boot_ramdisk=1\nuart_2ndstage=1\n"},
        "boot.img": {"random": 2 * 1024 * 1024},
        "boot.sig": {"text": _SIG_602},
    },
    "devices": [{
        "id": "cm4s", "port": "1-1",
        "rom": {"pid": "2711", "serial_index": 3, "serial": "3b7d9e10",
                "expect_bootcode": "file:bootcode4.bin", "reenum_gap": 0.6},
        "second_stage": {
            "serial_index": 4, "serial": "3b7d9e10",
            # A locked board asks for boot.sig first and nothing else from the directory
            # (rpi-sb-provisioner issue #97's rpiboot log); it retries a few times, then
            # resets: modelled as leaving the bus at once.
            "steps": [
                _needed("boot.sig", "secure boot: only a boot.img signed with the customer "
                        "key is loaded", hint=_SIGNED_HINT),
                _needed("boot.img", "secure boot: every boot file must come from the signed "
                        "boot.img", hint="Build it with 'rpiboot bootimg create', then sign it."),
                {"op": "done"},
            ],
            "after": _AFTER_GONE,
            "on_failure": _GIVES_UP,
        },
    }],
}

PRESETS: dict[str, dict[str, Any]] = {
    p["name"]: p  # type: ignore[misc]
    for p in (_CM4, _CM5, _CM3, _PI_ZERO, _RECOVERY, _RECOVERY5, _CM4_SECURE)
}


def preset(name: str) -> dict[str, Any]:
    """A copy of the preset scenario ``name`` (KeyError if unknown)."""
    return copy.deepcopy(PRESETS[name])
