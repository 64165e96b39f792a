"""Linux permissions: can this user open the boards' USB nodes, which udev rules decide it,
and what to do when the answer is no."""

from __future__ import annotations

import os
from pathlib import Path

from rpiboot.chips import BROADCOM_VID, CHIPS
from rpiboot.doctor.host import UserInfo
from rpiboot.doctor.report import GADGET_ID, Device, Problem
from rpiboot.record import record
from rpiboot.udev.coverage import (
    Access,
    UsbId,
    load_rules,
    mentions_vendor,
    near_misses,
    predict,
    rule_verdict,
    rules_dirs,
    sets_access,
)
from rpiboot.udev.rules import RulesFile

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

INSTALL = "sudo rpiboot udev install"
REPLUG = "then unplug and replug the board (or: sudo udevadm trigger --subsystem-match=usb)"
MAX_LISTED_ERRORS = 20


@record
class Grant:
    """Whether the predicted node lets the user in, and why (or why not)."""

    granted: bool | None  # None: it would, after logging in again
    how: str


def boot_ids() -> list[UsbId]:
    return [UsbId(BROADCOM_VID, pid) for pid in sorted(CHIPS)] + [UsbId(*GADGET_ID)]


def grant_for(access: Access, user: UserInfo, *, ssh: bool) -> Grant:
    """What ``access`` (as the rules predict it) means for ``user``."""
    if user.root:
        return Grant(True, "you are root")
    if access.uaccess and not access.late_uaccess:
        if ssh:
            return Grant(False, "uaccess (TAG+=\"uaccess\") covers only the user at this "
                         "computer's seat, and you are logged in over SSH")
        return Grant(True, "uaccess: the user logged in at this computer")
    mode = access.mode if access.mode is not None else 0o600
    owner, group = access.owner or "root", access.group or "root"
    if owner == user.name and mode & 0o600 == 0o600:
        return Grant(True, f"owner {owner}, mode {mode:04o}")
    if mode & 0o060 == 0o060 and group in user.groups:
        return Grant(True, f"group {group} (you are a member), mode {mode:04o}")
    if mode & 0o060 == 0o060 and group in user.pending_groups:
        return Grant(None, f"group {group}: you were added to it, but this login session "
                     "started before")
    if mode & 0o006 == 0o006:
        return Grant(True, f"mode {mode:04o}: everyone")
    return Grant(False, f"mode {mode:04o}, owner {owner}, group {group}: not you")


def opens_to_users(access: Access) -> bool:
    """The predicted node lets someone other than root open it (read and write)."""
    mode = access.mode if access.mode is not None else 0o600
    return (access.uaccess and not access.late_uaccess) or mode & 0o006 == 0o006 or (
        mode & 0o060 == 0o060 and access.group not in (None, "root")) or (
        mode & 0o600 == 0o600 and access.owner not in (None, "root"))


def _coverage(files: list[RulesFile], device: UsbId, user: UserInfo, ssh: bool
              ) -> dict[str, Any]:
    access = predict(files, device)
    grant = grant_for(access, user, ssh=ssh)
    return {
        "opens_to_users": opens_to_users(access),
        "vid_pid": device.vid_pid,
        "mode": f"{access.mode:04o}" if access.mode is not None else None,
        "owner": access.owner, "group": access.group, "uaccess": access.uaccess,
        "rules": [str(ref) for ref in access.applied],
        "maybe": [str(ref) for ref in access.maybe if mentions_vendor(ref.rule, {device.vid})],
        "grants_you": grant.granted, "how": grant.how,
    }


def _vendor_rules(files: list[RulesFile]) -> list[dict[str, Any]]:
    vids = {BROADCOM_VID, GADGET_ID[0]}
    listed = []
    for rules_file in files:
        for rule in rules_file.rules:
            if mentions_vendor(rule, vids):
                matches = [i.vid_pid for i in boot_ids() if rule_verdict(rule, i) != "no"]
                listed.append({"file": rules_file.path, "line": rule.line, "rule": str(rule),
                               "sets_access": sets_access(rule), "matches": matches})
    return listed


def folder_state(folder: Path) -> str:
    """``ok``, ``missing`` or ``unreadable`` (its rules cannot be checked)."""
    try:
        os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError:
        return "unreadable"
    return "ok"


