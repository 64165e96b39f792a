"""Writing boot.img and boot.sig together, with the secure-boot .sig code.

The image is written to a temporary file beside the output, signed there, and only then
renamed into place next to its freshly written .sig: a failing key or HSM wrapper leaves
neither a new image nor a new .sig behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from rpiboot.bootimg.layout import ImagePlan
from rpiboot.bootimg.writer import write_image
from rpiboot.fsutil import atomic_output, atomic_write

if TYPE_CHECKING:
    from rpiboot.signing.signer import Signer


def default_sig_path(image: Path) -> Path:
    """``boot.img`` → ``boot.sig`` (the name the Pi bootloader looks for)."""
    return image.with_suffix(".sig")


def write_signed_image(plan: ImagePlan, output: Path, sig_path: Path, *, signer: Signer,
                       sig_timestamp: int | None = None) -> None:
    """Write the image and its .sig (signed by ``signer``), all or nothing."""
    from rpiboot.signing.sigfile import make_sig

    directory = output.parent if str(output.parent) else Path(".")
    fd, staged_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".unsigned",
                                       dir=directory)
    os.close(fd)
    staged = Path(staged_name)
    try:
        with atomic_output(staged) as handle:
            write_image(plan, handle)
        sig = make_sig(staged, signer=signer, timestamp=sig_timestamp)
        atomic_write(sig_path, sig)
        mode = 0o644 & ~_umask()
        with contextlib.suppress(OSError):
            mode = os.stat(output).st_mode & 0o7777
        os.chmod(staged, mode)
        os.replace(staged, output)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staged)


def sign_existing(image: Path, sig_path: Path, *, signer: Signer,
                  sig_timestamp: int | None = None) -> None:
    """Write the .sig of an existing image (signed by ``signer``) atomically."""
    from rpiboot.signing.sigfile import write_sig

    write_sig(image, sig_path, signer=signer, timestamp=sig_timestamp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
