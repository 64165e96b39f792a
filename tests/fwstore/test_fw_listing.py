"""Listings and their parsers (ls-tree, link lists, GitHub's tree JSON, the package's
listing file, manifests), the pinned listing shipped in the package, link resolution."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fwsite import PINNED, PINNED_EEPROM, TEST_COMMIT, USBBOOT, Site
from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.errors import InputError
from rpiboot.fwstore.listing import (
    Entry,
    ListingError,
    RepoListing,
    check_path,
    format_listing_file,
    git_blob_id,
    parse_github_tree,
    parse_links,
    parse_listing_file,
    parse_ls_tree,
    path_problem,
    with_links,
)
from rpiboot.fwstore.manifest import Manifest, ManifestError
from rpiboot.fwstore.resolve import PAYLOAD_FOLDERS, ListingView, ResolveError, resolve
from rpiboot.fwstore.upstream import pinned_upstream

REPO = Path(__file__).resolve().parents[2]
NAME = st.text("abcxyz019._-", min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))
PATHS = st.lists(NAME, min_size=1, max_size=4).map("/".join)
SHAS = st.text("0123456789abcdef", min_size=40, max_size=40)


def test_git_blob_ids_are_gits() -> None:
    assert git_blob_id(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git's empty blob
    assert git_blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_the_shared_upstream_listings_parse_and_their_links_match_their_blob_ids(
        firmware_dir: Path) -> None:
    trees = firmware_dir / "upstream-trees"
    usb = parse_ls_tree((trees / f"usbboot-{PINNED}.tree").read_text())
    links = parse_links((trees / f"usbboot-{PINNED}.links").read_text())
    resolved = with_links(usb, links, where="links")
    assert len(usb) == 112 and len(links) == 26
    assert sum(1 for e in resolved if e.target is not None) == 26
    eeprom = parse_ls_tree((trees / f"rpi-eeprom-{PINNED_EEPROM}.tree").read_text())
    assert RepoListing.of("r", PINNED_EEPROM, eeprom).entries["firmware-2712/latest/"
                                                              "recovery.bin"].size == 105396
    with pytest.raises(ListingError, match="does not match its blob id"):
        with_links(usb, {"msd/bootcode4.bin": "../firmware/2712/recovery.bin"}, where="x")


def test_the_pinned_listing_in_the_package_is_generated_from_the_upstream_trees() -> None:
    check = subprocess.run([sys.executable, str(REPO / "tools" / "gen_pinned_listing.py"),
                            "--check"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    upstream = pinned_upstream()
    assert upstream.commits() == {"raspberrypi/usbboot": PINNED,
                                  "raspberrypi/rpi-eeprom": PINNED_EEPROM}


def test_the_pinned_listing_is_installed_with_the_package(tmp_path: Path) -> None:
    """setuptools' build step (what pip installs) copies it, and the copy is usable."""
    build = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()",
                            "-q", "build_py", "--build-lib", str(tmp_path)], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    shipped = tmp_path / "rpiboot" / "fwstore" / "pinned.listing"
    assert shipped.read_bytes() == (REPO / "src/rpiboot/fwstore/pinned.listing").read_bytes()
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); "
            "import rpiboot.fwstore.upstream as u; print(u.__file__); "
            "print(u.pinned_upstream().commit)")
    run = subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)  # -S: not the editable install's finder
    lines = run.stdout.split()
    assert lines[0].startswith(str(tmp_path)) and lines[1] == PINNED, run.stderr


def test_the_github_tree_json_of_the_fixture_parses_to_the_ls_tree_entries(site: Site) -> None:
    body = site.tree_json(USBBOOT, TEST_COMMIT)
    assert body is not None
    entries, truncated = parse_github_tree(body, where="api")
    assert not truncated and len(entries) == 112  # folders are implied by the paths
    submodule = next(e for e in entries if e.path == "rpi-eeprom")
    assert submodule.kind == "submodule" and submodule.sha == PINNED_EEPROM


@pytest.mark.parametrize("path", ["", "/etc/passwd", "a/../b", "..", "a//b", "./a", "a/.",
                                  "C:/x", "a\\b", "a\x00b", "a\nb", "x" * 5000])
def test_unsafe_paths_are_refused(path: str) -> None:
    assert path_problem(path) is not None
    with pytest.raises(ListingError):
        check_path(path)


