"""Which udev rules give access to a USB device, and what mode, owner, group and tags they
predict for its ``/dev/bus/usb`` node.

udev reads every ``*.rules`` file of its rules directories in the order of the file names
(a name in ``/etc/udev/rules.d`` hides the same name in ``/run`` and ``/usr/lib``; a file
that is a link to ``/dev/null`` or empty disables it), and within a file, rule by rule.
:func:`predict` replays that for the "add" event of one USB device, with the values udev
knows for it (subsystem, device type, ``idVendor``, ``idProduct``).  A rule whose other
conditions cannot be known here (``KERNEL``, ``PROGRAM``, other attributes) is "maybe": it
is listed, but not applied.  The prediction explains; the real node's mode says what is.
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path

from rpiboot.record import field, record
from rpiboot.udev.rules import Rule, RulesFile, Token, read_rules_file

DEFAULT_RULES_DIRS = ("/etc/udev/rules.d", "/run/udev/rules.d", "/usr/local/lib/udev/rules.d",
                      "/usr/lib/udev/rules.d", "/lib/udev/rules.d")
RULES_DIRS_ENV = "RPIBOOT_UDEV_RULES_DIRS"  # os.pathsep-separated, highest precedence first
UACCESS_LATEST = "73-seat-late.rules"  # TAG+="uaccess" in a later file has no effect
_ACCESS_KEYS = ("MODE", "OWNER", "GROUP")
_VENDOR_KEYS = {("ATTR", "idVendor"), ("ATTRS", "idVendor"), ("SYSFS", "idVendor"),
                ("ENV", "ID_VENDOR_ID")}
_MODE = re.compile(r"0?[0-7]{3}")
# udev properties a USB device's "add" event has, whose values are not known here; any
# other ENV{...} (ID_GPHOTO2, ID_SMARTCARD_READER, ...) is taken as unset for these devices
_ENV_UNKNOWN = frozenset({
    "PRODUCT", "TYPE", "BUSNUM", "DEVNUM", "DEVNAME", "DEVPATH", "MINOR", "DRIVER", "SEQNUM",
    "ID_USB_INTERFACES", "ID_VENDOR", "ID_VENDOR_ENC", "ID_MODEL", "ID_MODEL_ENC",
    "ID_REVISION", "ID_SERIAL", "ID_SERIAL_SHORT", "ID_PATH", "ID_PATH_TAG", "ID_FOR_SEAT",
    "ID_SEAT", "ID_VENDOR_FROM_DATABASE", "ID_MODEL_FROM_DATABASE", "USEC_INITIALIZED"})


@record
class UsbId:
    """A USB vendor and product ID."""

    vid: int
    pid: int

    @property
    def vid_pid(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x}"


@record
class RuleRef:
    """One rule in one file, as ``file:line``."""

    path: str
    rule: Rule

    def __str__(self) -> str:
        return f"{self.path}:{self.rule.line}"


@record(frozen=False)
class Access:
    """What the rules predict for one device node."""

    mode: int | None = None  # None: no rule sets it (udev's default is 0600)
    owner: str | None = None
    group: str | None = None
    uaccess: bool = False
    applied: list[RuleRef] = field(default_factory=list)  # rules that set any of the above
    maybe: list[RuleRef] = field(default_factory=list)  # would set them, if they match
    late_uaccess: list[RuleRef] = field(default_factory=list)  # uaccess after seat-late
    final: set[str] = field(default_factory=set)  # keys assigned with :=


def rules_dirs() -> list[Path]:
    """udev's rules directories, highest precedence first (``$RPIBOOT_UDEV_RULES_DIRS``
    replaces them, for tests and unusual systems)."""
    env = os.environ.get(RULES_DIRS_ENV)
    names = [p for p in env.split(os.pathsep) if p] if env else list(DEFAULT_RULES_DIRS)
    return [Path(name) for name in names]


def _masked(path: Path) -> bool:
    try:
        return os.path.realpath(path) == os.devnull or path.stat().st_size == 0
    except OSError:
        return True


def rule_files(dirs: list[Path]) -> list[Path]:
    """The files udev reads, in the order it reads them."""
    chosen: dict[str, Path] = {}
    for folder in dirs:
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            if name.endswith(".rules") and name not in chosen:
                chosen[name] = folder / name
    return [chosen[name] for name in sorted(chosen) if not _masked(chosen[name])]


def load_rules(dirs: list[Path] | None = None) -> list[RulesFile]:
    """Every rules file udev would read, parsed."""
    return [read_rules_file(path) for path in rule_files(rules_dirs() if dirs is None else dirs)]


def _device_values(device: UsbId) -> dict[tuple[str, str | None], str]:
    """What udev knows of a USB device at its "add" event, by (key, attribute)."""
    vid, pid = f"{device.vid:04x}", f"{device.pid:04x}"
    return {
        ("ACTION", None): "add", ("SUBSYSTEM", None): "usb", ("SUBSYSTEMS", None): "usb",
        ("DEVTYPE", None): "usb_device", ("ENV", "DEVTYPE"): "usb_device",
        ("ENV", "SUBSYSTEM"): "usb", ("ENV", "MAJOR"): "189", ("ENV", "ID_BUS"): "usb",
        ("ATTR", "idVendor"): vid, ("ATTRS", "idVendor"): vid, ("SYSFS", "idVendor"): vid,
        ("ENV", "ID_VENDOR_ID"): vid,
        ("ATTR", "idProduct"): pid, ("ATTRS", "idProduct"): pid, ("SYSFS", "idProduct"): pid,
        ("ENV", "ID_MODEL_ID"): pid,
    }


def pattern_matches(pattern: str, value: str, *, fold: bool = False) -> bool:
    """udev's match: shell glob alternatives separated by ``|`` (case-sensitive)."""
    if fold:
        pattern, value = pattern.lower(), value.lower()
    return any(fnmatch.fnmatchcase(value, alternative) for alternative in pattern.split("|"))


