"""``rpiboot firmware import``: checkouts and archives (verified where the commit is known,
marked unverified otherwise), made of the real files of ../shared/firmware."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fwsite import PINNED, PINNED_COMPLETE, TEST_COMMIT, FakeUpstream, Site, blob_id
from fwtrees import make_checkout, make_tarball

from rpiboot.cli.main import main
from rpiboot.fwstore import events as ev
from rpiboot.fwstore.importer import ImportOptions, import_firmware
from rpiboot.fwstore.layout import read_current
from rpiboot.fwstore.manifest import read_manifest

EEPROM_FOLDERS = ("recovery", "recovery5", "secure-boot-recovery", "secure-boot-recovery5",
                  "eeprom-erase")
NO_EEPROM = tuple(f for f in PINNED_COMPLETE if f not in EEPROM_FOLDERS)


def _import(store: Path, path: Path, **options: object) -> tuple[list[ev.FwEvent], object]:
    events: list[ev.FwEvent] = []
    manifest = import_firmware(store, path, ImportOptions(offline=True, **options),  # type: ignore[arg-type]
                               events.append)
    return events, manifest


def _skipped(events: list[ev.FwEvent]) -> dict[str, str]:
    return {e.folder: e.reason for e in events if isinstance(e, ev.FolderSkipped)}


def test_a_checkout_is_verified_against_the_pinned_listing(store: Path, site: Site,
                                                           tmp_path: Path) -> None:
    checkout = make_checkout(site, tmp_path / "usbboot")
    events, _ = _import(store, checkout)
    manifest = read_manifest(store / "sets" / PINNED)
    assert manifest.verified and manifest.verification == "listing pinned in rpiboot"
    assert manifest.folders == list(PINNED_COMPLETE) and read_current(store) == PINNED
    # ../shared has no mass-storage-gadget64/boot.img: that folder cannot be completed
    assert list(_skipped(events)) == ["mass-storage-gadget64"]
    assert "boot.img" in _skipped(events)["mass-storage-gadget64"]
    for path, info in manifest.files.items():
        assert blob_id((store / "sets" / PINNED / path).read_bytes()) == info.blob
    assert manifest.files["recovery/bootcode4.bin"].origin == \
        "raspberrypi/rpi-eeprom:firmware-2711/latest/recovery.bin"


def test_a_checkout_without_symbolic_links_is_verified_too(store: Path, site: Site,
                                                           tmp_path: Path) -> None:
    checkout = make_checkout(site, tmp_path / "usbboot", symlinks=False)
    _import(store, checkout, folders=("msd", "recovery"), strict=True)
    assert read_manifest(store / "sets" / PINNED).folders == ["msd", "recovery"]


def test_a_github_tarball_is_verified_by_the_commit_it_carries(store: Path, site: Site,
                                                               tmp_path: Path) -> None:
    checkout = make_checkout(site, tmp_path / "usbboot", git=False)
    tarball = make_tarball(checkout, tmp_path / "download.tar.gz", f"usbboot-{PINNED}",
                           comment=PINNED)
    events, _ = _import(store, tarball)
    assert read_manifest(store / "sets" / PINNED).verified
    assert list(_skipped(events)) == ["mass-storage-gadget64"]


def test_a_tarball_named_after_its_commit_with_the_submodule_given_apart(
        store: Path, site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """GitHub's archives leave rpi-eeprom out: --eeprom brings its tree."""
    checkout = make_checkout(site, tmp_path / "usbboot", git=False, eeprom=False)
    tarball = make_tarball(checkout, tmp_path / f"usbboot-{PINNED}.tar.gz", f"usbboot-{PINNED}")
    events, _ = _import(store, tarball)
    assert set(_skipped(events)) == {"mass-storage-gadget64", *EEPROM_FOLDERS}
    assert read_manifest(store / "sets" / PINNED).folders == list(NO_EEPROM)
    eeprom = make_tarball(make_checkout(site, tmp_path / "full") / "rpi-eeprom",
                          tmp_path / "rpi-eeprom.tar.gz", "rpi-eeprom-387e8cc")
    assert main(["firmware", "import", str(tarball), "--eeprom", str(eeprom), "--offline",
                 "--only", ",".join(PINNED_COMPLETE)]) == 0
    assert read_manifest(store / "sets" / PINNED).folders == [
        *NO_EEPROM, *(f for f in PINNED_COMPLETE if f in EEPROM_FOLDERS)]
    assert main(["firmware", "verify"]) == 0


