"""The device-name sanitiser, bootfiles.bin indexing and the reference lookup order."""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.chips import CHIPS
from rpiboot.sources import FileResolver, FileSource, TarIndex, refusal_reason, safe_parts

CM4 = CHIPS[0x2711]
CM5 = CHIPS[0x2712]
CM3 = CHIPS[0x2764]


# ----------------------------------------------------------------------- sanitiser
@pytest.mark.parametrize("name", [
    "/etc/passwd", "../secret.txt", "a/../../b", "overlays/..", "a\\b", "..\\x", "C:/x",
    "c:x", "a\0b", "a\nb", "tab\there", "\x7f", "", ".", "./", "//",
])
def test_dangerous_names_are_refused(name: str) -> None:
    assert refusal_reason(name) is not None
    with pytest.raises(ValueError):
        safe_parts(name)


@pytest.mark.parametrize(("name", "parts"), [
    ("config.txt", ("config.txt",)),
    ("overlays/x.dtbo", ("overlays", "x.dtbo")),
    ("./a//b", ("a", "b")),
    ("..hidden", ("..hidden",)),
    ("a..b/c", ("a..b", "c")),
])
def test_safe_names_are_accepted(name: str, parts: tuple[str, ...]) -> None:
    assert refusal_reason(name) is None
    assert safe_parts(name) == parts


hostile_names = st.lists(
    st.sampled_from(["..", ".", "", "a", "b.bin", "C:", "/", "\\", "x\0", "..\\..", "\n",
                     "overlays", "é", "...", "~"]), min_size=1, max_size=6,
).map("/".join) | st.text(max_size=40)


@settings(max_examples=300, deadline=None)
@given(hostile_names)
def test_no_accepted_name_leaves_the_directory_lexically(name: str) -> None:
    if refusal_reason(name) is not None:
        return
    base = "/srv/boot"
    joined = posixpath.normpath(posixpath.join(base, *safe_parts(name)))
    assert joined.startswith(base + "/")
    assert "\\" not in joined and "\0" not in joined


# ----------------------------------------------------------------------- tar index
def _make_tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_tar_index_streams_members_by_offset(tmp_path: Path) -> None:
    members = {"2712/mcb.bin": os.urandom(7092), "2712/BootMain": os.urandom(40000),
               "2711/mcb.bin": b"other"}
    archive = tmp_path / "bootfiles.bin"
    _make_tar(archive, members)
    index = TarIndex(archive)
    for name, data in members.items():
        found = index.find(name.upper())  # matched case-insensitively
        assert found is not None and found.size == len(data)
        assert b"".join(found.chunks(1000)) == data
    assert index.find("2712/missing.bin") is None