def rule_verdict(rule: Rule, device: UsbId, *, fold: bool = False) -> str:
    """"yes", "no" or "maybe" (a condition that cannot be known here) for ``device``."""
    values = _device_values(device)
    verdict = "yes"
    for token in rule.tokens:
        if not token.is_match:
            continue
        value = values.get((token.key, token.attr))
        if value is None and token.key == "ENV" and token.attr not in _ENV_UNKNOWN:
            value = ""  # a property this device does not have
        if value is None:
            verdict = "maybe"
            continue
        if pattern_matches(token.value, value, fold=fold) != (token.op == "=="):
            return "no"
    return verdict


def mentions_vendor(rule: Rule, vids: set[int]) -> bool:
    """The rule tests the vendor ID and one of ``vids`` can pass that test (any case)."""
    tests = [t for t in rule.tokens if t.is_match and (t.key, t.attr) in _VENDOR_KEYS]
    return any(t.op == "==" and pattern_matches(t.value, f"{vid:04x}", fold=True)
               for t in tests for vid in vids)


def sets_access(rule: Rule) -> bool:
    return any(not t.is_match and (t.key in _ACCESS_KEYS or
                                   (t.key == "TAG" and t.value == "uaccess"))
               for t in rule.tokens)


def _assign(access: Access, token: Token) -> None:
    key = "UACCESS" if token.key == "TAG" else token.key
    if key in access.final:
        return
    if token.op == ":=":
        access.final.add(key)
    if token.key == "MODE" and _MODE.fullmatch(token.value):
        access.mode = int(token.value, 8)
    elif token.key == "OWNER":
        access.owner = token.value
    elif token.key == "GROUP":
        access.group = token.value
    elif token.key == "TAG" and token.op in ("=", ":="):
        access.uaccess = token.value == "uaccess"
    elif token.key == "TAG" and token.value == "uaccess":
        access.uaccess = token.op == "+="


def _apply(access: Access, ref: RuleRef, file_name: str) -> None:
    for token in ref.rule.tokens:
        if not token.is_match and (token.key in _ACCESS_KEYS or token.key == "TAG"):
            _assign(access, token)
    if sets_access(ref.rule):
        access.applied.append(ref)
    adds_uaccess = any(t.key == "TAG" and t.value == "uaccess" and t.op in ("+=", "=", ":=")
                       for t in ref.rule.tokens)
    if adds_uaccess and file_name > UACCESS_LATEST:
        access.late_uaccess.append(ref)


def _replay_file(access: Access, rules_file: RulesFile, device: UsbId) -> None:
    rules = rules_file.rules
    name = Path(rules_file.path).name
    index = 0
    while index < len(rules):
        rule = rules[index]
        index += 1
        verdict = rule_verdict(rule, device)
        if verdict == "no":
            continue
        ref = RuleRef(rules_file.path, rule)
        if verdict == "maybe":
            if sets_access(rule):
                access.maybe.append(ref)
            continue
        _apply(access, ref, name)
        goto = rule.assignments("GOTO")
        if goto:
            target = goto[-1].value
            later = [i for i in range(index, len(rules)) if rules[i].label == target]
            index = later[0] if later else len(rules)


def predict(files: list[RulesFile], device: UsbId) -> Access:
    """What the rules in ``files`` (in udev's order) do to ``device``'s node."""
    access = Access()
    for rules_file in files:
        _replay_file(access, rules_file, device)
    return access


def near_misses(files: list[RulesFile], device: UsbId) -> list[RuleRef]:
    """Rules that would match ``device`` if udev ignored case (``"0A5C"``): they never do."""
    found = []
    for rules_file in files:
        for rule in rules_file.rules:
            if (sets_access(rule) and mentions_vendor(rule, {device.vid})
                    and rule_verdict(rule, device) == "no"
                    and rule_verdict(rule, device, fold=True) != "no"):
                found.append(RuleRef(rules_file.path, rule))
    return found
