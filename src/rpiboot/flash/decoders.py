"""Streaming decompression with bounded memory: gzip, xz, bzip2 and zstd.

Every decoder fills a caller's buffer (``readinto``) and never produces more than asked, so a
decompression bomb cannot grow memory: output is bounded by the buffer, input is read in
:data:`INPUT_PIECE` pieces.  Concatenated members/streams/frames (pigz, ``xz -T``, pbzip2,
``cat a.zst b.zst``) are read one after the other; after the last one, only zero padding is
accepted (xz stream padding; gzip/bzip2 like their tools), anything else is an error.

A malformed, truncated or lying stream raises :class:`~rpiboot.errors.InputError` naming the
file, the compressed offset (of the piece being decoded, so within :data:`INPUT_PIECE`) and
the image offset reached.

zstd: the standard library's ``compression.zstd`` (Python 3.14+), else the ``zstandard``
package (``pip install 'rpiboot[flash]'``).  ``zstandard`` reports no error for a stream cut
at a frame's middle, so its input goes through :class:`ZstdFrames`, which walks the frame
and block headers and tells whether the stream ended on a frame boundary.
"""

from __future__ import annotations

import bz2
import importlib
import lzma
import os
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from rpiboot.errors import InputError

INPUT_PIECE = 256 << 10
OUTPUT_PIECE = 1 << 20  # per decompress call: small allocations, reused by malloc
XZ_MEMLIMIT = 256 << 20  # xz -9e needs 65 MiB; a header asking for more is refused
ZSTD_MAX_WINDOW = 128 << 20  # zstd's own default limit (--long=27)
_MAGIC = {"gzip": b"\x1f\x8b", "xz": b"\xfd7zXZ\x00", "bzip2": b"BZh", "zstd": b"\x28\xb5\x2f\xfd"}
_ZERO_PADDING = ("gzip", "xz", "bzip2")


class Readable(Protocol):
    def readinto(self, buffer: memoryview) -> int | None: ...


class Input:
    """A byte stream with a peek buffer and a count of the bytes handed out."""

    def __init__(self, raw: Readable) -> None:
        self._raw = raw
        self._head = b""
        self._scratch = memoryview(bytearray(0))
        self.position = 0  # bytes returned by read/readinto so far

    def peek(self, size: int) -> bytes:
        """Up to ``size`` first unread bytes (fewer only at the end), not consumed."""
        if len(self._head) < size:
            more = bytearray(size - len(self._head))
            got = _fill(self._raw, memoryview(more))
            self._head += bytes(more[:got])
        return self._head[:size]

    def seek(self, fd: int, offset: int) -> None:
        """Continue at ``offset`` of the file ``fd`` this input reads (a seekable file)."""
        os.lseek(fd, offset, os.SEEK_SET)
        self._head = b""
        self.position = offset

    def read(self, size: int) -> memoryview:
        """Up to ``size`` bytes (empty only at the end), in a buffer this input reuses:
        valid until the next call (decompressors copy what they keep)."""
        if len(self._scratch) < size:
            self._scratch = memoryview(bytearray(size))
        got = self.readinto(self._scratch[:size], fill=False)
        return self._scratch[:got]

    def readinto(self, buffer: memoryview, *, fill: bool = True) -> int:
        """Read into ``buffer``: all of it unless the stream ends (``fill``), else at least
        one byte unless it ends."""
        got = 0
        if self._head:
            got = min(len(self._head), len(buffer))
            buffer[:got] = self._head[:got]
            self._head = self._head[got:]
        if got < len(buffer) and (fill or not got):
            got += _fill(self._raw, buffer[got:], once=not fill)
        self.position += got
        return got


def _fill(raw: Readable, buffer: memoryview, *, once: bool = False) -> int:
    got = 0
    while got < len(buffer):
        n = raw.readinto(buffer[got:])
        if not n:
            break
        got += n
        if once:
            break
    return got