@pytest.mark.parametrize("size", [0, 1, 16383, 16384, 16385, 50_000, 16384 * 5 + 7])
def test_file_source_streams_in_full_chunks(tmp_path: Path, size: int) -> None:
    import array

    data = os.urandom(size)
    (tmp_path / "f").write_bytes(b"xx" + data + b"yy")
    source = FileSource(tmp_path / "f", size, offset=2)
    buffers = [array.array("B", bytes(16384)) for _ in range(2)]
    pieces = [chunk.tobytes() for chunk in source.stream_chunks(buffers)]
    assert b"".join(pieces) == data
    assert all(len(p) == 16384 for p in pieces[:-1])
    assert len(pieces) == -(-size // 16384)


def test_file_source_reports_truncated_file(tmp_path: Path) -> None:
    import array

    (tmp_path / "f").write_bytes(b"abc" * 10000)
    with pytest.raises(OSError):
        list(FileSource(tmp_path / "f", 40000).chunks())
    with pytest.raises(OSError):
        list(FileSource(tmp_path / "f", 40000).stream_chunks([array.array("B", bytes(1024))]))


# ----------------------------------------------------------------------- lookup order
def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _served(resolver: FileResolver, name: str) -> bytes | None:
    source = resolver.resolve(name)
    return None if source is None else source.read_all()


def test_prefix_folder_beats_top_level(tmp_path: Path) -> None:
    _write(tmp_path / "2711" / "start4.elf", b"prefixed")
    _write(tmp_path / "start4.elf", b"top")
    _write(tmp_path / "config.txt", b"cfg")
    resolver = FileResolver(tmp_path, CM4)
    assert _served(resolver, "start4.elf") == b"prefixed"
    assert _served(resolver, "config.txt") == b"cfg"
    assert _served(resolver, "nothing.bin") is None


def test_bootfiles_member_then_disk_override_then_directory(tmp_path: Path) -> None:
    _make_tar(tmp_path / "bootfiles.bin", {"2712/mcb.bin": b"from-tar",
                                           "2712/bootmain": b"tar-main",
                                           "2711/mcb.bin": b"wrong-chip"})
    _write(tmp_path / "2712" / "bootmain", b"disk-main")
    _write(tmp_path / "config.txt", b"dir-config")
    resolver = FileResolver(tmp_path, CM5)
    assert _served(resolver, "mcb.bin") == b"from-tar"
    assert _served(resolver, "MCB.BIN") == b"from-tar"  # archive match is case-insensitive
    assert _served(resolver, "bootmain") == b"disk-main"  # DIR/prefix/NAME wins
    assert _served(resolver, "config.txt") == b"dir-config"  # falls through to DIR/NAME
    assert resolver.resolve("mcb.bin").member == "2712/mcb.bin"


def test_overlay_folder_per_usb_path_but_never_for_bootcode(tmp_path: Path) -> None:
    _write(tmp_path / "1-1.3" / "config.txt", b"board-specific")
    _write(tmp_path / "1-1.3" / "bootcode4.bin", b"overlay-bootcode")
    _write(tmp_path / "config.txt", b"common")
    _write(tmp_path / "bootcode4.bin", b"common-bootcode")
    with_overlay = FileResolver(tmp_path, CM4, usb_path="1-1.3", overlay=True)
    assert _served(with_overlay, "config.txt") == b"board-specific"
    assert _served(with_overlay, "bootcode4.bin") == b"common-bootcode"
    other_port = FileResolver(tmp_path, CM4, usb_path="1-2", overlay=True)
    assert _served(other_port, "config.txt") == b"common"
    without = FileResolver(tmp_path, CM4, usb_path="1-1.3", overlay=False)
    assert _served(without, "config.txt") == b"common"


def test_overlay_beats_prefix_folder(tmp_path: Path) -> None:
    _write(tmp_path / "1-4" / "start.elf", b"overlay")
    _write(tmp_path / "2710" / "start.elf", b"prefix")
    resolver = FileResolver(tmp_path, CM3, usb_path="1-4", overlay=True)
    assert _served(resolver, "start.elf") == b"overlay"


def test_default_firmware_only_for_builtin_names(tmp_path: Path) -> None:
    boot, msd = tmp_path / "boot", tmp_path / "msd"
    boot.mkdir()
    _write(msd / "start4.elf", b"builtin-start4")
    _write(msd / "config.txt", b"must-not-serve")
    _write(boot / "bootcode4.bin", b"user-bootcode")
    _write(msd / "bootcode4.bin", b"builtin-bootcode")
    resolver = FileResolver(boot, CM4, fallback_dir=msd)
    assert _served(resolver, "start4.elf") == b"builtin-start4"
    assert _served(resolver, "bootcode4.bin") == b"user-bootcode"
    assert _served(resolver, "config.txt") is None


def test_user_symlinks_inside_the_boot_dir_are_followed(tmp_path: Path) -> None:
    firmware = _write(tmp_path / "firmware" / "2711" / "recovery.bin", b"recovery")
    boot = tmp_path / "recovery"
    boot.mkdir()
    (boot / "bootcode4.bin").symlink_to(os.path.relpath(firmware, boot))
    assert _served(FileResolver(boot, CM4), "bootcode4.bin") == b"recovery"


def test_directories_are_not_files(tmp_path: Path) -> None:
    (tmp_path / "overlays").mkdir()
    assert FileResolver(tmp_path, CM4).resolve("overlays") is None


def test_resolve_refuses_unsanitised_names(tmp_path: Path) -> None:
    _write(tmp_path.parent / "secret.txt", b"secret")
    with pytest.raises(ValueError):
        FileResolver(tmp_path, CM4).resolve("../secret.txt")


def test_stream_without_readv_gives_same_chunks(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import array

    import rpiboot.sources as sources

    data = os.urandom(16384 * 3 + 100)
    (tmp_path / "f").write_bytes(data)
    monkeypatch.setattr(sources, "USE_READV", False)  # what Windows does
    buffers = [array.array("B", bytes(16384)) for _ in range(2)]
    pieces = [c.tobytes() for c in FileSource(tmp_path / "f", len(data)).stream_chunks(buffers)]
    assert b"".join(pieces) == data and [len(p) for p in pieces] == [16384] * 3 + [100]


member_names = st.lists(st.text(alphabet="abcXYZ019_.-", min_size=1, max_size=12)
                        .filter(lambda n: n not in (".", "..")),
                        min_size=1, max_size=6, unique_by=str.lower)


@settings(max_examples=40, deadline=None)
@given(member_names, st.data())
def test_tar_index_finds_every_member(names: list[str], data: st.DataObject) -> None:
    import tempfile

    contents = {f"2711/{n}": data.draw(st.binary(max_size=3000)) for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "bootfiles.bin"
        _make_tar(archive, contents)
        index = TarIndex(archive)
        for name, blob in contents.items():
            found = index.find(name.swapcase())
            assert found is not None and found.read_all() == blob


def test_colon_refused_on_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.platform", "win32")
    assert refusal_reason("file.txt:stream") is not None
    monkeypatch.setattr("sys.platform", "linux")
    assert refusal_reason("file.txt:stream") is None


@pytest.mark.parametrize("name", ["CON", "nul.txt", "overlays/COM1.dtbo", "lpt9", "aux .x",
                                  "conin$", "file.", "dir /x"])
def test_windows_device_names_refused_on_windows(name: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.platform", "win32")
    assert refusal_reason(name) is not None
    monkeypatch.setattr("sys.platform", "linux")
    assert refusal_reason(name) is None


@pytest.mark.parametrize("name", ["config.txt", "overlays/console.dtbo", "com10.bin",
                                  "connect.txt", "nul_x"])
def test_ordinary_names_pass_on_windows(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.platform", "win32")
    assert refusal_reason(name) is None


def test_corrupt_bootfiles_is_an_input_error(tmp_path: Path) -> None:
    from rpiboot.errors import InputError

    (tmp_path / "bootfiles.bin").write_bytes(b"\x1f\x8b not a tar" * 100)
    with pytest.raises(InputError, match=r"bootfiles\.bin"):
        FileResolver(tmp_path, CM4)
