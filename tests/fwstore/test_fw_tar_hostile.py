"""Archives are untrusted: a crafted one is refused whole, before anything is installed,
and nothing is ever written outside the store."""

from __future__ import annotations

import gzip
import hashlib
import tarfile
from pathlib import Path

import pytest
from fwtrees import hostile_tarball, member
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpiboot.cli.main import main
from rpiboot.errors import InputError
from rpiboot.fwstore import trees
from rpiboot.fwstore.importer import MountedTrees, TreeSource
from rpiboot.fwstore.listing import path_problem
from rpiboot.fwstore.resolve import ResolveError, plan_folders

GOOD = [(member("usbboot/msd/"), b""), (member("usbboot/msd/bootcode.bin"), b"b" * 10)]
GOOD[0][0].type = tarfile.DIRTYPE


def _refused(store: Path, tarball: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["firmware", "import", str(tarball), "--only", "msd"]) == 1
    err = capsys.readouterr().err
    assert "internal error" not in err
    assert not (store / "sets").exists() or list((store / "sets").iterdir()) == []
    return err


@pytest.mark.parametrize(("name", "kind", "link", "why"), [
    ("/etc/evil", tarfile.REGTYPE, "", "absolute"),
    ("usbboot/../../evil", tarfile.REGTYPE, "", "'..'"),
    ("usbboot/msd/start.elf", tarfile.SYMTYPE, "../../../etc/passwd", "outside the tree"),
    ("usbboot/msd/start.elf", tarfile.SYMTYPE, "/etc/passwd", "outside the tree"),
    ("usbboot/msd/start.elf", tarfile.LNKTYPE, "/etc/passwd", "hard link"),
    ("usbboot/msd/start.elf", tarfile.LNKTYPE, "usbboot/msd/later", "hard link"),
    ("usbboot/msd/null", tarfile.CHRTYPE, "", "device"),
    ("usbboot/msd/fifo", tarfile.FIFOTYPE, "", "FIFO"),
    ("usbboot/msd/bootcode.bin", tarfile.REGTYPE, "", "appears twice"),
    ("usbboot/msd/a\\b", tarfile.REGTYPE, "", "backslash"),
    ("usbboot/msd/a\x1bb", tarfile.REGTYPE, "", "control character"),
])
def test_a_crafted_member_refuses_the_whole_archive(
        store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
        kind: bytes, link: str, why: str) -> None:
    tarball = hostile_tarball(tmp_path / "bad.tar", [*GOOD, (member(name, kind, link=link),
                                                             b"evil")])
    err = _refused(store, tarball, capsys)
    assert "refused the archive" in err and why in err
    assert not (tmp_path.parent / "evil").exists() and not Path("/etc/evil").exists()


def test_oversized_and_too_many_members_are_refused(
        store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    tarball = hostile_tarball(tmp_path / "big.tar", [*GOOD, (member("usbboot/msd/x"),
                                                             b"x" * 5000)])
    monkeypatch.setattr(trees, "MAX_MEMBER_BYTES", 4096)
    assert "larger than 4096 bytes" in _refused(store, tarball, capsys)
    monkeypatch.setattr(trees, "MAX_MEMBER_BYTES", 1 << 30)
    monkeypatch.setattr(trees, "MAX_TOTAL_BYTES", 4096)
    assert "past 4096 bytes" in _refused(store, tarball, capsys)
    monkeypatch.setattr(trees, "MAX_TOTAL_BYTES", 1 << 30)
    monkeypatch.setattr(trees, "MAX_MEMBERS", 2)
    assert "one more than 2" in _refused(store, tarball, capsys)


def test_damaged_and_foreign_files_are_refused(store: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "random.bin").write_bytes(bytes(range(256)) * 40)
    assert "is not a tar archive" in _refused(store, tmp_path / "random.bin", capsys)
    noise = hashlib.shake_256(b"incompressible").digest(200_000)
    good = hostile_tarball(tmp_path / "good.tar", [*GOOD, (member("usbboot/msd/y"), noise)])
    packed = gzip.compress(good.read_bytes())
    for cut in (len(packed) // 2, len(packed) - 100):  # in a member's data, in the trailer
        (tmp_path / "cut.tar.gz").write_bytes(packed[:cut])
        err = _refused(store, tmp_path / "cut.tar.gz", capsys)
        assert "damaged" in err or "not a tar archive" in err


def test_a_well_formed_archive_of_unknown_commit_is_imported_unverified(
        store: Path, tmp_path: Path) -> None:
    tarball = hostile_tarball(tmp_path / "ok.tar", [
        *GOOD, (member("usbboot/msd/start.elf", tarfile.SYMTYPE, link="bootcode.bin"), b""),
        (member("usbboot/msd/hard", tarfile.LNKTYPE, link="usbboot/msd/bootcode.bin"), b"")])
    assert main(["firmware", "import", str(tarball), "--only", "msd"]) == 0
    (name,) = [p for p in (store / "sets").iterdir()]
    assert name.name.startswith("unverified-")
    assert (name / "msd" / "start.elf").read_bytes() == b"b" * 10
    assert (name / "msd" / "hard").read_bytes() == b"b" * 10


NAMES = st.sampled_from(["usbboot", "msd", "..", ".", "", "a", "start.elf", "/", "b\\c",
                         "x\x00"])
MEMBERS = st.lists(st.tuples(
    st.lists(NAMES, min_size=1, max_size=4).map("/".join),
    st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
                     tarfile.FIFOTYPE]),
    st.lists(NAMES, min_size=1, max_size=4).map("/".join)), max_size=8)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(MEMBERS)
def test_any_archive_is_refused_or_indexed_inside_its_tree(
        tmp_path: Path, specs: list[tuple[str, bytes, str]]) -> None:
    tarball = tmp_path / "fuzz.tar"
    try:
        hostile_tarball(tarball, [(member(n.replace("\x00", ""), k, link=lk.replace("\x00", "")),
                                   b"data") for n, k, lk in specs])
    except (ValueError, UnicodeError, tarfile.TarError):
        return  # tarfile itself cannot write it
    try:
        tree = trees.TarTree(tarball)
    except InputError:
        return
    try:
        for path in [*tree.files, *tree.links, *tree.dirs]:
            assert path_problem(path) is None, path
        mounted = MountedTrees({"": tree})
        source = TreeSource(mounted, None)
        try:
            plan = plan_folders(mounted, ("msd", "usbboot"), source.tree_link)
        except (ResolveError, InputError):
            return
        for item in plan.files:
            node = source.locate(item)
            assert node.path in tree.files and path_problem(node.path) is None
    finally:
        tree.close()
