"""rpiboot's own udev rule: let the logged-in user (``TAG+="uaccess"``) or a group open the
Broadcom boot devices and the mass-storage gadget a board turns into, without root.

:func:`plan_install` says what would be written and run; :func:`install` writes the file
atomically (mode 0644) and asks udev to reload its rules and re-apply them to the devices
already plugged in.  Nothing here prints: the CLI reports what happened.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from rpiboot.chips import BROADCOM_VID, CHIPS, GADGET_FIRMWARE
from rpiboot.errors import PermissionDenied, UsageError
from rpiboot.record import record

RULE_FILE = "60-rpiboot.rules"  # before 73-seat-late.rules, which turns uaccess into ACLs
DEFAULT_RULES_DIR = Path("/etc/udev/rules.d")
GADGET_VID, GADGET_PID = 0x0525, 0xA4A5  # Linux USB mass-storage gadget (NetChip ID)
RELOAD_TIMEOUT_S = 60.0
_GROUP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")


@record
class CommandRun:
    """One udevadm command and how it ended."""

    argv: tuple[str, ...]
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@record
class InstallPlan:
    """The rule file to write and the commands that make udev use it."""

    path: Path
    text: str
    group: str | None
    commands: tuple[tuple[str, ...], ...]

    def shell_commands(self) -> list[str]:
        return [" ".join(argv) for argv in self.commands]


@record
class InstallResult:
    """What :func:`install` did."""

    plan: InstallPlan
    changed: bool  # False: the file already held exactly this rule
    udevadm: str | None  # the udevadm that was run; None when it is not installed
    runs: tuple[CommandRun, ...] = ()

    @property
    def reloaded(self) -> bool:
        return self.udevadm is not None and all(run.ok for run in self.runs)


def _access(group: str | None) -> str:
    return f'MODE="0660", GROUP="{group}"' if group else 'TAG+="uaccess"'


def rule_text(group: str | None = None, *, version: str = "") -> str:
    """The rules file: one rule for the boot ROM / second stage PIDs, one for the gadget."""
    pids = "|".join(f"{pid:04x}" for pid in sorted(CHIPS))
    who = f"members of the group {group}" if group else "the user logged in at this computer"
    by = f" (rpiboot {version})" if version else ""
    families = ", ".join(chip.family for chip in CHIPS.values())
    return (
        f"# Written by `rpiboot udev install`{by}: lets {who}\n"
        "# use Raspberry Pi boards in USB boot mode without root.  `rpiboot doctor` checks it.\n"
        f"# Broadcom boot ROM and second stage ({families})\n"
        f'SUBSYSTEM=="usb", ATTR{{idVendor}}=="{BROADCOM_VID:04x}", '
        f'ATTR{{idProduct}}=="{pids}", {_access(group)}\n'
        f"# the USB mass-storage gadget a board becomes (usbboot's {GADGET_FIRMWARE})\n"
        f'SUBSYSTEM=="usb", ATTR{{idVendor}}=="{GADGET_VID:04x}", '
        f'ATTR{{idProduct}}=="{GADGET_PID:04x}", {_access(group)}\n')


def reload_commands(udevadm: str = "udevadm") -> tuple[tuple[str, ...], ...]:
    """Reload the rules, then re-apply them to the boards already plugged in."""
    trigger = (udevadm, "trigger", "--subsystem-match=usb")
    return ((udevadm, "control", "--reload-rules"),
            (*trigger, f"--attr-match=idVendor={BROADCOM_VID:04x}"),
            (*trigger, f"--attr-match=idVendor={GADGET_VID:04x}"))


def check_group(group: str) -> None:
    """UsageError unless ``group`` is a group name this system knows."""
    if not _GROUP_NAME.fullmatch(group):
        raise UsageError(f"--group {group!r} is not a valid group name",
                         hint="Give an existing group such as plugdev or dialout.")
    try:
        import grp

        grp.getgrnam(group)
    except ImportError:  # not a POSIX system: nothing to check against
        return
    except KeyError:
        raise UsageError(f"--group {group}: no such group on this system",
                         hint=f"Create it first (sudo groupadd {group}), or choose an "
                         "existing one such as plugdev.") from None


def plan_install(rules_dir: Path | None = None, group: str | None = None, *,
                 version: str = "") -> InstallPlan:
    """What ``rpiboot udev install`` writes (``rules_dir``: default /etc/udev/rules.d)."""
    if group is not None:
        check_group(group)
    folder = DEFAULT_RULES_DIR if rules_dir is None else Path(rules_dir)
    return InstallPlan(folder / RULE_FILE, rule_text(group, version=version), group,
                       reload_commands())


def _current(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _run(argv: tuple[str, ...]) -> CommandRun:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False,
                              timeout=RELOAD_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return CommandRun(argv, 127, str(exc))
    return CommandRun(argv, done.returncode, (done.stderr or done.stdout or "").strip())


def install(plan: InstallPlan) -> InstallResult:
    """Write the rule (atomically, mode 0644) and reload udev.  PermissionDenied unless run
    as root; a missing udevadm is reported in the result, not raised."""
    from rpiboot.fsutil import atomic_write, make_dirs

    if not hasattr(os, "geteuid"):
        raise UsageError("udev rules exist only on Linux")
    if os.geteuid() != 0:
        raise PermissionDenied(
            f"writing {plan.path} needs root",
            hint="Run it with sudo: sudo rpiboot udev install"
            + (f" --group {plan.group}" if plan.group else "")
            + "\n(--dry-run prints the rule and the commands without changing anything)")
    changed = _current(plan.path) != plan.text
    if changed:
        make_dirs(plan.path.parent, what="udev rules folder")
        atomic_write(plan.path, plan.text.encode(), mode=0o644)
    udevadm = shutil.which("udevadm")
    if udevadm is None:
        return InstallResult(plan, changed, None)
    runs: list[CommandRun] = []
    for argv in reload_commands(udevadm):
        runs.append(_run(argv))
        if not runs[-1].ok:
            break
    return InstallResult(plan, changed, udevadm, tuple(runs))