class StreamDecoder:
    """gzip / xz / bzip2 / zstd (``compression.zstd``) through their ``decompressobj``-like
    objects, every call capped with ``max_length``."""

    def __init__(self, source: Input, kind: str, name: str) -> None:
        self._in = source
        self.kind = kind
        self._name = name
        self._new, self._errors = _factory(kind, name)
        self._dec = self._new()
        self._pending = b""  # input read but not yet accepted by the decompressor
        self._stalled = False  # the last call filled its output: call again before reading
        self._done = False
        self.produced = 0

    def readinto(self, out: memoryview) -> int:
        filled = 0
        while filled < len(out) and not self._done:
            if self._dec.eof:
                self._next_member()
                continue
            data = self._input()
            piece = self._decompress(data, min(len(out) - filled, OUTPUT_PIECE))
            out[filled:filled + len(piece)] = piece
            filled += len(piece)
            self.produced += len(piece)
        return filled

    def _input(self) -> bytes | memoryview:
        if self._pending or self._stalled:
            pending, self._pending = self._pending, b""
            return pending
        data = self._in.read(INPUT_PIECE)
        if not data:
            raise InputError(
                f"{self._name}: the {self.kind} data is truncated: it ends at compressed "
                f"offset {self._in.position} (image offset {self.produced})",
                hint="The download is incomplete or the file was cut: fetch it again.")
        return data

    def _decompress(self, data: bytes | memoryview, room: int) -> bytes:
        start = self._in.position - len(data)
        try:
            piece: bytes = self._dec.decompress(data, room)
        except self._errors as exc:
            raise InputError(
                f"{self._name}: corrupt {self.kind} data near compressed offset {start} "
                f"(image offset {self.produced}): {exc}",
                hint="The file is damaged: fetch it again (and check its checksum).") from None
        if hasattr(self._dec, "needs_input"):  # lzma, bz2, compression.zstd keep the input
            self._stalled = not self._dec.needs_input
        else:  # zlib hands back what it did not use; more output may wait inside it
            self._pending = self._dec.unconsumed_tail
            self._stalled = len(piece) == room
        if not piece and not data:
            self._stalled = False  # asked again with nothing new and got nothing: read more
        return piece

    def _next_member(self) -> None:
        rest = self._dec.unused_data + self._pending
        self._pending, self._stalled = b"", False
        magic = _MAGIC[self.kind]
        while len(rest) < len(magic):
            more = self._in.read(INPUT_PIECE)
            if not more:
                break
            rest += bytes(more)
        if not rest:
            self._done = True
        elif rest.startswith(magic):
            self._dec, self._pending = self._new(), rest
        elif self.kind in _ZERO_PADDING and not rest.strip(b"\0"):
            self._skip_padding(rest)
        else:
            at = self._in.position - len(rest)
            raise InputError(f"{self._name}: unexpected data after the end of the {self.kind} "
                             f"stream at compressed offset {at} (image offset {self.produced})",
                             hint="The file is damaged or is not what its format says.")

    def _skip_padding(self, zeros: bytes) -> None:
        at = self._in.position - len(zeros)
        while True:
            more = bytes(self._in.read(INPUT_PIECE))
            if not more:
                self._done = True
                return
            if more.strip(b"\0"):
                at = self._in.position - len(more) + (len(more) - len(more.lstrip(b"\0")))
                raise InputError(f"{self._name}: unexpected data after the end of the "
                                 f"{self.kind} stream at compressed offset {at}",
                                 hint="The file is damaged or is not what its format says.")


_BASE_ERRORS: tuple[type[Exception], ...] = (zlib.error, lzma.LZMAError, OSError, EOFError)


def _factory(kind: str, name: str) -> tuple[Callable[[], Any], tuple[type[Exception], ...]]:
    """A constructor of fresh decompressors for ``kind``, and the errors they raise."""
    if kind == "gzip":
        return (lambda: zlib.decompressobj(wbits=31)), _BASE_ERRORS
    if kind == "xz":
        return (lambda: lzma.LZMADecompressor(format=lzma.FORMAT_XZ,
                                              memlimit=XZ_MEMLIMIT)), _BASE_ERRORS
    if kind == "bzip2":
        return bz2.BZ2Decompressor, _BASE_ERRORS
    module = stdlib_zstd() if kind == "zstd" else None
    if module is None:
        raise ValueError(f"no stream decompressor for {kind!r} ({name})")
    window = {module.DecompressionParameter.window_log_max: ZSTD_MAX_WINDOW.bit_length() - 1}
    return (lambda: module.ZstdDecompressor(options=window)), (*_BASE_ERRORS, module.ZstdError)


def stdlib_zstd() -> Any | None:
    """``compression.zstd`` (Python 3.14+), or None."""
    try:
        return importlib.import_module("compression.zstd")
    except ImportError:
        return None


