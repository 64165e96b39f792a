"""The bounded tar header reader behind bootfiles.bin: same view as tarfile on good archives,
an InputError naming the archive, the header offset and the field on bad ones."""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpiboot.errors import InputError
from rpiboot.sources import TarIndex
from rpiboot.tarreader import MAX_META_SIZE, parse_pax, read_members

FAST = settings(max_examples=60, deadline=2000,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _tar(members: list[tuple[str, bytes | None]], fmt: int = tarfile.USTAR_FORMAT) -> bytes:
    """An archive built by tarfile (None data = a directory)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _tarfile_view(path: Path) -> dict[str, tuple[int, int]]:
    """What the previous implementation (tarfile) indexed: regular files, first one wins."""
    view: dict[str, tuple[int, int]] = {}
    with tarfile.open(path, "r:") as archive:
        for info in archive:
            if info.isfile():
                name = info.name
                while name.startswith("./"):
                    name = name[2:]
                view.setdefault(name.lower(), (info.offset_data, info.size))
    return view


def _write(tmp_path: Path, data: bytes, name: str = "bootfiles.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _header(name: bytes, size_field: bytes, typeflag: bytes = b"0",
            magic: bytes = b"ustar\x0000") -> bytes:
    """One hand-made 512-byte header with a correct checksum."""
    block = bytearray(512)
    block[0:len(name)] = name
    block[100:108] = b"0000644\0"
    block[124:136] = size_field
    block[156:157] = typeflag
    block[257:265] = magic
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def test_the_real_bootfiles_bin_reads_as_tarfile_reads_it(firmware_dir: Path) -> None:
    path = firmware_dir / "usbboot" / "mass-storage-gadget64" / "bootfiles.bin"
    index = TarIndex(path)
    assert index.members == _tarfile_view(path)
    assert "2712/bootcode5.bin" in index.members and index.skipped == []


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_every_tarfile_format_with_long_names_dirs_and_duplicates(tmp_path: Path,
                                                                   fmt: int) -> None:
    long_name = "2712/" + "d" * 120 + "/mcb.bin"
    members = [("2712", None), ("./2712/mcb.bin", b"first"), ("2712/MCB.bin", b"second"),
               ("2712/memsys.bin", b"m" * 1000), ("2712/empty", b"")]
    if fmt != tarfile.USTAR_FORMAT:
        members.append((long_name, b"long"))
    if fmt == tarfile.PAX_FORMAT:
        members.append(("2712/café.bin", b"unicode"))
    path = _write(tmp_path, _tar(members, fmt))
    index = TarIndex(path)
    assert index.members == _tarfile_view(path)
    found = index.find("2712/mcb.bin")
    assert found is not None and found.read_all() == b"first"  # "./" dropped, first wins
    if fmt != tarfile.USTAR_FORMAT:
        long = index.find(long_name.upper())
        assert long is not None and long.read_all() == b"long"


def test_links_devices_and_unknown_types_are_not_served(tmp_path: Path) -> None:
    data = bytearray(_tar([("2711/a.bin", b"a")]))
    odd = [_header(b"2711/link", b"0" * 11 + b"\0", b"2"),
           _header(b"2711/vendor", b"00000000005\0", b"Z") + b"zzzzz".ljust(512, b"\0")]
    data[1024:1024] = b"".join(odd)  # after the first member's header + data
    path = _write(tmp_path, bytes(data))
    index = TarIndex(path)
    assert set(index.members) == {"2711/a.bin"}
    assert index.skipped == ["2711/vendor: member of unknown type b'Z', not served"]


@pytest.mark.parametrize(("header", "message"), [
    (_header(b"2711/x.bin", b"\xff" * 12), r"offset 0: field size \(member '2711/x\.bin'\) is "
     "negative"),
    (_header(b"2711/x.bin", b"\x80" + (1 << 40).to_bytes(11, "big")),
     r"member '2711/x\.bin': its size field claims 1099511627776 bytes"),
    (_header(b"2711/x.bin", b"77777777777\0"), r"claims 8589934591 bytes from offset 512"),
    (_header(b"2711/x.bin", b"0000000012\0\0", b"S"), r"'2711/x\.bin' is a GNU sparse file"),
    (_header(b"2711/x.bin", b"0000000012\0\0", b"M"), r"continues a file from another volume"),
    (_header(b"2711/x.bin", b"00000000z12\0"), r"size .* is not an octal number"),
])
def test_crafted_headers_are_input_errors_naming_the_member(tmp_path: Path, header: bytes,
                                                            message: str) -> None:
    path = _write(tmp_path, header + bytes(512 * 20))
    with pytest.raises(InputError, match=message) as caught:
        TarIndex(path)
    assert str(path) in caught.value.message and caught.value.hint


def _record(key: str, value: str) -> bytes:
    """One pax record with its self-including length."""
    body = f" {key}={value}\n".encode()
    length = len(body) + len(str(len(body)))
    length = len(body) + len(str(length))
    return str(length).encode() + body


def test_pax_sparse_and_oversized_pax_size_are_refused(tmp_path: Path) -> None:
    def pax(records: bytes) -> bytes:
        return (_header(b"PaxHeader", b"%011o\0" % len(records), b"x")
                + records.ljust(-(-len(records) // 512) * 512, b"\0"))

    member = _header(b"2711/x.bin", b"00000000012\0") + b"0123456789".ljust(512, b"\0")
    sparse = _write(tmp_path, pax(_record("GNU.sparse.major", "1")) + member + bytes(1024), "s.tar")
    with pytest.raises(InputError, match="GNU sparse file"):
        TarIndex(sparse)
    huge = _write(tmp_path, pax(_record("size", "99999999999")) + member + bytes(1024), "h.tar")
    with pytest.raises(InputError, match="claims 99999999999 bytes"):
        TarIndex(huge)
    renamed = _write(tmp_path, pax(_record("path", "2711/y.bin")) + member + bytes(1024), "r.tar")
    found = TarIndex(renamed).find("2711/Y.BIN")
    assert found is not None and found.read_all() == b"0123456789"


@pytest.mark.parametrize(("payload", "message"), [
    (b"5 a=b\n", "wrong length"), (b"x a=b\n", "has no length"), (b"11 novalue\n", "KEY=VALUE"),
    (b"99 a=b\n", "wrong length"), (b"0 \n", "wrong length"),
])
def test_malformed_pax_records(payload: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_pax(payload, "bootfiles.bin", 512)


def test_extended_headers_are_bounded_and_must_precede_a_member(tmp_path: Path) -> None:
    size = MAX_META_SIZE + 1
    big = _write(tmp_path, _header(b"././@LongLink", b"%011o\0" % size, b"L")
                 + bytes(-(-size // 512) * 512 + 1024), "big.tar")
    with pytest.raises(InputError, match="extended header of 1048577 bytes"):
        TarIndex(big)
    dangling = _write(tmp_path, _header(b"././@LongLink", b"00000000004\0", b"L")
                      + b"abc".ljust(512, b"\0") + bytes(1024), "dangling.tar")
    with pytest.raises(InputError, match="not followed by a member"):
        TarIndex(dangling)


def test_damaged_or_truncated_archives(tmp_path: Path) -> None:
    good = _tar([("2711/a.bin", b"a" * 700), ("2711/b.bin", b"b")])
    flipped = bytearray(good)
    flipped[1536 + 3] ^= 0x40  # second header's name: the checksum no longer matches
    with pytest.raises(InputError, match="offset 1536: checksum mismatch"):
        TarIndex(_write(tmp_path, bytes(flipped), "flip.tar"))
    with pytest.raises(InputError, match="ends inside a header"):
        TarIndex(_write(tmp_path, good[:1536] + b"\x01" * 100, "cut.tar"))
    with pytest.raises(InputError, match="empty file"):
        TarIndex(_write(tmp_path, b"", "empty.tar"))
    with pytest.raises(InputError, match="cannot read"):
        read_members(tmp_path / "missing.tar")
    no_end = TarIndex(_write(tmp_path, good[:2560], "noend.tar"))  # no end-of-archive blocks
    assert set(no_end.members) == {"2711/a.bin", "2711/b.bin"}


@FAST
@given(st.binary(max_size=4096))
def test_any_bytes_give_members_inside_the_file_or_an_input_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), data)
        try:
            members = read_members(path)
        except InputError as err:
            assert str(path) in err.message
            return
    for member in members:
        assert member.offset >= 0 and member.offset + member.size <= len(data)


def test_a_corrupt_bootfiles_bin_fails_the_board_as_an_input_error(boot) -> None:
    """Through the engine: the board fails with exit 1 and a message naming the archive,
    not as an internal error (exit 3) with a traceback."""
    from rpiboot.errors import ExitCode

    crafted = _header(b"2712/bootcode5.bin", b"\x80" + (1 << 40).to_bytes(11, "big"))
    spec = {
        "name": "corrupt-bootfiles",
        "bootdir": {"bootfiles.bin": {"hex": (crafted + bytes(1024)).hex()},
                    "bootcode5.bin": {"random": 4096}},
        "devices": [{"id": "b", "port": "1-1",
                     "rom": {"pid": "2712", "serial_index": 3, "serial": "af04b2da",
                             "expect_bootcode": "file:bootcode5.bin"},
                     "second_stage": {"serial_index": 4, "serial": "b29d2da0",
                                      "steps": [{"op": "done"}]}}],
    }
    run = boot(spec)
    assert run.result is not None and run.result.exit_code == ExitCode.FAILED
    [failed] = run.kinds("error")
    assert failed.exit_code == ExitCode.FAILED and failed.board.port_path == "1-1"
    assert "bootfiles.bin: tar header at offset 0: member '2712/bootcode5.bin'" in failed.error
    assert "internal error" not in failed.error and failed.hint
