"""Why a boot stalled: the last stage a board reached, and the likely causes.

Each USB boot stage re-enumerates and appears as a new device (docs/troubleshooting.md has
the picture): boot ROM -> (bootcode) -> ROM status -> re-enumeration -> second-stage file
server -> requests and transfers -> Done -> the next stage.  A :class:`BootProgress` watches
a board's own events as they are emitted; when its boot fails, :func:`diagnose` turns what
it saw and the error into a :class:`Diagnosis` that the error event and message carry.

The table of stages (:data:`STAGES`) is the single source of the troubleshooting table.
"""

from __future__ import annotations

from rpiboot.chips import GADGET_FIRMWARE, MSD_FIRMWARE
from rpiboot.errors import BootError, DeviceGone, PermissionDenied, RpibootError, TimeoutExpired
from rpiboot.events import BoardAttached, BootcodeSent, Event, FileServed, TransferProgress
from rpiboot.record import field, record

CABLE = ("a charge-only cable or a loose connector: use a short cable that carries data, "
         "plugged into the board's USB boot port (CM4/CM5 IO board: the USB-C 'slave' port)")
HUB = ("an unpowered hub, a front-panel or extension port, or a long chain of hubs: plug "
       "the board straight into a port on the host, or into a powered hub")
POWER = ("not enough power: the board resets under load (CM5 needs a port or hub that "
         "gives at least 900 mA; power the IO board from its own supply)")
def _second_stages() -> str:
    """"bootcode.bin is BCM2835/BCM2837, ..." from the chip table."""
    from rpiboot.chips import CHIPS

    families: dict[str, list[str]] = {}
    for chip in CHIPS.values():
        families.setdefault(chip.second_stage, []).append(chip.family)
    return ", ".join(f"{name} is {'/'.join(fams)}" for name, fams in families.items())


WRONG_CHIP = (f"a second stage for another chip ({_second_stages()}): use the folder for "
              "this board")
SECURE = ("a secure-boot board (its OTP holds a customer key) that only runs a bootcode "
          "signed with that key: serve the secure-boot folders prepared with your key")


@record
class Stage:
    """One row of the troubleshooting table."""

    name: str
    reached: str  # what the host saw last
    symptom: str  # how the user sees it
    causes: tuple[str, ...]


STAGES: tuple[Stage, ...] = (
    Stage("waiting", "no boot device at all",
          "'Waiting for a Raspberry Pi in USB boot mode' forever, or exit 4 with --timeout",
          ("the board is not in USB boot mode: fit the nRPIBOOT jumper (CM4/CM5 IO board) or "
           "hold the boot button; an SD card or a bootable eMMC/EEPROM takes precedence "
           "(EMMC-DISABLE jumper, or erase the boot medium)", CABLE,
           "the -p / -i / -N filters do not match the board (rpiboot doctor lists what is "
           "connected)", "Windows: no WinUSB driver bound to the 'BCM27xx Boot' device")),
    Stage("rom", "the boot ROM enumerated, but did not take the boot message or bootcode",
          "'did not accept the boot message', control-transfer timeouts",
          (CABLE, HUB, POWER, SECURE)),
    Stage("rom-status", "the boot ROM took the bootcode and answered a non-zero status",
          "'the boot ROM rejected <second stage> (status N)'",
          (SECURE, WRONG_CHIP, "a damaged or truncated second-stage file")),
    Stage("reenumeration", "the ROM accepted the bootcode; the second stage never appeared",
          "'did not re-appear for its next stage', or the boot ROM came back",
          (POWER, CABLE, HUB, WRONG_CHIP,
           "firmware that does not suit the board (an old usbboot checkout for a new board "
           "revision): update it (rpiboot firmware fetch)")),
    Stage("fileserver", "the second stage asked for files, then stopped asking",
          "'no file request from the board for N s' after some requests",
          ("a file it needs was answered as missing (see the last requests below): the "
           "folder does not suit the flow (msd needs the start*.elf firmware, the "
           "mass-storage gadget boot.img, recovery pieeprom.bin + pieeprom.sig)",
           "config.txt / start*.elf / fixup*.dat that do not match each other or the chip",
           "boot.img missing, unsigned on a secure-boot board, or not matching boot.sig",
           POWER)),
    Stage("transfer", "the board vanished in the middle of a file transfer",
          "'the board disconnected' while sending a file",
          (POWER, CABLE, HUB, "the board was unplugged or reset")),
    Stage("gadget", "the board finished its boot but never came back as a USB disk",
          "'rpiboot flash': 'did not come back as a USB mass-storage gadget'",
          ("the boot folder is not a mass-storage one: serve the installed default firmware "
           f"(no -d) or {GADGET_FIRMWARE} / {MSD_FIRMWARE}",
           "the board's storage is not seen by its firmware (eMMC-less Lite module without "
           "an SD card or NVMe, a damaged eMMC)", POWER, CABLE)),
    Stage("write", "the disk was found; writing the image failed",
          "'rpiboot flash': a write error, the disk vanished, or the image does not fit",
          ("the board reset or lost power while writing", CABLE, HUB,
           "the image is larger than the board's storage, or the storage is read-only",
           "a damaged compressed image or a bmap for another image")),
    Stage("verify", "the image was written; reading it back did not give the same bytes",
          "'rpiboot flash': 'verification failed at offset N'",
          ("failing storage (eMMC/SD wear): retry once, then replace the module", POWER,
           CABLE)),
    Stage("customize", "the image was written and verified; the per-board files failed",
          "'rpiboot flash --customize': a FAT or template error",
          ("the image's first partition is not FAT (not a Raspberry Pi OS style image)",
           "the boot partition is full", "a {field} in a template the board did not send")),
    Stage("permission", "the device could not be opened",
          "'permission denied' (exit 5)",
          ("Linux: no udev rule for 0a5c (sudo rpiboot udev install), or another program "
           "holds the device", "Windows: bind WinUSB to the boot device (Zadig)")),
)
_BY_NAME = {stage.name: stage for stage in STAGES}


