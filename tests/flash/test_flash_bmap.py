"""bmap files: generated from real sparse images, every format version, lies and damage."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from flash_imagekit import MIB, allocated_ranges, make_bmap, make_image
from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.errors import InputError
from rpiboot.flash.bmap import find_bmap, load_bmap, parse_bmap


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    path = tmp_path_factory.mktemp("bmap") / "os.img"
    return path, make_image(path, 8 * MIB + 1000, seed=3)  # a partial last block


@pytest.mark.parametrize(("version", "checksum"), [("2.0", "sha256"), ("2.0", "sha1"),
                                                   ("1.4", "sha256"), ("1.3", "sha1"),
                                                   ("1.2", "sha1")])
def test_generated_bmaps_of_every_version_parse(version: str, checksum: str,
                                                image: tuple[Path, bytes]) -> None:
    bmap = parse_bmap(make_bmap(image[0], version=version, checksum=checksum), name="os.bmap")
    assert (bmap.image_size, bmap.block_size, bmap.version) == (8 * MIB + 1000, 4096, version)
    assert bmap.checksum_type == checksum
    allocated = sum(length for _, length in allocated_ranges(image[0]))
    assert bmap.mapped_bytes <= allocated + 4096 and bmap.mapped_bytes >= allocated - 4096
    for mapped in bmap.ranges:
        offset, length = bmap.byte_range(mapped)
        data = image[1][offset:offset + length]
        assert hashlib.new(checksum, data).hexdigest() == mapped.checksum


def test_find_bmap_beside_the_image_or_without_the_compression_suffix(tmp_path: Path) -> None:
    (tmp_path / "os.img.xz").write_bytes(b"")
    assert find_bmap(tmp_path / "os.img.xz") is None
    (tmp_path / "os.img.bmap").write_bytes(b"")
    assert find_bmap(tmp_path / "os.img.xz") == tmp_path / "os.img.bmap"
    (tmp_path / "os.img.xz.bmap").write_bytes(b"")
    assert find_bmap(tmp_path / "os.img.xz") == tmp_path / "os.img.xz.bmap"
    assert find_bmap(tmp_path / "os.img") == tmp_path / "os.img.bmap"
    assert find_bmap("-") is None


def test_the_files_own_checksum_is_checked(image: tuple[Path, bytes]) -> None:
    good = make_bmap(image[0])
    edited = good.replace(b"made by rpiboot's tests", b"made by rpiboot's test!")
    with pytest.raises(InputError, match="own checksum"):
        parse_bmap(edited, name="os.bmap")
    old = make_bmap(image[0], version="1.3")
    with pytest.raises(InputError, match="BmapFileSHA1"):
        parse_bmap(old.replace(b"<!-- made", b"<!-- Made"), name="os.bmap")


@pytest.mark.parametrize(("change", "field"), [
    ((b"<BlockSize> 4096 ", b"<BlockSize> 0 "), "BlockSize"),
    ((b"<BlocksCount> ", b"<BlocksCount> 1"), "BlocksCount"),
    ((b"<MappedBlocksCount> ", b"<MappedBlocksCount> 9"), "MappedBlocksCount"),
    ((b'version="2.0"', b'version="3.0"'), "version"),
    ((b'version="2.0"', b'version="two"'), "version"),
    ((b"<ChecksumType> sha256", b"<ChecksumType> md5"), "ChecksumType"),
    ((b"ImageSize>", b"ImageSise>"), "ImageSize"),
    ((b"</bmap>", b""), "malformed XML at line"),
])
def test_lying_or_malformed_fields_are_named(change: tuple[bytes, bytes], field: str,
                                             image: tuple[Path, bytes]) -> None:
    # version and ChecksumType are read before the file's checksum is checked; the other
    # fields are changed in a 1.2 file, which has no checksum of its own
    new_style = b"version" in change[0] or b"ChecksumType" in change[0]
    data = make_bmap(image[0], version="2.0" if new_style else "1.2")
    assert data.count(change[0]) >= 1
    with pytest.raises(InputError, match=field):
        parse_bmap(data.replace(*change), name="os.bmap")


def test_ranges_outside_the_image_or_overlapping_are_refused(tmp_path: Path,
                                                             image: tuple[Path, bytes]) -> None:
    blocks = -(-len(image[1]) // 4096)
    with pytest.raises(InputError, match="not inside"):
        parse_bmap(make_bmap(image[0], version="1.2", ranges=[(0, blocks)]), name="b")
    with pytest.raises(InputError, match="overlap"):
        parse_bmap(make_bmap(image[0], version="1.2", ranges=[(0, 4), (4, 6)]), name="b")
    unsorted = parse_bmap(make_bmap(image[0], version="1.2", ranges=[(9, 10), (0, 1)]),
                          name="b")
    assert [r.first for r in unsorted.ranges] == [0, 9]


def test_doctype_and_entities_are_refused_before_parsing(image: tuple[Path, bytes]) -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE bmap [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><bmap version="1.2">&b;</bmap>')
    with pytest.raises(InputError, match="DOCTYPE"):
        parse_bmap(bomb, name="bomb.bmap")


def test_load_bmap_names_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_bmap(tmp_path / "none.bmap")
    big = tmp_path / "big.bmap"
    with open(big, "wb") as handle:
        handle.truncate(33 * MIB)
    with pytest.raises(InputError, match="larger than"):
        load_bmap(big)


@settings(max_examples=200)
@given(st.binary(max_size=3000))
def test_any_bytes_give_a_block_map_or_an_input_error(data: bytes) -> None:
    try:
        parse_bmap(data, name="fuzz.bmap")
    except InputError as exc:
        assert "fuzz.bmap" in str(exc)


_BODY = b"".join([b'<?xml version="1.0" ?>\n<bmap version="1.2">\n<ImageSize> 40960 </ImageSize>',
                  b"<BlockSize> 4096 </BlockSize><BlocksCount> 10 </BlocksCount>",
                  b"<MappedBlocksCount> 3 </MappedBlocksCount><BlockMap>",
                  b"<Range> 0-1 </Range><Range> 5 </Range></BlockMap></bmap>"])


@settings(max_examples=300)
@given(st.integers(0, len(_BODY) - 1), st.integers(0, 255))
def test_a_changed_byte_never_escapes_as_another_error(at: int, value: int) -> None:
    assert parse_bmap(_BODY, name="b").mapped_blocks_count == 3
    mutated = _BODY[:at] + bytes([value]) + _BODY[at + 1:]
    try:
        bmap = parse_bmap(mutated, name="b")
    except InputError:
        return
    assert sum(r.last - r.first + 1 for r in bmap.ranges) == bmap.mapped_blocks_count
    assert all(r.last < bmap.blocks_count for r in bmap.ranges)


@settings(max_examples=100)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 5)), max_size=20),
       st.integers(1, 9))
def test_generated_ranges_round_trip(spans: list[tuple[int, int]], shift: int) -> None:
    ranges, at = [], 0
    for gap, length in spans:
        first = at + gap
        ranges.append((first, first + length))
        at = first + length + 1
    blocks = at + 1
    lines = [f"<Range> {a}-{b} </Range>" if a != b else f"<Range> {a} </Range>"
             for a, b in ranges]
    xml = (f'<bmap version="1.{shift % 3}"><ImageSize>{blocks * 512 - shift}</ImageSize>'
           f"<BlockSize>512</BlockSize><BlocksCount>{blocks}</BlocksCount>"
           f"<MappedBlocksCount>{sum(b - a + 1 for a, b in ranges)}</MappedBlocksCount>"
           f"<BlockMap>{''.join(lines)}</BlockMap></bmap>").encode()
    bmap = parse_bmap(xml, name="gen")
    assert [(r.first, r.last) for r in bmap.ranges] == ranges
