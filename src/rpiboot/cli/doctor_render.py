"""The human form of ``rpiboot doctor``: a plain-text report to paste into an issue."""

from __future__ import annotations

import textwrap

from rpiboot.doctor.report import STAGE_NAMES, Device, Problem, Report

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

WIDTH = 100
LABEL = 10


def _size(size: int | None) -> str:
    if size is None:
        return "? bytes"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}".replace(".0 ", " ")
    return f"{size} bytes"


def _wrap(text: str, indent: int, more: int = 0) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=" " * indent,
                         subsequent_indent=" " * (indent + more)) or [" " * indent]


def _row(label: str, text: str) -> list[str]:
    lines = _wrap(text, 2 + LABEL)
    lines[0] = f"  {label:<{LABEL}}" + lines[0][2 + LABEL:]
    return lines


def host_lines(host: dict[str, Any]) -> list[str]:
    python, libusb, user = host["python"], host["libusb"], host["user"]
    system = ", ".join(p for p in (host.get("os_release"), f"kernel {host['kernel']}",
                                   host["machine"]) if p)
    if libusb["loaded"]:
        hotplug = {True: "yes", False: "no", None: "unknown"}[libusb["hotplug"]]
        usb = f"{libusb['version'] or '?'}: {libusb['description']}; hotplug: {hotplug}"
    else:
        usb = f"NOT LOADED: {libusb['error']}"
    who = f"{user['name']}" + (f" (uid {user['uid']})" if user["uid"] is not None else "")
    if user["groups"]:
        who += f", groups: {' '.join(user['groups'])}"
    if user["pending_groups"]:
        who += f" (not in this session yet: {' '.join(user['pending_groups'])})"
    lines = ["Host"]
    for label, text in (("OS", f"{host['os']}: {system}"),
                        ("Python", f"{python['version']} ({python['implementation']}) "
                                   f"{python['executable']}"),
                        ("rpiboot", host["rpiboot"]), ("libusb", usb), ("user", who),
                        ("drivers", host.get("usb_driver") or "?")):
        lines += _row(label, text)
    return lines


def _node_text(device: Device) -> str | None:
    node = device.node
    if node is None:
        return None
    you = ("read+write" if node.readable and node.writable else
           "read only" if node.readable else "NO ACCESS")
    return f"{node.path}  {node.mode} {node.owner}:{node.group}  you: {you}"


def _hubs_text(device: Device) -> str | None:
    if not device.hubs:
        return None
    parts = []
    for hub in device.hubs:
        power = {True: "self-powered", False: "bus-powered", None: "power ?"}[hub.self_powered]
        speed = f", {hub.speed:g} Mb/s" if hub.speed is not None else ""
        parts.append(f"{hub.port_path} {hub.vid_pid}"
                     + (f" {hub.product}" if hub.product else "") + f" ({power}{speed})")
    return " > ".join(parts)


def _disks_text(device: Device) -> str | None:
    if not device.block_devices:
        return None
    return "; ".join(
        f"{d.path} {_size(d.size)} {' '.join(p for p in (d.vendor, d.model) if p)}"
        + (" read-only" if d.read_only else "") for d in device.block_devices)


def device_lines(device: Device) -> list[str]:
    speed = f"{device.speed:g} Mb/s" if device.speed is not None else "speed ?"
    head = (f"  {device.port_path or '?':<9}{device.vid_pid}  {device.chip or '-':<8} "
            f"{STAGE_NAMES[device.stage]}, {speed}")
    if device.serial:
        head += f", serial {device.serial}"
    lines = [head]
    libusb = {True: "yes", False: "NO", None: None}[device.libusb_visible]
    details = (("product", device.product), ("node", _node_text(device)),
               ("driver", device.driver if device.driver else "none bound"),
               ("libusb", f"lists it: {libusb}" if libusb else None),
               ("hubs", _hubs_text(device)), ("disks", _disks_text(device)))
    for label, text in details:
        if text:
            lines += [" " * 9 + line[2:] for line in _row(label, text)]
    return lines


def permission_lines(section: dict[str, Any]) -> list[str]:
    lines = ["udev rules"]
    dirs = ", ".join(d["path"] + ("" if d["state"] == "ok" else f" ({d['state']})")
                     for d in section["rules_dirs"])
    lines += _row("read", dirs)
    for rule in section["rules"]:
        lines += _row("rule", f"{rule['file']}:{rule['line']}  {rule['rule']}")
    for cover in section["coverage"]:
        mode = " ".join(p for p in (cover["mode"] and f"mode {cover['mode']}",
                                    cover["group"] and f"group {cover['group']}",
                                    cover["uaccess"] and "uaccess") if p) or "no rule"
        you = {True: "yes", False: "NO", None: "after a new login"}[cover["grants_you"]]
        lines += _row(cover["vid_pid"], f"{mode}; you: {you} ({cover['how']})")
    if section["errors_total"]:
        first = section["errors"][0]
        lines += _row("errors", f"{section['errors_total']} line(s) udev skips, e.g. "
                                f"{first['file']}:{first['line']}: {first['error']}")
    return lines


def firmware_lines(section: dict[str, Any]) -> list[str]:
    lines = ["Firmware" + (f" (RPIBOOT_FIRMWARE_DIR={section['env']})" if section["env"] else "")]
    for root in section["roots"]:
        held = []
        if root["msd_files"]:
            held.append(f"msd: {' '.join(root['msd_files'])}")
        if root["gadget_dir"]:
            held.append("mass-storage gadget (bootfiles.bin)")
        state = "; ".join(held) if held else ("nothing usable" if root["exists"] else "missing")
        lines += _wrap(f"{root['origin']}: {root['path']}: {state}", 2, LABEL)
    default = ", ".join(f"{family}: {path or 'none'}"
                        for family, path in section["default"].items())
    lines += _row("default", default)
    sets = section["sets"]
    names = [s["name"] + (" (current)" if s["name"] == sets["current"] else "")
             for s in sets["sets"]]
    lines += _row("sets", f"{sets['path']}: " + (", ".join(names) if names else "none"))
    return lines


def problem_lines(problems: tuple[Problem, ...]) -> list[str]:
    if not problems:
        return ["No problems found."]
    counts = ", ".join(f"{sum(p.severity == s for p in problems)} {s}"
                       for s in ("error", "warning", "info")
                       if any(p.severity == s for p in problems))
    lines = [f"Problems ({counts})"]
    for problem in problems:
        lines += _wrap(f"[{problem.severity}] {problem.what}", 2, 2)
        lines += _wrap(f"fix: {problem.fix}", 4, 5)
    return lines


def render(report: Report) -> str:
    """The whole report as text."""
    sections = [["rpiboot doctor: paste all of this into your issue report"],
                host_lines(report.host)]
    devices = [f"Raspberry Pi USB devices ({len(report.devices)})"] if report.devices else [
        "Raspberry Pi USB devices: none"]
    for device in report.devices:
        devices += device_lines(device)
    sections.append(devices)
    if report.permissions is not None:
        sections.append(permission_lines(report.permissions))
    sections += [firmware_lines(report.firmware), problem_lines(report.problems)]
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"