@given(PATHS)
def test_paths_of_plain_names_are_accepted(path: str) -> None:
    assert check_path(path) == path


@given(st.lists(st.tuples(PATHS, st.sampled_from(["100644", "100755", "120000"]), SHAS,
                          st.none() | st.integers(0, 1 << 40), NAME), max_size=20,
                unique_by=lambda t: t[0]))
def test_the_listing_file_round_trips(rows: list[tuple[str, str, str, int | None, str]]
                                      ) -> None:
    entries = [Entry(p, m, s, size, t if m == "120000" else None) for p, m, s, size, t in rows]
    try:
        listing = RepoListing.of("raspberrypi/usbboot", PINNED, entries)
    except ListingError:
        return  # a path that is both a file and a folder
    text = format_listing_file([listing], "comment\nlines")
    (back,) = parse_listing_file(text, where="t")
    assert back.commit == PINNED and back.entries == listing.entries


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_text_parsers_raise_only_listing_errors(text: str) -> None:
    for parse in (parse_ls_tree, parse_links):
        with contextlib.suppress(ListingError):
            parse(text)
    with contextlib.suppress(ListingError):
        parse_listing_file(text, where="t")


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(["tree", "path", "mode", "type", "sha",
                                                       "size", "truncated", "x"]), inner,
                                      max_size=6), max_leaves=20)


@settings(max_examples=300)
@given(JSON)
def test_the_tree_json_parser_raises_only_listing_errors(data: object) -> None:
    for body in (json.dumps(data).encode(), json.dumps({"tree": [data]}).encode()):
        try:
            entries, _ = parse_github_tree(body, where="api")
        except ListingError:
            continue
        assert all(path_problem(e.path) is None for e in entries)


@settings(max_examples=200)
@given(JSON)
def test_the_manifest_reader_raises_only_manifest_errors(data: object) -> None:
    candidates = [data, {"format": 1, "set": PINNED, "files": data, "folders": ["msd"],
                         "verified": True, "upstream": {}, "verification": "", "source": "",
                         "installed_at": "", "installed_by": ""}]
    for candidate in candidates:
        try:
            manifest = Manifest.from_json(candidate, "m")
        except ManifestError:
            continue
        assert all(path_problem(p) is None for p in manifest.files)


def _view(*entries: Entry) -> ListingView:
    return ListingView({"": RepoListing.of("r", PINNED, entries)})


def _link(path: str, target: str) -> Entry:
    return Entry(path, "120000", git_blob_id(target.encode()), len(target), target)


def _target(node: object) -> str:
    target = getattr(node, "target", None)
    assert target is not None
    return target


@pytest.mark.parametrize(("links", "problem"), [
    ([("msd/a", "../../outside")], "leaves the tree"),
    ([("msd/a", "/etc/passwd")], "absolute"),
    ([("msd/a", "b"), ("msd/b", "a")], "symbolic links"),
    ([("msd/a", "missing")], "does not exist"),
    ([("msd/a", "../file/x")], "is not a folder"),
])
def test_resolution_refuses_links_that_escape_loop_or_lead_nowhere(
        links: list[tuple[str, str]], problem: str) -> None:
    view = _view(Entry("file", "100644", "1" * 40, 1), *(_link(p, t) for p, t in links))
    with pytest.raises(InputError, match=problem):
        resolve(view, "msd/a", _target)


@given(st.lists(st.tuples(PATHS, st.text("ab./", min_size=1, max_size=12)), max_size=8,
                unique_by=lambda t: t[0]), PATHS)
def test_resolution_never_leaves_the_tree(links: list[tuple[str, str]], start: str) -> None:
    entries = [_link(p, t) for p, t in links] + [Entry("a/f", "100644", "2" * 40, 3)]
    try:
        view = _view(*entries)
        node = resolve(view, start, _target)
    except (ResolveError, ListingError):
        return
    assert path_problem(node.path) is None and view.lookup(node.path) == node


def test_every_payload_folder_resolves_in_the_pinned_listing() -> None:
    upstream = pinned_upstream()
    view = upstream.view()
    for folder in PAYLOAD_FOLDERS:
        assert resolve(view, folder, _target).kind == "dir"
    node = resolve(view, "recovery/bootcode4.bin", _target)
    assert (node.mount, node.repo_path) == ("rpi-eeprom", "firmware-2711/latest/recovery.bin")