def test_a_changed_file_in_a_checkout_installs_nothing_and_is_named(
        store: Path, site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkout = make_checkout(site, tmp_path / "usbboot")
    start = checkout / "msd" / "start.elf"
    data = bytearray(start.read_bytes())
    data[1000] ^= 0xFF
    start.write_bytes(bytes(data))
    assert main(["firmware", "import", str(checkout), "--offline"]) == 1
    err = capsys.readouterr().err
    assert f"{checkout}:msd/start.elf (msd/start.elf) does not match upstream" in err
    assert not (store / "sets").exists() or list((store / "sets").iterdir()) == []


def test_a_tree_of_unknown_commit_is_installed_marked_unverified(
        store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "my-usbboot"
    (tree / "msd").mkdir(parents=True)
    (tree / "msd" / "bootcode.bin").write_bytes(b"my own bootcode")
    (tree / "msd" / "start.elf").write_bytes(b"my own start.elf")
    (tree / "msd" / "README.md").write_text("not payload")
    (tree / "msd" / "bootcode4.bin").symlink_to("bootcode.bin")
    assert main(["firmware", "import", str(tree), "--only", "msd"]) == 0
    err = capsys.readouterr().err
    assert "UNVERIFIED" in err and "commit of" in err
    name = read_current(store)
    assert name is not None and name.startswith("unverified-")
    manifest = read_manifest(store / "sets" / name)
    assert not manifest.verified and manifest.verification.startswith("not verified: ")
    assert sorted(manifest.files) == ["msd/bootcode.bin", "msd/bootcode4.bin", "msd/start.elf"]
    assert manifest.files["msd/bootcode4.bin"].blob == blob_id(b"my own bootcode")
    assert main(["firmware", "list", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sets"][0]["verified"] is False and report["current"] == name
    assert main(["firmware", "verify"]) == 0
    # the same content imported again is the same set
    assert main(["firmware", "import", str(tree), "--only", "msd"]) == 0
    assert [p.name for p in (store / "sets").iterdir()] == [name]


def test_a_link_of_a_checkout_pointing_outside_is_never_followed(
        store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host file")
    tree = tmp_path / "tree"
    (tree / "msd").mkdir(parents=True)
    (tree / "msd" / "bootcode.bin").write_bytes(b"b")
    (tree / "msd" / "start.elf").symlink_to(secret)
    (tree / "msd" / "fixup.dat").symlink_to("../../secret.txt")
    assert main(["firmware", "import", str(tree), "--only", "msd"]) == 1
    err = capsys.readouterr().err
    assert "cannot install msd" in err and ("absolute" in err or "leaves the tree" in err)
    assert not (store / "sets").exists() or list((store / "sets").iterdir()) == []


def test_an_unpinned_commit_is_verified_with_the_listing_from_the_api(
        store: Path, site: Site, tmp_path: Path, upstream: FakeUpstream) -> None:
    checkout = make_checkout(site, tmp_path / "usbboot", commit=TEST_COMMIT)
    events: list[ev.FwEvent] = []
    import_firmware(store, checkout, ImportOptions(api=upstream.api), events.append)
    manifest = read_manifest(store / "sets" / TEST_COMMIT)
    assert manifest.verified and upstream.api in manifest.verification
    # the test ref's generated boot.img is in the checkout: the gadget folder is complete
    assert "mass-storage-gadget64" in manifest.folders


def test_offline_an_unpinned_commit_is_installed_unverified_saying_why(
        store: Path, site: Site, tmp_path: Path) -> None:
    checkout = make_checkout(site, tmp_path / "usbboot", commit=TEST_COMMIT)
    events, _manifest = _import(store, checkout, folders=("msd",))
    notices = [e.message for e in events if isinstance(e, ev.Notice)]
    assert any("UNVERIFIED" in m and "--offline" in m for m in notices)
    name = read_current(store)
    assert name is not None and name.startswith("unverified-")
    assert read_manifest(store / "sets" / name).upstream == {"raspberrypi/usbboot": TEST_COMMIT}