def permissions_section(user: UserInfo, files: list[RulesFile] | None = None
                        ) -> tuple[dict[str, Any], list[Problem]]:
    """The ``permissions`` object of the report and the problems its rules show."""
    dirs = rules_dirs()
    files = load_rules(dirs) if files is None else files
    ssh = bool(os.environ.get("SSH_CONNECTION"))
    coverage = [_coverage(files, device, user, ssh) for device in boot_ids()]
    errors = [{"file": f.path, "line": e.line, "column": e.column, "error": e.message}
              for f in files for e in f.errors]
    states = [{"path": str(d), "state": folder_state(d)} for d in dirs]
    section: dict[str, Any] = {
        "rules_dirs": states, "rules": _vendor_rules(files), "coverage": coverage,
        "errors": errors[:MAX_LISTED_ERRORS], "errors_total": len(errors),
    }
    problems = [Problem("rules-unreadable", "info", f"cannot read {d['path']}: the udev rules "
                        "in it are not part of this report",
                        "Run rpiboot doctor as root (sudo) to include them.")
                for d in states if d["state"] == "unreadable"]
    return section, problems + _rule_problems(files, coverage, user)


def _rule_problems(files: list[RulesFile], coverage: list[dict[str, Any]], user: UserInfo
                   ) -> list[Problem]:
    problems = []
    for device in boot_ids():
        for ref in near_misses(files, device):
            problems.append(Problem(
                "udev-rule-never-matches", "warning",
                f"udev rule {ref} never matches {device.vid_pid}: udev compares case-"
                f"sensitively and sysfs writes IDs in lower case ({device.vid:04x})",
                f"Write the IDs in lower case in {ref.path}, or remove it and run {INSTALL}."))
        for ref in predict(files, device).late_uaccess:
            problems.append(Problem(
                "udev-uaccess-too-late", "warning",
                f"udev rule {ref} adds the uaccess tag after 73-seat-late.rules has run, so "
                "it has no effect", f"Rename the file to sort before 73 (e.g. 60-...), or "
                f"run {INSTALL}."))
    boot = [c for c in coverage if c["vid_pid"] != "0525:a4a5"]
    if not any(c["opens_to_users"] for c in boot):
        severity = "info" if user.root else "warning"
        problems.append(Problem(
            "no-udev-rule", severity, "no udev rule gives access to Raspberry Pi boot devices "
            "(0a5c:2763/2764/2711/2712): only root can boot boards here",
            f"Run {INSTALL} (or --group GROUP for a group), {REPLUG}."))
    return _unique(problems)


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str]] = set()
    kept = []
    for problem in problems:
        if (problem.id, problem.what) not in seen:
            seen.add((problem.id, problem.what))
            kept.append(problem)
    return kept


def node_problems(devices: list[Device], coverage: list[dict[str, Any]], user: UserInfo
                  ) -> list[Problem]:
    """A board whose node this user cannot open, and why; a gadget disk they cannot write."""
    by_id = {c["vid_pid"]: c for c in coverage}
    problems = []
    for device in devices:
        node = device.node
        if device.stage in ("rom", "fileserver") and node is not None and not (
                node.readable and node.writable):
            problems.append(_denied(device, by_id.get(device.vid_pid), user))
        if device.stage == "gadget" and not user.root:
            for disk in device.block_devices:
                if disk.writable is False:
                    problems.append(Problem(
                        "disk-not-writable", "info",
                        f"you ({user.name}) cannot write {disk.path}, the disk the board "
                        "exports (writing an image to it needs that)",
                        "Use sudo for the tool that writes the image (dd, bmaptool, rpi-"
                        "imager), or join the disk's group (often 'disk': full access to "
                        "every disk).", device.port_path))
    return problems


def _denied_fix(coverage: dict[str, Any] | None, user: UserInfo) -> str:
    if coverage is None:
        return f"Run {INSTALL}, {REPLUG}; or run rpiboot as root."
    granted, rules, group = coverage["grants_you"], ", ".join(coverage["rules"]), coverage["group"]
    if granted is None:
        return (f"{coverage['how']}: log out and in again (or run `newgrp {group}`), then "
                "replug the board.")
    if granted:
        return (f"The udev rules ({rules}) would let you in, but this node was made before "
                f"they were loaded: {REPLUG}.")
    if "SSH" in coverage["how"]:
        return ("Over SSH, give a group access instead: sudo rpiboot udev install --group "
                f"plugdev; sudo usermod -aG plugdev {user.name}; log in again; replug the board.")
    if group and coverage["rules"] and not coverage["uaccess"]:
        return (f"The udev rules ({rules}) give the group {group} access and you are not in "
                f"it: sudo usermod -aG {group} {user.name}, log out and in again, then replug "
                "the board.")
    return f"Run {INSTALL}, {REPLUG}; or run rpiboot as root."


def _denied(device: Device, coverage: dict[str, Any] | None, user: UserInfo) -> Problem:
    node = device.node
    assert node is not None
    what = (f"{device.label}, {device.stage}: you ({user.name}) cannot open {node.path} "
            f"(mode {node.mode}, {node.owner}:{node.group}), so rpiboot cannot boot it")
    return Problem("permission-denied", "error", what, _denied_fix(coverage, user),
                   device.port_path)
