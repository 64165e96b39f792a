"""``rpiboot firmware fetch`` against the loopback upstream serving ../shared/firmware:
what gets installed, that every byte is checked, and what the store looks like after a
failure (the previous set stays current and usable)."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest
from fwsite import (
    ALL_FOLDERS,
    BOOT_IMG,
    PINNED,
    PINNED_COMPLETE,
    TEST_COMMIT,
    TEST_REF,
    USBBOOT,
    FakeUpstream,
    Site,
    blob_id,
    serve,
    synthetic_boot_img,
)

from rpiboot.chips import CHIPS
from rpiboot.cli.main import main
from rpiboot.errors import InputError
from rpiboot.firmware import find_default_firmware
from rpiboot.fwstore import events as ev
from rpiboot.fwstore.fetch import FetchOptions, VerificationError, fetch_firmware
from rpiboot.fwstore.httpget import DownloadError, HttpOptions
from rpiboot.fwstore.layout import read_current
from rpiboot.fwstore.manifest import read_manifest

CM3, CM4 = CHIPS[0x2764], CHIPS[0x2711]
FAST = HttpOptions(timeout=10, retries=2, backoff=0.01)


def cli_fetch(upstream: FakeUpstream, folders: tuple[str, ...] = PINNED_COMPLETE,
              *more: str) -> int:
    return main(["firmware", "fetch", "--mirror", upstream.raw, "--api", upstream.api,
                 "--only", ",".join(folders), *more])


def lib_fetch(store: Path, upstream: FakeUpstream, folders: tuple[str, ...] = ALL_FOLDERS,
              ref: str | None = TEST_REF, events: list[ev.FwEvent] | None = None) -> None:
    options = FetchOptions(folders=folders, strict=True, ref=ref, mirror=upstream.raw,
                           api=upstream.api, http=FAST)
    fetch_firmware(store, options, (events if events is not None else []).append)


def set_names(store: Path) -> list[str]:
    return sorted(p.name for p in (store / "sets").iterdir())


def test_the_pinned_default_installs_real_files_verified_without_asking_any_api(
        store: Path, upstream: FakeUpstream, site: Site) -> None:
    assert cli_fetch(upstream) == 0
    assert read_current(store) == PINNED and set_names(store) == [PINNED]
    assert not [p for p, _ in upstream.requests if p.startswith("/api/")]
    folder = store / "sets" / PINNED
    manifest = read_manifest(folder)
    assert manifest.verified and manifest.folders == list(PINNED_COMPLETE)
    shared_blobs = {blob_id(body) for key in site.raw if (body := site.body(*key))}
    for path, info in manifest.files.items():
        data = (folder / path).read_bytes()
        assert blob_id(data) == info.blob and info.blob in shared_blobs, path
        assert not (folder / path).stat().st_mode & stat.S_IWUSR  # read-only
    # links resolved into the rpi-eeprom submodule; docs and helper scripts left out
    eeprom = site.body("raspberrypi/rpi-eeprom", "387e8cc058aae0ea43214a296b64fd11f9e25678",
                       "firmware-2711/latest/pieeprom-2026-05-17.bin")
    assert (folder / "recovery/pieeprom.original.bin").read_bytes() == eeprom
    names = set(manifest.files)
    assert {"recovery/README.md", "recovery/.gitignore", "recovery/update-pieeprom.sh",
            "recovery/rpi-eeprom-config"}.isdisjoint(names)
    assert {"recovery/boot.conf", "recovery/bootcode4.bin", "recovery/config.txt",
            "msd/bootcode.bin", "msd/bootcode4.bin", "msd/start.elf"} <= names
    assert main(["firmware", "verify"]) == 0


def test_the_full_default_set_of_a_ref_serves_every_chip_family(
        store: Path, upstream: FakeUpstream, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_fetch(upstream, ALL_FOLDERS, "--ref", TEST_REF) == 0
    folder = store / "sets" / TEST_COMMIT
    assert (folder / BOOT_IMG).read_bytes() == synthetic_boot_img()
    assert read_manifest(folder).upstream == {
        "raspberrypi/usbboot": TEST_COMMIT,
        "raspberrypi/rpi-eeprom": "387e8cc058aae0ea43214a296b64fd11f9e25678"}
    capsys.readouterr()
    assert main(["firmware", "list", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["current"] == TEST_COMMIT and report["sets"][0]["verified"] is True
    defaults = {d["chip"]: d["folder"] for d in report["defaults"]}
    assert defaults["BCM2711"] == defaults["BCM2712"] == str(folder / "mass-storage-gadget64")
    assert defaults["BCM2835"] == defaults["BCM2837"] == str(folder / "msd")


def test_json_events_name_every_step(store: Path, upstream: FakeUpstream,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_fetch(upstream, ("msd",), "--json") == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {e["v"] for e in events} == {1}
    kinds = [e["event"] for e in events]
    assert kinds[0] == "plan" and kinds[-1] == "installed" and "progress" not in kinds
    assert [e["path"] for e in events if e["event"] == "file"] == [
        "msd/bootcode.bin", "msd/bootcode4.bin", "msd/start.elf"]
    assert events[-1]["set"] == PINNED and events[-1]["current"] is True


def test_a_tampered_byte_installs_nothing_and_names_the_file(
        store: Path, upstream: FakeUpstream, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_fetch(upstream, ("msd",)) == 0
    tampered = upstream.url_path(USBBOOT, TEST_COMMIT, BOOT_IMG)
    upstream.faults.tamper.add(tampered)
    capsys.readouterr()
    assert cli_fetch(upstream, ALL_FOLDERS, "--ref", TEST_REF) == 1
    err = capsys.readouterr().err
    assert f"{upstream.base}{tampered}" in err and "(mass-storage-gadget64/boot.img)" in err
    assert "does not match upstream" in err and "nothing was installed" in err
    assert set_names(store) == [PINNED] and read_current(store) == PINNED
    assert find_default_firmware(CM3).boot_dir == store / "sets" / PINNED / "msd"
    assert list((store / "downloads").iterdir()) == []  # the bad bytes are not kept


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("mirror", [f"http://127.0.0.1:{_free_port()}",
                                    "http://no-such-host.invalid"])
def test_offline_is_a_clear_error_naming_the_url_mirror_and_import(
        store: Path, mirror: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["firmware", "fetch", "--mirror", mirror, "--only", "msd"]) == 1
    err = capsys.readouterr().err
    assert f"cannot download {mirror}/raspberrypi/usbboot/{PINNED}/msd/" in err
    assert ("connection refused" in err) or ("does not resolve" in err)
    assert "--mirror URL" in err and "rpiboot firmware import PATH" in err
    assert "internal error" not in err and read_current(store) is None


def test_an_http_error_names_the_url(store: Path, upstream: FakeUpstream,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    missing = upstream.url_path(USBBOOT, PINNED, "msd/start.elf")
    upstream.faults.status[missing] = [404, -1]
    assert cli_fetch(upstream, ("msd",)) == 1
    err = capsys.readouterr().err
    assert f"{upstream.base}{missing}: the server answered HTTP 404" in err
    assert "--mirror" in err and read_current(store) is None


def test_a_connection_lost_mid_file_is_resumed_with_range(
        store: Path, upstream: FakeUpstream) -> None:
    path = upstream.url_path(USBBOOT, TEST_COMMIT, BOOT_IMG)
    upstream.faults.die_after[path] = [1_000_000, 1]
    events: list[ev.FwEvent] = []
    lib_fetch(store, upstream, events=events)
    assert upstream.ranges(path) == [None, "bytes=1000000-"]
    assert any(isinstance(e, ev.Retrying) for e in events)
    assert (store / "sets" / TEST_COMMIT / BOOT_IMG).read_bytes() == synthetic_boot_img()


def test_the_next_fetch_resumes_what_a_failed_one_left(store: Path,
                                                       upstream: FakeUpstream) -> None:
    lib_fetch(store, upstream, ("msd",), ref=None)
    path = upstream.url_path(USBBOOT, TEST_COMMIT, BOOT_IMG)
    upstream.faults.die_after[path] = [1_500_000, -1]  # every attempt dies
    with pytest.raises(DownloadError, match="gave up after 3 attempts"):
        lib_fetch(store, upstream)
    assert read_current(store) == PINNED and set_names(store) == [PINNED]
    part = store / "downloads" / f"{blob_id(synthetic_boot_img())}.part"
    assert part.stat().st_size == 4_500_000
    del upstream.faults.die_after[path]
    lib_fetch(store, upstream)
    assert upstream.ranges(path)[-1] == "bytes=4500000-"
    assert read_current(store) == TEST_COMMIT and not part.exists()
    assert main(["firmware", "verify"]) == 0


def test_a_server_ignoring_range_makes_the_download_start_over(
        store: Path, upstream: FakeUpstream) -> None:
    path = upstream.url_path(USBBOOT, TEST_COMMIT, BOOT_IMG)
    upstream.faults.die_after[path] = [2_000_000, 1]
    upstream.faults.ignore_range = True
    events: list[ev.FwEvent] = []
    lib_fetch(store, upstream, events=events)
    assert any(isinstance(e, ev.Restarted) and "ignored Range" in e.reason for e in events)
    assert (store / "sets" / TEST_COMMIT / BOOT_IMG).read_bytes() == synthetic_boot_img()


def test_a_failure_after_some_files_leaves_the_previous_set_current_and_usable(
        store: Path, upstream: FakeUpstream) -> None:
    lib_fetch(store, upstream, ("msd",), ref=None)
    before = {p: p.stat().st_ino for p in (store / "sets" / PINNED).rglob("*")}
    late = upstream.url_path(USBBOOT, TEST_COMMIT, "eeprom-erase/config.txt")
    upstream.faults.status[late] = [500, -1]
    with pytest.raises(DownloadError, match="HTTP 500"):
        lib_fetch(store, upstream)
    assert upstream.raw_requests()[-1] == late  # it failed on the last file
    assert read_current(store) == PINNED and set_names(store) == [PINNED]
    assert {p: p.stat().st_ino for p in (store / "sets" / PINNED).rglob("*")} == before
    assert find_default_firmware(CM4).boot_dir == store / "sets" / PINNED / "msd"


def test_files_of_another_set_are_reused_and_an_installed_set_is_not_fetched_again(
        store: Path, upstream: FakeUpstream, site: Site) -> None:
    lib_fetch(store, upstream, PINNED_COMPLETE, ref=None)
    first = len(upstream.raw_requests())
    events: list[ev.FwEvent] = []
    lib_fetch(store, upstream, events=events)
    how = {e.path: e.how for e in events if isinstance(e, ev.FileInstalled)}
    assert sorted(p for p, h in how.items() if h == "downloaded") == [
        BOOT_IMG, "mass-storage-gadget64/config.txt"]
    assert how["msd/start.elf"] == "reused" and how["secure-boot-msd/bootcode4.bin"] == "linked"
    links = {e.path for e in site.trees[(USBBOOT, TEST_COMMIT)] if e.mode == "120000"}
    prefix = upstream.url_path(USBBOOT, TEST_COMMIT, "")
    bodies = [p for p in upstream.raw_requests()[first:]
              if not (p.startswith(prefix) and p[len(prefix):] in links)]
    assert sorted(bodies) == sorted(upstream.url_path(USBBOOT, TEST_COMMIT, p) for p in (
        BOOT_IMG, "mass-storage-gadget64/config.txt"))  # the rest: link targets only
    count = len(upstream.raw_requests())
    events.clear()
    lib_fetch(store, upstream, ref=TEST_COMMIT, events=events)  # complete and intact
    assert [p for p in upstream.raw_requests()[count:] if p[len(prefix):] not in links] == []
    assert [e.added for e in events if isinstance(e, ev.SetInstalled)] == [[]]


def test_folders_are_added_to_an_installed_commit(store: Path, upstream: FakeUpstream) -> None:
    lib_fetch(store, upstream, ("msd",), ref=None)
    start = store / "sets" / PINNED / "msd" / "start.elf"
    inode = start.stat().st_ino
    lib_fetch(store, upstream, ("recovery",), ref=None)
    manifest = read_manifest(store / "sets" / PINNED)
    assert manifest.folders == ["msd", "recovery"] and start.stat().st_ino == inode
    assert main(["firmware", "verify", PINNED[:7]]) == 0


def test_a_malformed_listing_is_refused_with_its_url(store: Path, upstream: FakeUpstream,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    listing = f"/api/repos/{USBBOOT}/git/trees/{TEST_COMMIT}"
    upstream.faults.bodies[listing] = b'{"tree": [{"path": "../x", "mode": "100644"}]}'
    assert cli_fetch(upstream, ("msd",), "--ref", TEST_REF) == 1
    err = capsys.readouterr().err
    assert f"{upstream.api}/repos/{USBBOOT}/git/trees/{TEST_COMMIT}?recursive=1" in err
    assert "internal error" not in err and read_current(store) is None


def test_a_link_leaving_the_tree_is_refused(store: Path, site: Site) -> None:
    crafted = Site(dict(site.raw), dict(site.trees), dict(site.refs))
    target = b"../../../../etc/passwd"
    crafted.trees[(USBBOOT, TEST_COMMIT)] = [
        type(e)("120000", blob_id(target), len(target), e.path) if e.path == "msd/start.elf"
        else e for e in site.trees[(USBBOOT, TEST_COMMIT)]]
    crafted.raw[(USBBOOT, TEST_COMMIT, "msd/start.elf")] = target
    for upstream in serve(crafted):
        with pytest.raises(InputError, match="leaves the tree") as info:
            lib_fetch(store, upstream, ("msd",))
    assert "cannot install msd: msd/start.elf" in str(info.value)
    assert read_current(store) is None


def test_a_link_target_that_does_not_match_its_blob_id_is_refused(
        store: Path, upstream: FakeUpstream) -> None:
    link = upstream.url_path(USBBOOT, TEST_COMMIT, "msd/bootcode4.bin")
    upstream.faults.bodies[link] = b"../firmware/2712/recovery.bin"
    with pytest.raises(VerificationError, match=r"msd/bootcode4\.bin does not match"):
        lib_fetch(store, upstream, ("msd",))
    assert not (store / "sets").exists() or set_names(store) == []


def test_no_staging_or_trash_is_left_after_a_failure(store: Path, upstream: FakeUpstream) -> None:
    upstream.faults.tamper.add(upstream.url_path(USBBOOT, PINNED, "msd/start.elf"))
    with pytest.raises(VerificationError):
        lib_fetch(store, upstream, ("msd",), ref=None)
    assert os.listdir(store / "sets") == []


def test_the_proxy_environment_variables_are_honoured(
        store: Path, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> None:
    """The mirror's host does not resolve: only the proxy (the loopback server, which
    answers absolute-URI requests) can serve it."""
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", upstream.base)
    assert main(["firmware", "fetch", "--mirror", "http://mirror.invalid/raw",
                 "--only", "msd"]) == 0
    assert read_current(store) == PINNED
    assert upstream.raw_requests()[0] == upstream.url_path(USBBOOT, PINNED, "msd/bootcode.bin")