def zstandard_module() -> Any | None:
    """The ``zstandard`` package, or None."""
    try:
        return importlib.import_module("zstandard")
    except ImportError:
        return None


def open_decoder(source: Input, kind: str, name: str) -> StreamDecoder | ZstandardDecoder:
    """A decoder of ``kind`` reading ``source``; InputError when zstd support is missing."""
    if kind != "zstd" or stdlib_zstd() is not None:
        return StreamDecoder(source, kind, name)
    module = zstandard_module()
    if module is None:
        raise InputError(
            f"{name} is zstd-compressed, and reading zstd needs Python 3.14 or the "
            "'zstandard' package, which is not installed",
            hint="Install it: pip install 'rpiboot[flash]' (or pip install zstandard); or "
            f"stream it: zstd -dc {name} | rpiboot flash -")
    return ZstandardDecoder(source, module, name)


class ZstandardDecoder:
    """zstd through the ``zstandard`` package's bounded ``stream_reader``."""

    kind = "zstd"

    def __init__(self, source: Input, module: Any, name: str) -> None:
        self._in = source
        self._frames = ZstdFrames()
        self._error = module.ZstdError
        self._name = name
        self.produced = 0
        decompressor = module.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
        self._reader = decompressor.stream_reader(self, read_size=INPUT_PIECE,
                                                  read_across_frames=True, closefd=False)

    def read(self, size: int) -> memoryview:  # the input side, as zstandard reads it
        data = self._in.read(min(size, INPUT_PIECE))
        self._frames.feed(data)
        return data

    def readinto(self, out: memoryview) -> int:
        filled = 0
        try:
            while filled < len(out):
                got = self._reader.readinto(out[filled:])
                if not got:
                    break
                filled += got
        except self._error as exc:
            raise InputError(f"{self._name}: corrupt zstd data near compressed offset "
                             f"{self._in.position} (image offset {self.produced + filled}): "
                             f"{exc}", hint="The file is damaged: fetch it again.") from None
        self.produced += filled
        if filled < len(out) and not self._frames.complete:
            raise InputError(
                f"{self._name}: the zstd data is truncated: it ends at compressed offset "
                f"{self._in.position} in the middle of a frame (image offset {self.produced})",
                hint="The download is incomplete or the file was cut: fetch it again.")
        return filled


class ZstdFrames:
    """Walks zstd frame and block headers (RFC 8878) over a byte stream, to tell whether it
    ended between frames.  Malformed headers are left to the decompressor to report."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._need = 4
        self._state = "magic"
        self._skip = 0
        self._last = False
        self._checksum = False

    @property
    def complete(self) -> bool:
        return self._state == "magic" and not self._buf and not self._skip

    def feed(self, data: bytes | memoryview) -> None:
        pos = 0
        while pos < len(data):
            if self._skip:
                step = min(self._skip, len(data) - pos)
                self._skip -= step
                pos += step
                continue
            step = min(self._need - len(self._buf), len(data) - pos)
            self._buf += data[pos:pos + step]
            pos += step
            if len(self._buf) == self._need:
                header, self._buf = bytes(self._buf), bytearray()
                self._advance(header)

    def _advance(self, header: bytes) -> None:
        state = self._state
        if state == "magic":
            magic = int.from_bytes(header, "little")
            if 0x184D2A50 <= magic <= 0x184D2A5F:
                self._state, self._need = "skippable", 4
            else:  # a zstd frame (or garbage, which the decompressor reports)
                self._state, self._need = "descriptor", 1
        elif state == "skippable":
            self._skip = int.from_bytes(header, "little")
            self._state, self._need = "magic", 4
        elif state == "descriptor":
            flags = header[0]
            single = bool(flags & 0x20)
            self._checksum = bool(flags & 0x04)
            fcs = (1 if single else 0, 2, 4, 8)[flags >> 6]
            rest = (0 if single else 1) + (0, 1, 2, 4)[flags & 3] + fcs
            self._state, self._need = "block", 3
            self._skip = rest
        elif state == "block":
            value = int.from_bytes(header, "little")
            self._last = bool(value & 1)
            size = value >> 3
            self._skip = 1 if (value >> 1) & 3 == 1 else size
            if self._last:
                self._skip += 4 if self._checksum else 0
                self._state, self._need = "magic", 4
