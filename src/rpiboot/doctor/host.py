"""The host half of the report: OS, Python, rpiboot, which libusb, and who is running."""

from __future__ import annotations

import os
import platform
import sys

from rpiboot.doctor.report import Problem
from rpiboot.record import asdict, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

DRIVER_NOTES = {
    "linux": "no driver to install: rpiboot opens boards through usbfs (/dev/bus/usb); "
             "without root it needs a udev rule",
    "darwin": "no driver to install: macOS lets any user open USB boot devices",
    "win32": "Windows needs the WinUSB driver bound to each boot device (Zadig or the "
             "Raspberry Pi rpiboot installer)",
}


@record
class UserInfo:
    """Who runs the doctor, and the groups that decide what they may open."""

    name: str
    uid: int | None
    groups: tuple[str, ...]  # of this process
    root: bool
    pending_groups: tuple[str, ...] = ()  # listed in /etc/group, not yet in this process


@record
class LibusbInfo:
    """The libusb rpiboot loads (as ``rpiboot -v`` says), or why none loads."""

    loaded: bool
    description: str | None = None
    version: str | None = None
    hotplug: bool | None = None
    error: str | None = None
    hint: str | None = None


def os_family(platform_name: str) -> str:
    """``linux``, ``darwin``, ``win32`` or the platform itself."""
    if platform_name.startswith("linux"):
        return "linux"
    if platform_name.startswith(("win", "cygwin")):
        return "win32"
    return platform_name


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def current_user() -> UserInfo:
    """The user of this process (POSIX: its groups; else just the name)."""
    if not hasattr(os, "geteuid"):
        import getpass

        return UserInfo(getpass.getuser(), None, (), False)
    import grp
    import pwd

    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    gids = sorted({os.getegid(), *os.getgroups()})
    groups = tuple(_group_name(gid) for gid in gids)
    listed = {entry.gr_name for entry in grp.getgrall() if name in entry.gr_mem}
    return UserInfo(name, uid, groups, uid == 0, tuple(sorted(listed - set(groups))))


def _os_release() -> str | None:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if line.startswith("PRETTY_NAME="):
                        return line.split("=", 1)[1].strip().strip('"')
        except OSError:
            continue
    return None


def os_description(family: str) -> str | None:
    """The distribution (Linux), macOS version or Windows edition, when known."""
    if family == "linux":
        return _os_release()
    if family == "darwin":
        release = platform.mac_ver()[0]
        return f"macOS {release}" if release else None
    if family == "win32":
        release, version, _csd, _ptype = platform.win32_ver()
        return f"Windows {release} ({version})" if release else None
    return None


def in_wsl() -> bool:
    return "microsoft" in platform.release().lower()


def libusb_info(load: Callable[[], tuple[Any, str]]) -> tuple[Any, LibusbInfo]:
    """(the pyusb backend or None, what was loaded)."""
    from rpiboot.errors import RpibootError
    from rpiboot.usb.hotplug import supports_hotplug
    from rpiboot.usb.survey import libusb_version

    try:
        backend, description = load()
    except RpibootError as err:
        return None, LibusbInfo(False, error=err.message, hint=err.hint)
    return backend, LibusbInfo(True, description, libusb_version(backend),
                               supports_hotplug(backend))


def host_section(family: str, user: UserInfo, libusb: LibusbInfo) -> dict[str, Any]:
    from rpiboot import __version__

    return {
        "os": family, "os_release": os_description(family), "kernel": platform.release(),
        "machine": platform.machine(),
        "python": {"version": platform.python_version(),
                   "implementation": platform.python_implementation(),
                   "executable": sys.executable},
        "rpiboot": __version__, "libusb": asdict(libusb), "user": asdict(user),
        "usb_driver": DRIVER_NOTES.get(family),
        "ssh": bool(os.environ.get("SSH_CONNECTION")), "wsl": family == "linux" and in_wsl(),
    }


def host_problems(family: str, libusb: LibusbInfo) -> list[Problem]:
    problems = []
    if not libusb.loaded:
        problems.append(Problem(
            "libusb-missing", "error", f"no libusb could be loaded: {libusb.error}",
            libusb.hint or "Install your system's libusb-1.0 package."))
    elif libusb.hotplug is False and family != "win32":
        problems.append(Problem(
            "no-hotplug", "info", f"{libusb.description} has no hotplug support: rpiboot "
            "polls the device list while it waits (a little more CPU, boards still boot)",
            "Nothing needed; a libusb built with udev (e.g. your distribution's) has "
            "hotplug: RPIBOOT_LIBUSB=/path/to/libusb-1.0.so.0."))
    if family == "linux" and in_wsl():
        problems.append(Problem(
            "wsl", "warning", "this is WSL: Windows owns the USB ports, so boards are "
            "invisible here until they are attached to WSL",
            "Attach the board with usbipd-win (usbipd bind/attach --busid ...) and again "
            "after each re-enumeration, or run rpiboot on Windows itself."))
    return problems
