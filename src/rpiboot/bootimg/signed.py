"""Writing boot.img and boot.sig together, with the secure-boot .sig code.

Both files are written to temporary files beside their targets; the image is hashed and
signed there, and only then are the two renamed into place as one group
(:func:`rpiboot.fsutil.atomic_group`): a failing key or HSM wrapper, an error, Ctrl-C or
SIGTERM leaves neither a new image nor a new .sig, and a kill between the two renames is
completed by the next run that writes into the folder.  A pair never stays mixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rpiboot.bootimg.layout import ImagePlan
from rpiboot.bootimg.writer import write_image
from rpiboot.errors import InputError, UsageError
from rpiboot.fsutil import atomic_group

if TYPE_CHECKING:
    from rpiboot.signing.signer import Signer


def default_sig_path(image: Path) -> Path:
    """``boot.img`` → ``boot.sig`` (the name the Pi bootloader looks for)."""
    return image.with_suffix(".sig")


def check_sig_path(image: Path, sig_path: Path) -> None:
    """The image and its .sig must be two different files."""
    if Path(image).absolute() == Path(sig_path).absolute():
        raise UsageError(f"the image and its signature would both be {image}",
                         hint="Give the image another name, or pass --sig PATH.")


def check_signed_outputs(image: Path, sig_path: Path) -> None:
    """Before any work: a signed image and its .sig are two regular files (they are written
    beside their targets and renamed into place together, never into a device)."""
    check_sig_path(image, sig_path)
    for path in (image, sig_path):
        if Path(path).exists() and not Path(path).is_file():
            raise InputError(f"{path} is not a regular file: a signed image and its .sig are "
                             "written as files", hint="Name regular files (-o, --sig).")


def write_signed_image(plan: ImagePlan, output: Path, sig_path: Path, *, signer: Signer,
                       sig_timestamp: int | None = None) -> None:
    """Write the image and its .sig (signed by ``signer``), both or neither."""
    from rpiboot.signing import sigfile
    from rpiboot.signing.rsa import sha256_file
    from rpiboot.signing.signer import Payload

    check_sig_path(output, sig_path)
    ts = sigfile.sig_timestamp(sig_timestamp)
    with atomic_group(output, sig_path) as group:
        image_handle, sig_handle = group.handles
        write_image(plan, image_handle)
        group.flush()
        staged = group.temps[0]
        digest = sha256_file(staged)
        payload = Payload(digest, str(output), path=staged)
        sig_handle.write(sigfile.SigFile(digest.hex(), ts, None, signer.sign(payload)).to_bytes())


def sign_existing(image: Path, sig_path: Path, *, signer: Signer,
                  sig_timestamp: int | None = None) -> None:
    """Write the .sig of an existing image (signed by ``signer``) atomically."""
    from rpiboot.signing.sigfile import write_sig

    check_sig_path(image, sig_path)
    write_sig(image, sig_path, signer=signer, timestamp=sig_timestamp)
