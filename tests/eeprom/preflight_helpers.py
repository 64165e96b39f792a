"""Real firmware, TEST keys and small helpers of the preflight tests (imported by name)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from rpiboot.recovery.prepare import PrepareOptions
from rpiboot.signing import signer_from_options

EXAMPLE_KEY_HASH = "8251a63a2edee9d8f710d63e9da5d639064929ce15a2238986a189ac6fcd3cee"
RPI_2712_KEY_HASH = "e3345447549bda1f5416a479264be593d60f527c70d666d10ead908fd027fd27"
NO_KEY = "0" * 64


@dataclass(frozen=True)
class Firmware:
    """Paths of the real files in ../shared/firmware (read, never copied into the repo)."""

    root: Path

    def image(self, chip: str) -> Path:
        return next((self.root / "rpi-eeprom" / chip).glob("pieeprom-*.bin"))

    def recovery(self, chip: str) -> Path:
        return self.root / "rpi-eeprom" / chip / "recovery.bin"

    def boot_conf(self, flow: str) -> Path:
        return self.root / "usbboot" / flow / "boot.conf"

    def config_txt(self, flow: str) -> Path:
        return self.root / "usbboot" / flow / "config.txt"

    @property
    def private_pem(self) -> Path:
        return self.root / "usbboot/secure-boot-example/example-private.pem"

    @property
    def public_pem(self) -> Path:
        return self.root / "usbboot/secure-boot-example/example-public.pem"


@pytest.fixture(scope="session")
def fw(firmware_dir: Path) -> Firmware:
    return Firmware(firmware_dir)


def chip_of(flow: str) -> str:
    return "2712" if flow.endswith("5") else "2711"


def prepare_options(fw: Firmware, flow: str, out: Path, *, signed: bool | None = None,
                    **extra: object) -> PrepareOptions:
    """Options of ``flow`` with the real files (signed with the TEST key on secure flows)."""
    chip = chip_of(flow)
    signer = signer_from_options(key=fw.private_pem) if (
        flow.startswith("secure") if signed is None else signed) else None
    return PrepareOptions(flow=flow, out_dir=out, image=fw.image(chip),
                          recovery_bin=fw.recovery(chip), boot_conf=fw.boot_conf(flow),
                          signer=signer, **extra)  # type: ignore[arg-type]


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> bytes): to prove nothing was written."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def flipped(source: Path, offset: int, target: Path) -> Path:
    """A copy of ``source`` with one bit of the byte at ``offset`` flipped."""
    data = bytearray(source.read_bytes())
    data[offset] ^= 0x01
    target.write_bytes(bytes(data))
    return target


def metadata(folder: Path, key_hash: str, boardrev: str = "b04170") -> Path:
    """A board metadata file as ``rpiboot -j`` writes it (usbboot secure-boot-recovery5 README
    example, with the key hash of the case)."""
    path = folder / "a7eb274c.json"
    path.write_text(json.dumps({"USER_SERIAL_NUM": "a7eb274c", "MAC_ADDR": "2c:cf:67:70:76:f3",
                                "CUSTOMER_KEY_HASH": key_hash, "BOOT_ROM": "0000000a",
                                "USER_BOARDREV": boardrev, "JTAG_LOCKED": "0"}))
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def openssl_verifies(public_pem: Path, data: bytes, signature: bytes, tmp: Path) -> bool:
    """``openssl dgst -sha256 -verify`` (the product never runs openssl; tests cross-check)."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "data.bin").write_bytes(data)
    (tmp / "sig.bin").write_bytes(signature)
    result = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(public_pem),
                             "-signature", str(tmp / "sig.bin"), str(tmp / "data.bin")],
                            capture_output=True, check=False)
    return result.returncode == 0 and b"Verified OK" in result.stdout
