"""``rpiboot udev install [--group G] [--dry-run] [--rules-dir DIR]`` (Linux): let the
logged-in user (or a group) use Raspberry Pi boards in USB boot mode without root.

It writes /etc/udev/rules.d/60-rpiboot.rules (atomically, mode 0644) giving access to the
Broadcom boot devices 0a5c:2763/2764/2711/2712 and the mass-storage gadget 0525:a4a5, then
reloads udev and re-applies the rules to boards already plugged in.  Needs root, except
with --dry-run, which prints the rule and the commands without changing anything.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import ExitCode, UsageError

HELP = "install the udev rule that lets users boot boards without root (Linux)"
MACOS_TEXT = ("macOS needs no udev rule and no driver: any user can open Raspberry Pi boot "
              "devices. Nothing to install.")
WINDOWS_HINT = (
    "On Windows, bind the WinUSB driver to each boot device instead: run Zadig "
    "(https://zadig.akeo.ie), Options > List All Devices, pick \"BCM2711 Boot\" (or BCM2708/"
    "BCM2710/BCM2712D0 Boot), choose WinUSB, Install Driver; or install Raspberry Pi's "
    "rpiboot for Windows. `rpiboot doctor` shows which driver each board has.")


def build_parser(prog: str = "rpiboot udev") -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=prog, description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    install = sub.add_parser("install", help="write the rule and reload udev (root)")
    install.add_argument("--group", metavar="G",
                         help='give the group G access (GROUP="G", MODE="0660") instead of '
                         'the user logged in at the computer (TAG+="uaccess")')
    install.add_argument("--dry-run", action="store_true",
                         help="print the rule and the commands; change nothing (no root)")
    install.add_argument("--rules-dir", type=Path, metavar="DIR",
                         help="write the rule there (default /etc/udev/rules.d)")
    return parser


def _other_os() -> int | None:
    """None on Linux; else the message for this OS (and the exit status)."""
    if sys.platform.startswith("linux"):
        return None
    if sys.platform == "darwin":
        print(MACOS_TEXT)
        return int(ExitCode.OK)
    raise UsageError("udev rules exist only on Linux", hint=WINDOWS_HINT
                     if sys.platform.startswith(("win", "cygwin")) else None)


def run(args: argparse.Namespace) -> int:
    """``udev install``: dry run, or write + reload (root)."""
    other = _other_os()
    if other is not None:
        return other
    from rpiboot import __version__
    from rpiboot.udev.install import install, plan_install

    plan = plan_install(args.rules_dir, args.group, version=__version__)
    if args.dry_run:
        print(f"# would write {plan.path} (mode 0644):")
        sys.stdout.write(plan.text)
        print("# then, as root:")
        for command in plan.shell_commands():
            print(command)
        return 0
    result = install(plan)
    print(f"{plan.path}: {'written' if result.changed else 'already up to date'} (mode 0644)")
    if result.udevadm is None:
        print("udevadm was not found, so udev has not loaded the rule yet. Once udev runs, "
              "load it with:\n  " + "\n  ".join(f"sudo {c}" for c in plan.shell_commands())
              + "\nor reboot; then unplug and replug the board.")
        return 0
    for ran in result.runs:
        print(f"ran: {' '.join(ran.argv)}" + ("" if ran.ok else f"  (FAILED, exit "
                                                               f"{ran.returncode}: {ran.output})"))
    if not result.reloaded:
        print("udev did not reload the rule; run the failed command again (as root), or "
              "reboot; then unplug and replug the board.", file=sys.stderr)
        return int(ExitCode.FAILED)
    who = f"members of {plan.group}" if plan.group else "the user logged in at this computer"
    print(f"udev reloaded: {who} can now boot boards without root. Unplug and replug a board "
          "that was already connected; `rpiboot doctor` checks the result.")
    _group_advice(plan.group)
    return 0


def _group_advice(group: str | None) -> None:
    """With --group, tell the user who ran sudo how to join the group if they are not in it."""
    import os

    user = os.environ.get("SUDO_USER")
    if group is None or not user or user == "root":
        return
    import grp
    import pwd

    try:
        entry = grp.getgrnam(group)
        primary = pwd.getpwnam(user).pw_gid == entry.gr_gid
    except KeyError:
        return
    if user not in entry.gr_mem and not primary:
        print(f"{user} is not in the group {group} yet: sudo usermod -aG {group} {user}, then "
              "log out and in again.")
