"""Boot folders for the fwinfo tests: ready-to-serve recovery folders built from the real
files with the project's own ``prepare_recovery_dir`` (in a temporary folder), and helpers
to copy and break them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rpiboot.fwinfo.model import FirmwareInfo
from rpiboot.recovery.prepare import PrepareOptions, prepare_recovery_dir
from rpiboot.signing import signer_from_options

EXAMPLE = "usbboot/secure-boot-example"
FLOW_INPUTS = {  # flow -> (chip folder in rpi-eeprom, image, usbboot folder of its boot.conf)
    "recovery": ("2711", "pieeprom-2026-05-17.bin", "recovery"),
    "recovery5": ("2712", "pieeprom-2026-05-26.bin", "recovery5"),
    "secure-boot-recovery": ("2711", "pieeprom-2026-05-17.bin", "secure-boot-recovery"),
    "secure-boot-recovery5": ("2712", "pieeprom-2026-05-26.bin", "secure-boot-recovery5"),
}


def prepare(firmware: Path, flow: str, out: Path, **extra: object) -> Path:
    """A folder for ``flow`` made by ``rpiboot recovery prepare`` from the real files."""
    chip, image, conf = FLOW_INPUTS[flow]
    secure = flow.startswith("secure")
    signer = signer_from_options(key=firmware / EXAMPLE / "example-private.pem") if secure \
        else None
    prepare_recovery_dir(PrepareOptions(
        flow=flow, out_dir=out, image=firmware / "rpi-eeprom" / chip / image,
        recovery_bin=firmware / "rpi-eeprom" / chip / "recovery.bin",
        boot_conf=firmware / "usbboot" / conf / "boot.conf", signer=signer, timestamp=1700000000,
        **extra))  # type: ignore[arg-type]
    return out


@pytest.fixture(scope="session")
def prepared(firmware_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each recovery flow, prepared once (copy before changing it: :func:`copy_of`)."""
    root = tmp_path_factory.mktemp("prepared")
    return {flow: prepare(firmware_dir, flow, root / f"prep-{flow}") for flow in FLOW_INPUTS}


def copy_of(folder: Path, dest: Path) -> Path:
    """A writable copy of ``folder`` (symbolic links copied as the files they point to)."""
    shutil.copytree(folder, dest, symlinks=False)
    for path in dest.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    dest.chmod(0o755)
    return dest


def messages(info: FirmwareInfo, severity: str | None = None) -> list[str]:
    """Every problem message of ``info`` and its members (of one severity, if given)."""
    return [p.message for _, p in info.all_problems()
            if severity is None or p.severity == severity]


def has(info: FirmwareInfo, text: str, severity: str = "error") -> bool:
    return any(text in message for message in messages(info, severity))
