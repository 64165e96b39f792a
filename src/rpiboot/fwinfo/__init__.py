"""What a firmware file or a boot folder is: ``describe_firmware(path) -> FirmwareInfo``.

Second stages (bootcode*.bin, recovery.bin), VideoCore firmware (start*.elf, fixup*.dat),
bootloader EEPROM images, boot.img, bootfiles.bin, config.txt / boot.conf, .sig and key files,
and whole boot folders with a verdict (which usbboot flow, which chips, what is wrong).  Every
input is untrusted: any bytes give a description or an InputError naming the file; reading is
bounded (:class:`Limits`).  See docs/firmware-info.md.
"""

from __future__ import annotations

from rpiboot.fwinfo.blob import DEFAULT_LIMITS, Limits
from rpiboot.fwinfo.describe import describe_firmware
from rpiboot.fwinfo.model import (
    KINDS,
    SCHEMA_VERSION,
    BuildInfo,
    FirmwareInfo,
    FolderVerdict,
    Problem,
    SignatureBlockInfo,
    SignatureInfo,
)

__all__ = ["DEFAULT_LIMITS", "KINDS", "SCHEMA_VERSION", "BuildInfo", "FirmwareInfo",
           "FolderVerdict", "Limits", "Problem", "SignatureBlockInfo", "SignatureInfo",
           "describe_firmware"]
