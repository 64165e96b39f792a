"""The boot-ROM stage: boot message, second stage, status (spec section 3)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from rpiboot.chips import Chip
from rpiboot.errors import BootError, TimeoutExpired
from rpiboot.events import BoardRef, BootcodeSent, Event
from rpiboot.protocol.messages import STATUS_SIZE, pack_boot_message, parse_status
from rpiboot.protocol.transfer import send_file
from rpiboot.sources import FileSource

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from rpiboot.protocol.link import Link

log = logging.getLogger(__name__)

STATUS_WAIT_S = 1.0  # the reference waits 1 s before reading the status; so do we


class RomRejected(BootError):
    """The boot ROM answered a non-zero status: it refused the second stage."""

    def __init__(self, where: str, status: int, chip: Chip) -> None:
        causes = [
            "the board is secure-boot enabled and the bootcode is not signed with its key "
            "(wrong key, or an unsigned bootcode)",
            "the bootcode is a secure-boot (signed) one but the board is not a secure-boot "
            "board / not provisioned for it",
            "the second stage file is corrupt or for another chip",
        ]
        if chip.signed_boot_message:
            causes.insert(1, "-s was given (or not given) but the board is (not) a "
                             "signed-boot board / bootsig.bin does not match")
        super().__init__(
            f"{where}: the boot ROM rejected {chip.second_stage} (status {status})",
            hint="Likely causes:\n" + "\n".join(f"- {c}" for c in causes)
            + "\nThis board is not retried; unplug/reset it to try again.")
        self.status = status


def run_rom_stage(link: Link, chip: Chip, bootcode: FileSource, *, signature: bytes = b"",
                  board: BoardRef | None, emit: Callable[[Event], None],
                  stop: threading.Event | None = None, status_wait: float = STATUS_WAIT_S
                  ) -> int:
    """Send ``bootcode`` to a ROM and return its status (0); RomRejected if non-zero."""
    try:
        link.write(pack_boot_message(bootcode.size, signature))
    except TimeoutExpired as exc:
        raise TimeoutExpired(
            f"{link.where}: the boot ROM did not accept the boot message",
            hint="Usually a cable, port, hub or power problem (try another cable/port, a "
            "powered hub, or a direct port); a signed bootcode the board rejects does this too."
        ) from exc
    send_file(link, bootcode, chip.second_stage, board, emit)
    if status_wait > 0 and (stop or threading.Event()).wait(status_wait):
        raise BootError(f"{link.where}: stopped while waiting for the ROM status")
    status = parse_status(link.read(STATUS_SIZE))
    emit(BootcodeSent(board, name=chip.second_stage, size=bootcode.size,
                      source=bootcode.label, status=status))
    if status != 0:
        raise RomRejected(link.where, status, chip)
    log.debug("%s: ROM accepted %s (%d bytes)", link.where, chip.second_stage, bootcode.size)
    return status
