"""Open an OS image to flash: a file or standard input, raw or compressed, read as a stream.

:func:`open_image` tells the format from the first bytes, never from the name (a ``.img``
that is really xz is read as xz; standard input is peeked without losing a byte): raw,
gzip, xz, bzip2, zstd, or a zip archive holding one image.  A compressed layer inside
(``.img.xz`` inside a zip, ``.img.gz.xz``) is undone too, up to :data:`MAX_LAYERS` layers.
A format rpiboot cannot read (7z, qcow2, a tar archive, ...) is refused with what to do,
so it is never written to a disk as is.

Memory stays flat: the bytes come out through :meth:`ImageSource.readinto` into the
caller's buffers, or :meth:`ImageSource.chunks`.

``size`` is known up front only where the format says it honestly (a raw file's size, a
zip member's size, both checked when the stream ends).  For gzip/xz/zstd, ``size_estimate``
is what the trailer, index or frame header claims: for display only.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from rpiboot.errors import InputError
from rpiboot.flash import formats
from rpiboot.flash.decoders import Input, Readable, open_decoder
from rpiboot.flash.ziparchive import ZipImage, open_zip_member
from rpiboot.fspaths import path_error

DEFAULT_CHUNK = 4 << 20
MAX_LAYERS = 3
STDIN = "-"


class ImageSource:
    """The bytes of one image, streamed.  Made by :func:`open_image`; close it (or use it as
    a context manager) when done."""

    def __init__(self, *, name: str, layers: tuple[str, ...], reader: Readable,
                 size: int | None, size_estimate: int | None = None, member: str | None = None,
                 input_size: int | None = None, raw_fd: int | None = None,
                 closers: tuple[Any, ...] = (), path: Path | None = None) -> None:
        self.name = name
        self.layers = layers  # ("zip", "xz"): the zip holds an xz-compressed image
        self.format = layers[0]
        self.size = size
        self.size_estimate = size if size is not None else size_estimate
        self.member = member  # the image's name inside a zip archive
        self.input_size = input_size  # bytes of the file itself (compressed), when known
        self.position = 0  # image bytes handed out (or skipped) so far
        self._reader = reader
        self._raw_fd = raw_fd  # a seekable raw file: skip() seeks
        self._closers = closers
        self._path = path

    def __repr__(self) -> str:
        return (f"ImageSource({self.name!r}, layers={self.layers!r}, size={self.size}, "
                f"size_estimate={self.size_estimate})")

    @property
    def seekable(self) -> bool:
        """True for a raw image in a regular file (or block device): skips are seeks, and
        the bytes at any offset can be read again (:meth:`reopen`)."""
        return self._raw_fd is not None

    def readinto(self, buffer: memoryview | bytearray) -> int:
        """Fill ``buffer`` with the next image bytes: all of it, unless the image ends (then
        the count is smaller; 0 at the end).  InputError on damaged or lying data."""
        view = memoryview(buffer).cast("B")
        got = self._reader.readinto(view) or 0
        self.position += got
        if got < len(view):
            self._check_end()
        return got

    def chunks(self, size: int = DEFAULT_CHUNK) -> Iterator[memoryview]:
        """The image as consecutive chunks of ``size`` bytes (the last one shorter).  Each
        chunk is a fresh buffer the caller may keep."""
        while True:
            buffer = bytearray(size)
            got = self.readinto(buffer)
            if got:
                yield memoryview(buffer)[:got]
            if got < size:
                return

    def skip(self, count: int) -> int:
        """Pass over ``count`` image bytes (a seek for a raw file); the number passed over,
        smaller only at the end of the image."""
        if count <= 0:
            return 0
        if self._raw_fd is not None and self.size is not None and isinstance(self._reader, Input):
            step = max(0, min(count, self.size - self.position))
            self._reader.seek(self._raw_fd, self.position + step)
            self.position += step
            return step
        scratch = memoryview(bytearray(min(count, 1 << 20)))
        done = 0
        while done < count:
            got = self.readinto(scratch[:min(len(scratch), count - done)])
            done += got
            if not got:
                break
        return done

    def reopen(self) -> ImageSource | None:
        """A fresh source over the same bytes, from the start, when they can be read again
        cheaply (a raw file); None otherwise (standard input, compressed data)."""
        return open_image(self._path, name=self.name) if self.seekable and self._path else None

    def _check_end(self) -> None:
        if self.size is not None and self.position != self.size:
            raise InputError(f"{self.name}: the image ends at byte {self.position}, but "
                             f"{self.size} bytes were announced",
                             hint="The file changed while being read, or is damaged.")

    def close(self) -> None:
        for closer in self._closers:
            closer.close()
        self._closers = ()

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_image(path: str | os.PathLike[str], *, name: str | None = None,
               stdin: BinaryIO | None = None) -> ImageSource:
    """Open the image at ``path`` (``"-"``: standard input, or ``stdin`` when given) for
    streaming.  InputError naming the file when it cannot be read, is of a format rpiboot
    cannot read, or (for a zip) does not hold exactly one image."""
    if os.fspath(path) == STDIN:
        stream: Any = stdin if stdin is not None else sys.stdin.buffer
        return _from_stream(Input(stream), name=name or "<stdin>", closers=())
    file_path = Path(path)
    label = name or str(file_path)
    try:
        handle = open(file_path, "rb", buffering=0)  # noqa: SIM115 - closed by the source
    except OSError as exc:
        raise path_error(file_path, exc, doing="read the image") from None
    try:
        return _from_file(handle, file_path, label)
    except BaseException:
        handle.close()
        raise


def _from_file(handle: Any, path: Path, label: str) -> ImageSource:
    fd = handle.fileno()
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{label} is a folder, not an image", hint="Name the image file.")
    size: int | None = None
    if stat.S_ISREG(info.st_mode):
        size = info.st_size
    elif stat.S_ISBLK(info.st_mode):
        size = os.lseek(fd, 0, os.SEEK_END)
        os.lseek(fd, 0, os.SEEK_SET)
    source = Input(handle)
    try:
        kind = formats.detect_format(source.peek(formats.HEAD_SIZE))
    except OSError as exc:
        raise path_error(path, exc, doing="read the image") from None
    if kind == "zip":
        handle.close()
        return _from_zip(open_zip_member(path, label), label, path)
    if kind == "raw" and size is not None:
        return _from_stream(source, name=label, closers=(handle,), size=size, raw_fd=fd,
                            path=path)
    estimate = _size_claim(kind, fd, size, source.peek(formats.HEAD_SIZE)) if size else None
    return _from_stream(source, name=label, closers=(handle,), input_size=size,
                        estimate=estimate, path=path)


def _size_claim(kind: str, fd: int, file_size: int, head: bytes) -> int | None:
    def pread(length: int, offset: int) -> bytes:
        return os.pread(fd, length, offset)
    try:
        if kind == "gzip":
            return formats.gzip_size_claim(pread, file_size)
        if kind == "xz":
            return formats.xz_size_claim(pread, file_size)
    except OSError:
        return None
    return formats.zstd_size_claim(head) if kind == "zstd" else None


def _from_zip(archive: ZipImage, label: str, path: Path) -> ImageSource:
    source = Input(archive.stream)
    try:
        inner = _layers(source, f"{label}:{archive.member}", ("zip",))
    except BaseException:
        archive.close()
        raise
    reader, layers = inner
    size = archive.size if layers == ("zip",) else None
    return ImageSource(name=label, layers=layers, reader=reader, size=size,
                       member=archive.member, input_size=archive.compressed_size,
                       closers=(archive,), path=path)


def _from_stream(source: Input, *, name: str, closers: tuple[Any, ...], size: int | None = None,
                 raw_fd: int | None = None, input_size: int | None = None,
                 estimate: int | None = None, path: Path | None = None) -> ImageSource:
    try:
        reader, layers = _layers(source, name, ())
    except BaseException:
        for closer in closers:
            closer.close()
        raise
    if layers != ("raw",):
        size, raw_fd = None, None
    return ImageSource(name=name, layers=layers, reader=reader, size=size,
                       size_estimate=estimate if len(layers) == 1 else None,
                       input_size=input_size, raw_fd=raw_fd, closers=closers, path=path)


def _layers(source: Input, name: str, outer: tuple[str, ...]) -> tuple[Readable, tuple[str, ...]]:
    """Undo every compression layer at the start of ``source``: the reader of the image
    bytes and the layers seen (outermost first, ending with "raw" when nothing was)."""
    layers = list(outer)
    reader: Input = source
    while True:
        try:
            kind = formats.detect_format(reader.peek(formats.HEAD_SIZE))
        except OSError as exc:
            raise InputError(f"cannot read {name}: {exc.strerror or exc}",
                             hint="Check the file and the disk it is on.") from None
        if kind == "raw":
            return reader, tuple(layers) if layers else ("raw",)
        _refuse(kind, name, layers)
        if len(layers) >= MAX_LAYERS:
            raise InputError(f"{name}: more than {MAX_LAYERS} layers of compression "
                             f"({' in '.join([kind, *reversed(layers)])})",
                             hint="Decompress it yourself first.")
        layers.append(kind)
        reader = Input(open_decoder(reader, kind, name))


def _refuse(kind: str, name: str, layers: list[str]) -> None:
    if kind in formats.COMPRESSIONS:
        return
    inside = f" inside {' inside '.join(reversed(layers))}" if layers else ""
    if kind == "zip":
        if not layers:
            raise InputError(f"{name} is a zip archive, which cannot be read from a pipe",
                             hint="Save it to a file first, or stream the image out of it: "
                             "unzip -p FILE.zip | rpiboot flash -")
        raise InputError(f"{name}: a zip archive{inside} is not supported",
                         hint="Extract the image first.")
    raise InputError(f"{name} holds a {kind} {'archive' if kind == 'tar' else 'file'}{inside},"
                     " not a disk image rpiboot can write",
                     hint=formats.UNSUPPORTED_HINTS.get(kind, "Extract the image first."))
