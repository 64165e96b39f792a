"""Booting without -d from a fetched set: the simulated boards of every chip family get the
real firmware files (checked byte for byte by the boards), and the search order keeps
--firmware-dir and $RPIBOOT_FIRMWARE_DIR first."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path
from typing import Any

import pytest
from fwsite import TEST_COMMIT, TEST_REF, Site, serve

from rpiboot import BootOptions, FileServed, Server
from rpiboot.chips import CHIPS
from rpiboot.firmware import FIRMWARE_ENV, find_default_firmware, search_roots, user_data_dir
from rpiboot.fwstore.fetch import FetchOptions, fetch_firmware
from rpiboot.sim import simulate


@pytest.fixture(scope="module")
def fetched(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An XDG_DATA_HOME holding the full default set of the test ref (fetched once)."""
    xdg = tmp_path_factory.mktemp("xdg")
    for upstream in serve(site):
        fetch_firmware(xdg / "rpiboot", FetchOptions(ref=TEST_REF, mirror=upstream.raw,
                                                     api=upstream.api))
    return xdg


@pytest.fixture
def booting_from(fetched: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(fetched))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(FIRMWARE_ENV, raising=False)
    return fetched / "rpiboot" / "sets" / TEST_COMMIT


def _expect(data: bytes) -> dict[str, Any]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _member(archive: Path, name: str) -> bytes:
    with tarfile.open(archive) as tar:
        handle = tar.extractfile(name)
        assert handle is not None
        return handle.read()


def _board(pid: str, bootcode: bytes, steps: list[dict[str, Any]], *,
           serial_index: int = 3, two_interfaces: bool = False) -> dict[str, Any]:
    return {"devices": [{
        "id": f"board{pid}", "port": "1-1",
        "rom": {"pid": pid, "serial_index": serial_index, "serial": "0badc0de",
                "two_interfaces": two_interfaces, "expect_bootcode": _expect(bootcode)},
        "second_stage": {"serial_index": 4 if serial_index else 1, "serial": "0badc0de",
                         "steps": [*steps, {"op": "done"}],
                         "after": {"action": "disappear", "delay": 0.1}}}]}


def _fetch(name: str, data: bytes | None) -> dict[str, Any]:
    return {"op": "fetch", "name": name, "expect": _expect(data) if data else "absent"}


def family_board(pid: int, root: Path) -> dict[str, Any]:
    """A board of chip ``pid`` asking for what its default folder serves (real bytes)."""
    msd, gadget = root / "msd", root / "mass-storage-gadget64"
    if pid in (0x2763, 0x2764):
        steps = [_fetch("config.txt", None), _fetch("start.elf",
                                                    (msd / "start.elf").read_bytes())]
        return _board(f"{pid:x}", (msd / "bootcode.bin").read_bytes(), steps, serial_index=0,
                      two_interfaces=pid == 0x2764)
    prefix = "2711" if pid == 0x2711 else "2712"
    second = "bootcode4.bin" if pid == 0x2711 else "bootcode5.bin"
    archive = gadget / "bootfiles.bin"
    members = [_fetch(n, _member(archive, f"{prefix}/{n}"))
               for n in ("mcb.bin", "memsys00.bin", "bootmain")]
    steps = [*members, _fetch("config.txt", (gadget / "config.txt").read_bytes()),
             _fetch("boot.img", (gadget / "boot.img").read_bytes())]
    return _board(prefix, _member(archive, f"{prefix}/{second}"), steps)


@pytest.mark.parametrize("pid", [0x2763, 0x2764, 0x2711, 0x2712],
                         ids=lambda pid: CHIPS[pid].family)
def test_every_chip_family_boots_without_d_from_the_current_set(booting_from: Path,
                                                                 pid: int) -> None:
    served: list[FileServed] = []

    def on_event(event: object) -> None:
        if isinstance(event, FileServed) and event.size is not None:
            served.append(event)

    with simulate(family_board(pid, booting_from), speed=50) as sim:
        result = Server(BootOptions(boot_dir=None, wait_timeout=10), backend=sim.backend,
                        on_event=on_event).run()
        assert sim.wait_finished(10)
        assert sim.problems() == []
    assert result.ok, result.error or [b.error for b in result.boards]
    assert served and all(str(booting_from) in e.source for e in served)


def test_the_current_set_comes_after_the_flag_and_the_variable(
        booting_from: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    roots = [root for root, _ in search_roots()]
    assert roots[:2] == [booting_from, user_data_dir()]
    flag, env = tmp_path / "flag", tmp_path / "env"
    for folder in (flag, env):
        (folder / "mass-storage-gadget64").mkdir(parents=True)
        (folder / "mass-storage-gadget64" / "bootfiles.bin").write_bytes(b"x")
    monkeypatch.setenv(FIRMWARE_ENV, str(env))
    assert [root for root, _ in search_roots(flag)][:3] == [flag, env, booting_from]
    cm5 = CHIPS[0x2712]
    assert find_default_firmware(cm5, flag).root == flag
    assert find_default_firmware(cm5).root == env
    monkeypatch.delenv(FIRMWARE_ENV)
    assert find_default_firmware(cm5).boot_dir == booting_from / "mass-storage-gadget64"