@record
class Diagnosis:
    """The last stage a board reached, what happened there, and the likely causes."""

    stage: str
    reached: str
    causes: tuple[str, ...]
    detail: str = ""  # e.g. the last requests, which were missing

    def text(self) -> str:
        """Lines for a user: where it stopped, then the likely causes."""
        lines = [f"Last stage reached: {self.stage} ({self.reached})."]
        if self.detail:
            lines.append(self.detail)
        lines.append("Likely causes:")
        lines += [f"- {cause}" for cause in self.causes]
        return "\n".join(lines)


@record(frozen=False)
class BootProgress:
    """What one board showed so far, from its own events (cheap: a few fields)."""

    rom_seen: bool = False
    bootcode_status: int | None = None
    fileserver_seen: bool = False
    requests: list[tuple[str, bool]] = field(default_factory=list)  # (name, found)
    transfer: tuple[str, int, int] | None = None  # (name, sent, total) in progress

    def observe(self, event: Event) -> None:
        """Update from one of the board's events."""
        if isinstance(event, BoardAttached):
            if event.stage == "rom":
                self.rom_seen = True
            else:
                self.fileserver_seen = True
        elif isinstance(event, BootcodeSent):
            self.bootcode_status = event.status
        elif isinstance(event, FileServed):
            if event.command == "GetFileSize" or event.size is None:
                self.requests.append((event.name, event.size is not None))
            self.transfer = None
        elif isinstance(event, TransferProgress):
            done = event.done >= event.total
            self.transfer = None if done else (event.name, event.done, event.total)


def _last_requests(progress: BootProgress, count: int = 6) -> str:
    if not progress.requests:
        return "The second stage asked for no file."
    shown = ", ".join(f"{name} ({'sent' if found else 'MISSING'})"
                      for name, found in progress.requests[-count:])
    return f"Its last requests: {shown}."


def diagnose(progress: BootProgress, error: RpibootError) -> Diagnosis:
    """The stage a failed board stopped at and why it probably did."""
    if isinstance(error, PermissionDenied):
        name, detail = "permission", ""
    elif progress.transfer is not None and isinstance(error, (DeviceGone, TimeoutExpired)):
        sent_name, sent, total = progress.transfer
        name, detail = "transfer", f"It vanished after {sent} of {total} bytes of {sent_name}."
    elif progress.fileserver_seen:
        name, detail = "fileserver", _last_requests(progress)
    elif progress.bootcode_status not in (None, 0):
        name, detail = "rom-status", f"The ROM answered status {progress.bootcode_status}."
    elif progress.bootcode_status == 0:
        name, detail = "reenumeration", ""
    else:
        name, detail = "rom", ""
    stage = _BY_NAME[name]
    return Diagnosis(stage.name, stage.reached, stage.causes, detail)


def no_board_diagnosis() -> Diagnosis:
    """No matching board ever appeared."""
    stage = _BY_NAME["waiting"]
    return Diagnosis(stage.name, stage.reached, stage.causes)


def with_diagnosis(hint: str | None, diagnosis: Diagnosis) -> str:
    """A hint followed by the diagnosis (only the stage line when the hint already lists
    the likely causes, as a ROM rejection's does)."""
    if hint and "Likely causes" in hint:
        extra = f"Last stage reached: {diagnosis.stage} ({diagnosis.reached})."
        return f"{extra}\n{hint}"
    return f"{diagnosis.text()}\n{hint}" if hint else diagnosis.text()


def explains(error: RpibootError) -> bool:
    """True for failures a stage diagnosis helps with (not bugs, not bad input files)."""
    return isinstance(error, (BootError, TimeoutExpired, PermissionDenied))
