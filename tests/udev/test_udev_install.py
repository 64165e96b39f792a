"""``rpiboot udev install``: the dry run, a real install (root) into a rules folder, the
refusal without root, udevadm missing or failing, other OSes, and the permission hint."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import usb.core

from rpiboot import __version__
from rpiboot.cli.main import main as rpiboot_main
from rpiboot.udev.install import RULE_FILE, rule_text
from rpiboot.usb.link import UDEV_RULE, translate_usb_error

TOOL = Path(sys.executable).with_name("rpiboot")
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
FAKE_UDEVADM = """#!/bin/sh
echo "$@" >> "{log}"
case "$*" in *{fail}*) echo "udevadm: {fail} refused" >&2; exit 1;; esac
exit 0
"""


def _cli(args: list[str], *, path: str, umask: int = 0o022, as_nobody: bool = False,
         sudo_user: str = "") -> subprocess.CompletedProcess[str]:
    """The installed CLI with PATH = ``path`` (where udevadm is, or is not)."""
    argv = [str(TOOL), *args]
    if as_nobody:
        argv = NOBODY + argv
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PATH": path, "SUDO_USER": sudo_user},
                          preexec_fn=lambda: os.umask(umask))


def _fake_udevadm(folder: Path, fail: str = "never-fails") -> Path:
    folder.mkdir(exist_ok=True)
    log = folder / "calls.log"
    script = folder / "udevadm"
    script.write_text(FAKE_UDEVADM.format(log=log, fail=fail))
    script.chmod(0o755)
    return log


def _root_only() -> None:
    if os.geteuid() != 0:
        pytest.skip("installing needs root (CI runs as root); the refusal is tested instead")


def test_dry_run_prints_the_rule_and_the_commands(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    assert rpiboot_main(["udev", "install", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out == (
        "# would write /etc/udev/rules.d/60-rpiboot.rules (mode 0644):\n"
        f"{rule_text(version=__version__)}"
        "# then, as root:\n"
        "udevadm control --reload-rules\n"
        "udevadm trigger --subsystem-match=usb --attr-match=idVendor=0a5c\n"
        "udevadm trigger --subsystem-match=usb --attr-match=idVendor=0525\n")
    assert ('SUBSYSTEM=="usb", ATTR{idVendor}=="0a5c", ATTR{idProduct}=="2711|2712|2763|2764", '
            'TAG+="uaccess"\n') in out
    assert 'ATTR{idVendor}=="0525", ATTR{idProduct}=="a4a5", TAG+="uaccess"\n' in out


def test_dry_run_with_a_group_and_another_folder(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    assert rpiboot_main(["udev", "install", "--dry-run", "--group", "plugdev",
                         "--rules-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# would write {tmp_path}/{RULE_FILE} (mode 0644):\n")
    assert out.count('MODE="0660", GROUP="plugdev"\n') == 2 and "uaccess" not in out
    assert not (tmp_path / RULE_FILE).exists()


def test_an_unknown_group_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert rpiboot_main(["udev", "install", "--dry-run", "--group", "no-such-group-9"]) == 2
    err = capsys.readouterr().err
    assert "no-such-group-9: no such group" in err and "groupadd" in err
    assert rpiboot_main(["udev", "install", "--dry-run", "--group", 'x" RUN+="y']) == 2


def test_install_writes_the_file_atomically_and_reloads_udev(tmp_path: Path) -> None:
    _root_only()
    rules, bin_dir = tmp_path / "rules.d", tmp_path / "bin"
    log = _fake_udevadm(bin_dir)
    done = _cli(["udev", "install", "--rules-dir", str(rules)], path=str(bin_dir), umask=0o077)
    assert done.returncode == 0, done.stderr
    target = rules / RULE_FILE
    assert target.read_text() == rule_text(version=__version__)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # whatever the umask
    assert f"{target}: written (mode 0644)" in done.stdout
    assert "udev reloaded: the user logged in at this computer can now boot" in done.stdout
    assert log.read_text().splitlines() == [
        "control --reload-rules",
        "trigger --subsystem-match=usb --attr-match=idVendor=0a5c",
        "trigger --subsystem-match=usb --attr-match=idVendor=0525"]
    before = target.stat().st_ino
    done = _cli(["udev", "install", "--rules-dir", str(rules), "--group", "plugdev"],
                path=str(bin_dir), sudo_user="nobody")
    assert done.returncode == 0 and 'GROUP="plugdev"' in target.read_text()
    assert "udev reloaded: members of plugdev can now boot" in done.stdout
    assert "nobody is not in the group plugdev yet: sudo usermod -aG plugdev nobody" in done.stdout
    assert target.stat().st_ino != before  # replaced by a rename, never rewritten in place
    assert sorted(p.name for p in rules.iterdir()) == [RULE_FILE]  # no temporary file left
    again = _cli(["udev", "install", "--rules-dir", str(rules), "--group", "plugdev"],
                 path=str(bin_dir))
    assert f"{target}: already up to date" in again.stdout


def test_a_missing_udevadm_is_reported_with_what_to_run(tmp_path: Path) -> None:
    _root_only()
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    done = _cli(["udev", "install", "--rules-dir", str(tmp_path / "r")], path=str(empty))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r" / RULE_FILE).is_file()
    assert "udevadm was not found" in done.stdout
    assert "sudo udevadm control --reload-rules" in done.stdout
    assert "sudo udevadm trigger --subsystem-match=usb --attr-match=idVendor=0a5c" in done.stdout


def test_a_failing_udevadm_exits_1_and_says_so(tmp_path: Path) -> None:
    _root_only()
    bin_dir = tmp_path / "bin"
    log = _fake_udevadm(bin_dir, fail="trigger")
    done = _cli(["udev", "install", "--rules-dir", str(tmp_path / "r")], path=str(bin_dir))
    assert done.returncode == 1
    assert "FAILED, exit 1: udevadm: trigger refused" in done.stdout
    assert "udev did not reload the rule" in done.stderr
    assert len(log.read_text().splitlines()) == 2  # stopped at the failing command


def test_without_root_it_refuses_and_writes_nothing(tmp_path: Path) -> None:
    rules = tmp_path / "rules.d"
    as_nobody = os.geteuid() == 0
    if as_nobody and shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to run this test as a user when root")
    done = _cli(["udev", "install", "--rules-dir", str(rules)], path=os.environ["PATH"],
                as_nobody=as_nobody)
    assert done.returncode == 5, done.stderr
    assert f"writing {rules}/{RULE_FILE} needs root" in done.stderr
    assert "sudo rpiboot udev install" in done.stderr and "--dry-run" in done.stderr
    assert not rules.exists()
    dry = _cli(["udev", "install", "--dry-run", "--rules-dir", str(rules)],
               path=os.environ["PATH"], as_nobody=as_nobody)
    assert dry.returncode == 0 and "TAG+=\"uaccess\"" in dry.stdout


def test_macos_needs_nothing_and_windows_is_told_about_winusb(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.platform", "darwin")
    assert rpiboot_main(["udev", "install"]) == 0
    assert "macOS needs no udev rule and no driver" in capsys.readouterr().out
    monkeypatch.setattr("sys.platform", "win32")
    assert rpiboot_main(["udev", "install", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "udev rules exist only on Linux" in err and "Zadig" in err and "WinUSB" in err


def test_the_permission_hint_recommends_udev_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    error = translate_usb_error(usb.core.USBError("denied", -3, errno.EACCES), "1-1")
    assert error.hint is not None
    first = error.hint.splitlines()[0]
    assert "sudo rpiboot udev install" in first
    assert UDEV_RULE in error.hint and "rpiboot doctor" in error.hint  # the manual way stays
