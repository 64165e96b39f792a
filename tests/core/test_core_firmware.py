"""Default firmware search (no -d): order, per-chip choice, and the error when missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from rpiboot.chips import CHIPS
from rpiboot.errors import InputError
from rpiboot.firmware import (
    FIRMWARE_ENV,
    check_firmware_available,
    find_default_firmware,
    find_msd_dir,
    search_roots,
    user_data_dir,
)

CM1, CM3, CM4, CM5 = (CHIPS[p] for p in (0x2763, 0x2764, 0x2711, 0x2712))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv(FIRMWARE_ENV, raising=False)


def _tree(root: Path, msd: bool = True, gadget: bool = True) -> Path:
    if msd:
        (root / "msd").mkdir(parents=True)
        (root / "msd" / "bootcode.bin").write_bytes(b"b")
    if gadget:
        (root / "mass-storage-gadget64").mkdir(parents=True)
        (root / "mass-storage-gadget64" / "bootfiles.bin").write_bytes(b"t")
    return root


def test_shared_usbboot_tree_is_recognised(firmware_dir: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    usbboot = firmware_dir / "usbboot"
    monkeypatch.setenv(FIRMWARE_ENV, str(usbboot))
    assert find_default_firmware(CM1).boot_dir == usbboot / "msd"
    assert find_default_firmware(CM3).boot_dir == usbboot / "msd"
    assert find_default_firmware(CM4).boot_dir == usbboot / "mass-storage-gadget64"
    assert find_default_firmware(CM4).msd_dir == usbboot / "msd"
    assert find_default_firmware(CM5).boot_dir == usbboot / "mass-storage-gadget64"


def test_bcm2711_falls_back_to_msd_but_bcm2712_cannot(tmp_path: Path) -> None:
    root = _tree(tmp_path / "fw", gadget=False)
    assert find_default_firmware(CM4, root).boot_dir == root / "msd"
    with pytest.raises(InputError) as info:
        find_default_firmware(CM5, root)
    assert "mass-storage-gadget64/bootfiles.bin" in str(info.value)


def test_search_order_flag_env_user_system(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    flag, env = _tree(tmp_path / "flag"), _tree(tmp_path / "env")
    user = _tree(user_data_dir())
    monkeypatch.setenv(FIRMWARE_ENV, str(env))
    roots = [root for root, _ in search_roots(flag)]
    assert roots[:3] == [flag, env, user] and roots[3] == Path("/usr/share/rpiboot")
    assert find_default_firmware(CM4, flag).root == flag
    assert find_default_firmware(CM4).root == env
    monkeypatch.delenv(FIRMWARE_ENV)
    assert find_default_firmware(CM4).root == user


def test_user_data_dir_is_xdg_on_linux(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert user_data_dir() == tmp_path / "xdg" / "rpiboot"


def test_missing_everywhere_lists_every_place(tmp_path: Path) -> None:
    nowhere = tmp_path / "nothing"
    with pytest.raises(InputError) as info:
        find_default_firmware(CM4, nowhere)
    text = str(info.value)
    assert str(nowhere) in text and str(user_data_dir()) in text and "/usr/share/rpiboot" in text
    assert "-d" in (info.value.hint or "")
    if not Path("/usr/share/rpiboot/msd").exists():
        with pytest.raises(InputError):
            check_firmware_available(nowhere)
        assert find_msd_dir(nowhere) is None


def test_firmware_dir_may_point_at_msd_or_gadget_folder(firmware_dir: Path) -> None:
    usbboot = firmware_dir / "usbboot"
    assert find_default_firmware(CM3, usbboot / "msd").boot_dir == usbboot / "msd"
    gadget = usbboot / "mass-storage-gadget64"
    assert find_default_firmware(CM5, gadget).boot_dir == gadget
    check_firmware_available(gadget)
