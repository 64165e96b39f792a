"""Decompression bombs stream in flat memory: 512 MiB of zeros from a few hundred KB of
gzip, xz, bzip2 and zstd, read in a fresh process whose peak RSS is measured."""

from __future__ import annotations

import bz2
import lzma
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

SIZE = 512 << 20
PIECE = bytes(16 << 20)


def bomb(path: Path, kind: str) -> Path:
    """``path``: 512 MiB of zeros compressed with ``kind``, made 16 MiB at a time."""
    if kind == "gzip":
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    elif kind == "xz":
        packer = lzma.LZMACompressor(preset=1)
    elif kind == "bzip2":
        packer = bz2.BZ2Compressor(9)
    else:
        import zstandard
        packer = zstandard.ZstdCompressor(level=1).compressobj()
    with open(path, "wb") as sink:
        for _ in range(SIZE // len(PIECE)):
            sink.write(packer.compress(PIECE))
        sink.write(packer.flush())
    return path


READER = """
import resource, sys
from rpiboot.flash.image import open_image
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open_image(sys.argv[1]) as source:
    buffer = bytearray(4 << 20)
    total = 0
    while got := source.readinto(buffer):
        total += got
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(total, (after - before) // 1024)
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gzip", "xz", "bzip2", "zstd"])
def test_a_bomb_streams_in_flat_memory(kind: str, tmp_path: Path) -> None:
    path = bomb(tmp_path / f"bomb.{kind}", kind)
    assert path.stat().st_size < 8 << 20  # 512 MiB in a few MB at most
    out = subprocess.run([sys.executable, "-c", READER, str(path)], capture_output=True,
                         text=True, check=True).stdout.split()
    total, grown_mib = int(out[0]), int(out[1])
    assert total == SIZE
    assert grown_mib < 32, f"peak RSS grew by {grown_mib} MiB while reading {kind}"
