"""Test images for rpiboot.flash: sparse raw images with random and empty regions, the same
compressed by the real tools and by Python's modules, and bmap files made from the image's
allocated ranges (SEEK_DATA / SEEK_HOLE, as bmaptool does) by a small generator of our own.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
import random
import shutil
import subprocess
import zipfile
from pathlib import Path

MIB = 1 << 20
TOOLS = {"gzip": ["gzip", "-c", "-1"], "xz": ["xz", "-c", "-0", "-T1"],
         "bzip2": ["bzip2", "-c", "-1"], "zstd": ["zstd", "-q", "-c", "-1"]}
SUFFIX = {"gzip": ".gz", "xz": ".xz", "bzip2": ".bz2", "zstd": ".zst"}


def missing_tools() -> list[str]:
    return [name for name, command in TOOLS.items() if shutil.which(command[0]) is None]


def make_image(path: Path, size: int, *, seed: int = 1, data_regions: int = 6) -> bytes:
    """A sparse image of ``size`` bytes: an "MBR" at 0, then ``data_regions`` random runs
    (4 KiB aligned, 4 KiB to 1 MiB long) with holes between them; its bytes."""
    rng = random.Random(seed)
    image = bytearray(size)
    image[0:512] = rng.randbytes(446) + bytes(64) + b"\x55\xaa"
    spots = sorted(rng.sample(range(1, size // 4096 - 256), data_regions))
    for spot in spots:
        length = rng.randrange(1, 257) * 4096
        start = spot * 4096
        image[start:start + length] = rng.randbytes(min(length, size - start))
    with open(path, "wb") as handle:
        handle.truncate(size)
        for start, length in _runs(image, 4096):
            handle.seek(start)
            handle.write(image[start:start + length])
    return bytes(image)


def _runs(image: bytes | bytearray, block: int) -> list[tuple[int, int]]:
    """(offset, length) of the runs of blocks that are not all zeros."""
    runs: list[tuple[int, int]] = []
    zero = bytes(block)
    for start in range(0, len(image), block):
        if image[start:start + block] != zero[:len(image[start:start + block])]:
            if runs and runs[-1][0] + runs[-1][1] == start:
                runs[-1] = (runs[-1][0], runs[-1][1] + block)
            else:
                runs.append((start, block))
    return runs


def compress_tool(image: Path, kind: str, out: Path | None = None) -> Path:
    """``image`` compressed by the real command-line tool of ``kind``."""
    out = out or image.with_name(image.name + SUFFIX[kind])
    with open(out, "wb") as sink:  # the file as an argument: zstd then records its size
        subprocess.run([*TOOLS[kind], str(image)], stdout=sink, check=True)
    return out


def compress_python(data: bytes, kind: str, out: Path) -> Path:
    """``data`` compressed by Python's own module for ``kind``."""
    if kind == "gzip":
        out.write_bytes(gzip.compress(data, compresslevel=1))
    elif kind == "xz":
        out.write_bytes(lzma.compress(data, preset=0))
    elif kind == "bzip2":
        out.write_bytes(bz2.compress(data, 1))
    else:
        import zstandard
        out.write_bytes(zstandard.ZstdCompressor(level=1).compress(data))
    return out


def make_zip(out: Path, members: dict[str, bytes | Path], *,
             method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(out, "w", method, compresslevel=1 if method == 8 else None) as zf:
        for name, content in members.items():
            if isinstance(content, Path):
                zf.write(content, name)
            else:
                zf.writestr(name, content)
    return out


def allocated_ranges(path: Path) -> list[tuple[int, int]]:
    """(offset, length) of the allocated data of a sparse file, from SEEK_DATA/SEEK_HOLE."""
    found: list[tuple[int, int]] = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size, pos = os.fstat(fd).st_size, 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            found.append((start, end - start))
            pos = end
    finally:
        os.close(fd)
    return found


def make_bmap(image: Path, *, block_size: int = 4096, version: str = "2.0",
              checksum: str = "sha256", ranges: list[tuple[int, int]] | None = None,
              image_size: int | None = None, corrupt_range: int | None = None) -> bytes:
    """A bmap file, in bmaptool's layout, for ``image``'s allocated blocks (or ``ranges``
    of block numbers, inclusive).  ``corrupt_range``: give that range a wrong checksum."""
    data = image.read_bytes()
    size = len(data) if image_size is None else image_size
    if ranges is None:
        ranges = []
        for offset, length in allocated_ranges(image):
            first, last = offset // block_size, (offset + length - 1) // block_size
            if ranges and ranges[-1][1] >= first - 1:
                ranges[-1] = (ranges[-1][0], last)
            else:
                ranges.append((first, last))
    blocks = -(-size // block_size)
    major, minor = (int(part) for part in version.split("."))
    new_style = major >= 2 or (major, minor) == (1, 4)
    kind = checksum if new_style else "sha1"
    attribute = "chksum" if new_style else "sha1"
    lines = ['<?xml version="1.0" ?>', "<!-- made by rpiboot's tests -->",
             f'<bmap version="{version}">', f"    <ImageSize> {size} </ImageSize>",
             f"    <BlockSize> {block_size} </BlockSize>",
             f"    <BlocksCount> {blocks} </BlocksCount>",
             f"    <MappedBlocksCount> {sum(b - a + 1 for a, b in ranges)} </MappedBlocksCount>"]
    if new_style:
        lines.append(f"    <ChecksumType> {kind} </ChecksumType>")
    file_field = "BmapFileChecksum" if new_style else "BmapFileSHA1" if minor == 3 else ""
    zeros = "0" * len(hashlib.new(kind).hexdigest())
    if file_field:
        lines.append(f"    <{file_field}> {zeros} </{file_field}>")
    lines.append("    <BlockMap>")
    for index, (first, last) in enumerate(ranges):
        digest = hashlib.new(kind, data[first * block_size:(last + 1) * block_size]).hexdigest()
        if index == corrupt_range:
            digest = "f" * len(digest)
        text = f"{first}-{last}" if last != first else f"{first}"
        lines.append(f'        <Range {attribute}="{digest}"> {text} </Range>')
    lines += ["    </BlockMap>", "</bmap>", ""]
    body = "\n".join(lines).encode()
    if file_field:
        body = body.replace(zeros.encode(), hashlib.new(kind, body).hexdigest().encode(), 1)
    return body
