"""What udev rules predict for a boot device's node, file order and precedence included,
and what that means for a user."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rpiboot.doctor.host import UserInfo
from rpiboot.doctor.permissions import grant_for
from rpiboot.udev.coverage import (
    RULES_DIRS_ENV,
    Access,
    UsbId,
    load_rules,
    near_misses,
    predict,
    rule_files,
    rule_verdict,
    rules_dirs,
)
from rpiboot.udev.install import rule_text
from rpiboot.udev.rules import parse_rules

CM4 = UsbId(0x0A5C, 0x2711)
GADGET = UsbId(0x0525, 0xA4A5)
DEFAULT_664 = 'SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", MODE="0664"\n'
ALICE = UserInfo("alice", 1000, ("alice", "plugdev"), False)


def _dirs(tmp_path: Path, files: dict[str, str]) -> list[Path]:
    """etc/, run/, lib/ rules folders (highest precedence first) holding ``files``
    ("etc/60-x.rules": text; text "->null" makes a link to /dev/null)."""
    dirs = [tmp_path / name for name in ("etc", "run", "lib")]
    for folder in dirs:
        folder.mkdir()
    for name, text in files.items():
        path = tmp_path / name
        if text == "->null":
            path.symlink_to(os.devnull)
        else:
            path.write_text(text)
    return dirs


def test_files_are_read_by_name_and_etc_hides_lib(tmp_path: Path) -> None:
    dirs = _dirs(tmp_path, {"lib/50-default.rules": DEFAULT_664, "lib/60-rpiboot.rules": "x",
                            "etc/60-rpiboot.rules": rule_text(), "run/55-mid.rules": "",
                            "lib/70-off.rules": "y", "etc/70-off.rules": "->null",
                            "etc/readme.txt": "not a rules file"})
    assert rule_files(dirs) == [tmp_path / "lib/50-default.rules",
                                tmp_path / "etc/60-rpiboot.rules"]


def test_our_rule_gives_the_logged_in_user_uaccess(tmp_path: Path) -> None:
    dirs = _dirs(tmp_path, {"lib/50-default.rules": DEFAULT_664,
                            "etc/60-rpiboot.rules": rule_text()})
    for device in (CM4, UsbId(0x0A5C, 0x2712), UsbId(0x0A5C, 0x2763), GADGET):
        access = predict(load_rules(dirs), device)
        assert (access.mode, access.uaccess) == (0o664, True)
        assert [str(ref) for ref in access.applied] == [
            f"{tmp_path}/lib/50-default.rules:1", f"{tmp_path}/etc/60-rpiboot.rules:4"
            if device != GADGET else f"{tmp_path}/etc/60-rpiboot.rules:6"]
    other = predict(load_rules(dirs), UsbId(0x0A5C, 0x21E8))  # a Broadcom Bluetooth chip
    assert other.uaccess is False


def test_a_group_rule_sets_mode_and_group() -> None:
    access = predict([parse_rules(rule_text("plugdev"), "/etc/udev/rules.d/60-rpiboot.rules")],
                     CM4)
    assert (access.mode, access.group, access.uaccess) == (0o660, "plugdev", False)


def test_goto_skips_to_its_label_and_final_assignments_stick() -> None:
    text = ('SUBSYSTEM!="usb", GOTO="end"\n'
            'ATTR{idVendor}=="0a5c", GOTO="end"\n'
            'MODE="0666"\n'
            'LABEL="end"\n'
            'ATTR{idVendor}=="0a5c", GROUP:="dialout"\n'
            'GROUP="users"\n')
    access = predict([parse_rules(text, "/x/60-a.rules")], CM4)
    assert (access.mode, access.group) == (None, "dialout")
    assert predict([parse_rules(text, "/x/60-a.rules")], GADGET).mode == 0o666


def test_unknown_conditions_are_maybe_not_applied() -> None:
    text = 'ATTR{idVendor}=="0a5c", KERNEL=="1-1*", MODE="0666"\n'
    access = predict([parse_rules(text, "/x/60-a.rules")], CM4)
    assert access.mode is None and [str(r) for r in access.maybe] == ["/x/60-a.rules:1"]
    assert rule_verdict(parse_rules(text).rules[0], GADGET) == "no"
    # an ENV property such devices do not have counts as empty, so this is a clear "no"
    camera = parse_rules('ENV{ID_GPHOTO2}=="?*", TAG+="uaccess"').rules[0]
    assert rule_verdict(camera, CM4) == "no"


def test_upper_case_ids_never_match_and_are_called_out() -> None:
    files = [parse_rules('SUBSYSTEM=="usb", ATTR{idVendor}=="0A5C", MODE="0666"', "/e/61.rules")]
    assert predict(files, CM4).mode is None
    assert [str(ref) for ref in near_misses(files, CM4)] == ["/e/61.rules:1"]
    assert near_misses([parse_rules(rule_text(), "/e/60.rules")], CM4) == []


def test_uaccess_after_seat_late_has_no_effect() -> None:
    access = predict([parse_rules(rule_text(), "/etc/udev/rules.d/99-rpiboot.rules")], CM4)
    assert access.uaccess and [str(r) for r in access.late_uaccess] == [
        "/etc/udev/rules.d/99-rpiboot.rules:4"]
    assert grant_for(access, ALICE, ssh=False).granted is False


def test_the_rules_dirs_can_be_replaced(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(RULES_DIRS_ENV, raising=False)
    assert rules_dirs()[0] == Path("/etc/udev/rules.d")
    monkeypatch.setenv(RULES_DIRS_ENV, os.pathsep.join([str(tmp_path / "a"), "", "/b"]))
    assert rules_dirs() == [tmp_path / "a", Path("/b")]


@pytest.mark.parametrize(("access", "user", "ssh", "granted", "how"), [
    (Access(), UserInfo("root", 0, ("root",), True), False, True, "you are root"),
    (Access(mode=0o664, uaccess=True), ALICE, False, True, "uaccess"),
    (Access(mode=0o664, uaccess=True), ALICE, True, False, "SSH"),
    (Access(mode=0o660, group="plugdev"), ALICE, False, True, "group plugdev"),
    (Access(mode=0o660, group="dialout"), UserInfo("alice", 1000, ("alice",), False,
                                                   ("dialout",)), False, None, "log"),
    (Access(mode=0o660, group="dialout"), ALICE, False, False, "not you"),
    (Access(mode=0o666), ALICE, False, True, "everyone"),
    (Access(mode=0o664), ALICE, False, False, "mode 0664"),
    (Access(), ALICE, False, False, "mode 0600"),
])
def test_what_a_prediction_means_for_a_user(access: Access, user: UserInfo, ssh: bool,
                                            granted: bool | None, how: str) -> None:
    grant = grant_for(access, user, ssh=ssh)
    assert grant.granted is granted
    assert how in grant.how or (how == "log" and "started before" in grant.how)


def test_a_distribution_default_alone_is_no_rule_for_boards() -> None:
    from rpiboot.doctor.permissions import permissions_section

    default = parse_rules(DEFAULT_664, "/usr/lib/udev/rules.d/50-udev-default.rules")
    section, problems = permissions_section(ALICE, files=[default])
    assert [p.id for p in problems] == ["no-udev-rule"] and problems[0].severity == "warning"
    assert section["coverage"][0]["mode"] == "0664" and not section["coverage"][0]["opens_to_users"]
    ours = parse_rules(rule_text("plugdev"), "/etc/udev/rules.d/60-rpiboot.rules")
    section, problems = permissions_section(ALICE, files=[default, ours])
    assert problems == [] and section["coverage"][0]["grants_you"] is True
    assert section["rules"][0]["matches"] == ["0a5c:2711", "0a5c:2712", "0a5c:2763", "0a5c:2764"]
