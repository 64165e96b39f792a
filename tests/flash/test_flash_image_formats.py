"""open_image on real images: every format made by the real tools and by Python's modules,
zip archives, standard input through a real pipe, names that lie, damaged streams."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from flash_imagekit import (
    MIB,
    SUFFIX,
    compress_python,
    compress_tool,
    make_image,
    make_zip,
    missing_tools,
)

from rpiboot.errors import InputError
from rpiboot.flash.image import ImageSource, open_image

KINDS = ("gzip", "xz", "bzip2", "zstd")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    folder = tmp_path_factory.mktemp("images")
    path = folder / "os.img"
    return path, make_image(path, 16 * MIB, seed=7)


@pytest.fixture(scope="module")
def tool_files(image: tuple[Path, bytes]) -> dict[str, Path]:
    assert missing_tools() == [], "CI must install gzip, xz-utils, bzip2 and zstd"
    return {kind: compress_tool(image[0], kind) for kind in KINDS}


def read_all(source: ImageSource) -> bytes:
    with source:
        return b"".join(bytes(chunk) for chunk in source.chunks(1 << 20))


def test_raw_image_has_its_size_up_front(image: tuple[Path, bytes]) -> None:
    source = open_image(image[0])
    assert (source.format, source.size, source.seekable) == ("raw", 16 * MIB, True)
    assert read_all(source) == image[1]


@pytest.mark.parametrize("kind", KINDS)
def test_tool_compressed_images_stream_back_exactly(kind: str, image: tuple[Path, bytes],
                                                    tool_files: dict[str, Path]) -> None:
    source = open_image(tool_files[kind])
    assert source.layers == (kind,) and source.size is None and not source.seekable
    if kind in ("gzip", "xz", "zstd"):  # what the trailer / index / header claims
        assert source.size_estimate == 16 * MIB
    assert hashlib.sha256(read_all(source)).digest() == hashlib.sha256(image[1]).digest()


@pytest.mark.parametrize("kind", KINDS)
def test_python_compressed_images_stream_back_exactly(kind: str, image: tuple[Path, bytes],
                                                      tmp_path: Path) -> None:
    path = compress_python(image[1], kind, tmp_path / f"py.img{SUFFIX[kind]}")
    assert read_all(open_image(path)) == image[1]


@pytest.mark.parametrize("kind", KINDS)
def test_a_wrong_name_does_not_fool_detection(kind: str, tool_files: dict[str, Path],
                                              image: tuple[Path, bytes], tmp_path: Path) -> None:
    liar = tmp_path / "really-compressed.img"
    liar.write_bytes(tool_files[kind].read_bytes())
    source = open_image(liar)
    assert source.format == kind
    assert read_all(source) == image[1]
    raw_named_xz = tmp_path / "raw.img.xz"
    raw_named_xz.write_bytes(image[1][:MIB])
    assert open_image(raw_named_xz).format == "raw"


@pytest.mark.parametrize("kind", KINDS)
def test_concatenated_streams_are_read_one_after_the_other(kind: str, tmp_path: Path) -> None:
    parts = [os.urandom(300_000), bytes(500_000)]
    files = [compress_python(part, kind, tmp_path / f"p{n}") for n, part in enumerate(parts)]
    joined = tmp_path / "joined"
    joined.write_bytes(b"".join(f.read_bytes() for f in files))
    assert read_all(open_image(joined)) == b"".join(parts)


@pytest.mark.parametrize("kind", KINDS)
def test_truncated_streams_name_the_file_and_offset(kind: str, tool_files: dict[str, Path],
                                                    tmp_path: Path) -> None:
    data = tool_files[kind].read_bytes()
    cut = tmp_path / f"cut{SUFFIX[kind]}"
    cut.write_bytes(data[:len(data) * 2 // 3])
    with pytest.raises(InputError) as caught:
        read_all(open_image(cut))
    message = str(caught.value)
    assert str(cut) in message and "offset" in message
    assert "truncated" in message or "corrupt" in message


@pytest.mark.parametrize("kind", KINDS)
def test_corrupt_streams_name_the_file_and_offset(kind: str, tool_files: dict[str, Path],
                                                  tmp_path: Path) -> None:
    data = bytearray(tool_files[kind].read_bytes())
    for at in range(len(data) // 2, len(data) // 2 + 64):
        data[at] ^= 0x5A
    bad = tmp_path / f"bad{SUFFIX[kind]}"
    bad.write_bytes(bytes(data))
    with pytest.raises(InputError) as caught:
        read_all(open_image(bad))
    assert str(bad) in str(caught.value) and "offset" in str(caught.value)


@pytest.mark.parametrize("kind", KINDS)
def test_trailing_garbage_is_refused_and_zero_padding_accepted(kind: str,
                                                               tmp_path: Path) -> None:
    data = compress_python(b"x" * 10_000, kind, tmp_path / "c").read_bytes()
    garbage = tmp_path / "garbage"
    garbage.write_bytes(data + b"\0\0\0\0not an image")
    with pytest.raises(InputError, match=r"after the end|corrupt|offset"):
        read_all(open_image(garbage))
    if kind != "zstd":  # zstd itself refuses padding too
        padded = tmp_path / "padded"
        padded.write_bytes(data + bytes(1024))
        assert read_all(open_image(padded)) == b"x" * 10_000


def test_a_zip_with_one_image_and_side_files(image: tuple[Path, bytes], tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "os.zip", {"os.img": image[0], "os.img.sha256": b"abc\n",
                                             "__MACOSX/._os.img": b"fork", "docs/": b""})
    source = open_image(archive)
    assert (source.format, source.member, source.size) == ("zip", "os.img", 16 * MIB)
    assert read_all(source) == image[1]


def test_a_stored_zip_and_a_compressed_image_inside_a_zip(image: tuple[Path, bytes],
                                                          tool_files: dict[str, Path],
                                                          tmp_path: Path) -> None:
    stored = make_zip(tmp_path / "stored.zip", {"os.img": image[0]}, method=0)
    assert read_all(open_image(stored)) == image[1]
    nested = make_zip(tmp_path / "nested.zip", {"os.img.xz": tool_files["xz"]}, method=0)
    source = open_image(nested)
    assert source.layers == ("zip", "xz") and source.size is None
    assert read_all(source) == image[1]


def test_a_zip_with_several_candidates_lists_them(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "two.zip", {"a.img": b"a" * 1000, "b.img": b"b" * 2000})
    with pytest.raises(InputError) as caught:
        open_image(archive)
    assert "a.img (1000 bytes)" in str(caught.value) and "b.img (2000 bytes)" in str(caught.value)


def test_a_zip_without_an_image_says_what_it_holds(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "none.zip", {"README.txt": b"hi", "os.img.sha256": b"x"})
    with pytest.raises(InputError, match=r"no image in the zip archive \(it holds README.txt"):
        open_image(archive)
    empty = make_zip(tmp_path / "empty.zip", {})
    with pytest.raises(InputError, match="no image"):
        open_image(empty)


def test_a_damaged_zip_member_is_an_input_error(image: tuple[Path, bytes],
                                                tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "os.zip", {"os.img": image[0]})
    data = bytearray(archive.read_bytes())
    for at in range(len(data) // 3, len(data) // 3 + 32):
        data[at] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"os\.zip:os\.img"):
        read_all(open_image(archive))


def test_stdin_through_a_real_pipe_loses_no_byte(tool_files: dict[str, Path],
                                                  image: tuple[Path, bytes]) -> None:
    read_end, write_end = os.pipe()
    payload = tool_files["xz"].read_bytes()

    def feed() -> None:
        with os.fdopen(write_end, "wb") as sink:
            sink.write(payload)

    writer = threading.Thread(target=feed)
    writer.start()
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        source = open_image("-", stdin=pipe)
        assert (source.name, source.format, source.size) == ("<stdin>", "xz", None)
        assert read_all(source) == image[1]
    writer.join()


def test_stdin_of_a_process_raw_and_compressed(tool_files: dict[str, Path],
                                               image: tuple[Path, bytes]) -> None:
    script = ("import hashlib, sys\nfrom rpiboot.flash.image import open_image\n"
              "s = open_image('-')\nh = hashlib.sha256()\n"
              "for c in s.chunks(): h.update(c)\nprint(s.format, s.position, h.hexdigest())")
    expected = hashlib.sha256(image[1]).hexdigest()
    for path, kind in ((image[0], "raw"), (tool_files["zstd"], "zstd")):
        with open(path, "rb") as stdin:
            out = subprocess.run([sys.executable, "-c", script], stdin=stdin,
                                 capture_output=True, text=True, check=True).stdout.split()
        assert out == [kind, str(16 * MIB), expected]


def test_a_zip_on_stdin_is_refused_with_a_way_out(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"a.img": b"a" * 100})
    with open(archive, "rb") as stdin, pytest.raises(InputError, match="from a pipe") as caught:
        open_image("-", stdin=stdin)
    assert "unzip -p" in (caught.value.hint or "")


@pytest.mark.parametrize(("head", "kind"), [(b"7z\xbc\xaf\x27\x1c" + bytes(100), "7z"),
                                            (b"QFI\xfb" + bytes(100), "qcow2"),
                                            (b"\x3a\xff\x26\xed" + bytes(100), "android")])
def test_formats_rpiboot_cannot_write_are_refused(head: bytes, kind: str,
                                                  tmp_path: Path) -> None:
    path = tmp_path / "image.img"
    path.write_bytes(head)
    with pytest.raises(InputError, match=kind) as caught:
        open_image(path)
    assert caught.value.hint


def test_a_tar_inside_xz_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "os.img").write_bytes(b"\1" * 4096)
    archive = tmp_path / "os.tar.xz"
    subprocess.run(["tar", "-cJf", str(archive), "-C", str(folder), "os.img"], check=True)
    with pytest.raises(InputError, match=r"holds a tar archive inside xz") as caught:
        open_image(archive)
    assert "tar xf" in (caught.value.hint or "")


def test_missing_paths_and_folders_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        open_image(tmp_path / "nope.img")
    with pytest.raises(InputError, match="folder"):
        open_image(tmp_path)


def test_without_zstd_support_the_error_says_how_to_get_it(tool_files: dict[str, Path]) -> None:
    script = ("import sys\nsys.modules['zstandard'] = None\n"
              "sys.modules['compression.zstd'] = None\n"
              "from rpiboot.errors import InputError\nfrom rpiboot.flash.image import open_image\n"
              f"try:\n    open_image({str(tool_files['zstd'])!r})\n"
              "except InputError as e:\n    print(e.message, '|', e.hint)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    assert "zstd-compressed" in out and "rpiboot[flash]" in out and "zstd -dc" in out


def test_skip_seeks_in_a_raw_file_and_reads_elsewhere(image: tuple[Path, bytes],
                                                      tool_files: dict[str, Path]) -> None:
    for path in (image[0], tool_files["gzip"]):
        with open_image(path) as source:
            assert source.skip(5 * MIB + 3) == 5 * MIB + 3
            buffer = bytearray(1000)
            assert source.readinto(buffer) == 1000
            assert bytes(buffer) == image[1][5 * MIB + 3:5 * MIB + 1003]
            assert source.skip(100 * MIB) == 16 * MIB - (5 * MIB + 1003)
            assert source.position == 16 * MIB and source.readinto(buffer) == 0
