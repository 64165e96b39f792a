"""Keys and boards: the key a directory embeds, signs with and would program, against each other
and against what a board reports.

* The key embedded in the image (``pubkey.bin``) must be the signing key: the one whose
  signature goes on ``boot.conf`` and on the countersigned firmware.  recovery.bin programs
  SHA-256 of that ``pubkey.bin`` as the board's key hash.
* A board's metadata (``rpiboot -j DIR`` writes ``DIR/<serial>.json``) reports its
  ``CUSTOMER_KEY_HASH`` (64 zeros: no key yet) and ``USER_BOARDREV`` (whose processor field
  names the chip).  A board locked to another key, or for another chip, is refused.
* BCM2712 (usbboot secure-boot-recovery5/README.md): a board with a key only runs a
  countersigned recovery.bin, and a board without one rejects a countersigned recovery.bin
  (its ROM checks the countersignature against a zero key hash).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rpiboot.chips import BootcodeSignature, Chip, chip_for_board_revision
from rpiboot.errors import InputError, SigningError, UsageError

if TYPE_CHECKING:
    from rpiboot.signing.bootcode import SignatureBlock
    from rpiboot.signing.signer import Signer

NO_KEY = "0" * 64
_HEX = re.compile(r"[0-9a-f]+")
_MAX_METADATA = 1024 * 1024


def parse_key_hash(text: str, *, source: str) -> str:
    """A key hash as 64 lower-case hex digits (whitespace, ``:`` and a ``0x`` prefix allowed)."""
    cleaned = re.sub(r"[\s:]", "", text).lower()
    cleaned = cleaned[2:] if cleaned.startswith("0x") else cleaned
    if len(cleaned) != 64 or not _HEX.fullmatch(cleaned):
        raise InputError(f"{source}: {text.strip()[:80]!r} is not a key hash (64 hex digits, "
                         "the SHA-256 of pubkey.bin)",
                         hint="`rpiboot keys hash KEY.pem` prints the hash of a key.")
    return cleaned


@dataclass(frozen=True)
class BoardState:
    """What is known about the board the directory is for."""

    source: str  # where it came from, for messages
    key_hash: str  # CUSTOMER_KEY_HASH; NO_KEY when none is programmed
    chip: Chip | None = None  # from USER_BOARDREV, when it names one
    revision: str | None = None

    @property
    def locked(self) -> bool:
        return self.key_hash != NO_KEY


def load_board_metadata(path: Path) -> BoardState:
    """Read a board's metadata JSON (written by ``rpiboot -j``): ``CUSTOMER_KEY_HASH`` is
    required, ``USER_BOARDREV`` is used when present."""
    import json

    try:
        with open(path, "rb") as handle:
            raw = handle.read(_MAX_METADATA + 1)
    except FileNotFoundError:
        raise InputError(f"board metadata {path} not found",
                         hint="Pass the JSON file `rpiboot -j DIR` wrote for this board.") from None
    except OSError as exc:
        from rpiboot.fsutil import path_error

        raise path_error(path, exc, doing="read") from None
    try:
        records = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        records = None
    if not isinstance(records, dict) or len(raw) > _MAX_METADATA:
        raise InputError(f"{path}: not a board metadata file (a JSON object of records)",
                         hint="Pass the JSON file `rpiboot -j DIR` wrote for this board.")
    value = records.get("CUSTOMER_KEY_HASH")
    if not isinstance(value, str):
        raise InputError(f"{path}: no CUSTOMER_KEY_HASH record, so the board's key is unknown",
                         hint="Read it again with recovery_metadata enabled (rpiboot -j DIR), "
                         "or leave out --board-metadata.")
    return BoardState(str(path), parse_key_hash(value, source=f"{path} CUSTOMER_KEY_HASH"),
                      *_board_chip(records.get("USER_BOARDREV")))


def _board_chip(value: object) -> tuple[Chip | None, str | None]:
    if not isinstance(value, str):
        return None, None
    try:
        revision = int(value.strip().lower().removeprefix("0x"), 16)
    except ValueError:
        return None, value
    return chip_for_board_revision(revision), value


def embedded_key(signer: Signer, public_key: Path | None) -> bytes:
    """The ``pubkey.bin`` the image will embed (``public_key``, else the signer's key); refused
    unless it is the key the signer signs with."""
    from rpiboot.signing.keys import key_hash, load_public_key, public_key_to_bin

    if signer.public_key is None:
        raise InputError("Public key (-p public.pem) must be specified in HSM mode",
                         hint="The image embeds the public key; pass the HSM key's with -p.")
    signing = public_key_to_bin(signer.public_key)
    if public_key is None:
        return signing
    embed = public_key_to_bin(load_public_key(public_key))
    if embed != signing:
        raise SigningError(
            f"the public key {public_key} (hash {key_hash(embed).hex()}) and the signing key "
            f"{signer.label} (hash {key_hash(signing).hex()}) do not match: the image would "
            "embed one key (and program_pubkey would lock the board to it) while boot.conf and "
            "the firmware are signed with the other",
            hint="Pass the public key of the signing key with -p (or leave -p out).")
    return embed


def check_expected_key(expected: str | None, key_hash: str | None) -> None:
    """``--expect-key-hash``: the key the image embeds must have this hash."""
    if expected is None:
        return
    if key_hash is None:
        raise UsageError("--expect-key-hash: this image embeds no key (nothing is signed)",
                         hint="Use a secure-boot flow with the key, or leave the option out.")
    if key_hash != expected:
        raise SigningError(f"the image embeds key hash {key_hash}, not the expected {expected}",
                           hint="Sign with the key you meant (`rpiboot keys hash KEY.pem`).")


def check_board(board: BoardState | None, *, chip: Chip, key_hash: str | None,
                firmware_countersigned: bool, second_stage_countersigned: bool | None) -> None:
    """The directory suits the board: same chip, same key (a board without a key takes any),
    and on BCM2712 firmware countersigned when the board has a key, and a second stage
    (None: none is written) countersigned exactly when the board has a key."""
    if board is None:
        return
    if board.chip is not None and board.chip is not chip:
        raise InputError(f"the board ({board.source}: USER_BOARDREV {board.revision}) is a "
                         f"{board.chip.family} ({board.chip.series}), but this is for "
                         f"{chip.family} ({chip.series} family) boards",
                         hint="Use the board's own metadata, or the flow for its chip.")
    if board.locked and key_hash != board.key_hash:
        what = f"key hash {key_hash}" if key_hash else "no key (an unsigned config)"
        raise SigningError(f"the board is locked to key hash {board.key_hash} ({board.source}), "
                           f"but this image embeds {what}: the board would refuse it",
                           hint="Sign with the key the board was programmed with; a board's "
                           "key can never be changed.")
    if chip.bootcode_signature is not BootcodeSignature.RSA_SHA256_BLOCK:
        return
    if board.locked and not firmware_countersigned:
        raise InputError(f"the board has a key ({board.source}): its boot ROM only runs "
                         "firmware countersigned with it, and this image's bootcode and bootsys "
                         "are not", hint="Countersign them (update-pieeprom -f, or the "
                         "secure-boot flow).")
    if second_stage_countersigned is None:
        return
    if board.locked and not second_stage_countersigned:
        raise InputError(f"the board has a key ({board.source}): its boot ROM only runs a "
                         f"countersigned {chip.second_stage}, and this one is not",
                         hint="Countersign recovery.bin too (--countersign-recovery, or -r).")
    if not board.locked and second_stage_countersigned:
        raise InputError(f"the board has no key yet ({board.source}): its boot ROM rejects a "
                         f"countersigned {chip.second_stage} (it checks against a zero key hash)",
                         hint="Leave out --countersign-recovery (-r) for this board.")


def check_countersign_key(blocks_outermost_first: Sequence[SignatureBlock], embed: bytes,
                          what: str) -> None:
    """A countersigned file must be countersigned (outermost block, keynum 16, verifying) with
    the key the image embeds: that is the key a locked board checks it against."""
    from rpiboot.signing.bootcode import CUSTOMER_KEYNUM
    from rpiboot.signing.keys import key_hash

    outer = blocks_outermost_first[0] if blocks_outermost_first else None
    if outer is None or outer.keynum != CUSTOMER_KEYNUM or not outer.verifies:
        raise SigningError(f"{what} does not end with a verifying countersignature",
                           hint="Countersign the Raspberry Pi original with the signing key.")
    if outer.pubkey_bin != embed:
        raise SigningError(f"{what} is countersigned with key hash "
                           f"{key_hash(outer.pubkey_bin).hex()}, not with the key the image "
                           f"embeds ({key_hash(embed).hex()}): a board locked to that key would "
                           "refuse it", hint="Countersign the Raspberry Pi original with the "
                           "signing key.")
