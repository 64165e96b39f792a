"""What ``describe_firmware`` returns: plain dataclasses with a stable JSON form.

Every field is always present in the JSON document (``null`` / ``[]`` / ``{}`` when it does
not apply), so scripts can index it without checks.  ``details`` holds the facts of one kind
of file; its keys per kind are listed in docs/firmware-info.md and are stable too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, is_dataclass

SCHEMA_VERSION = 1

# kinds of file (the ``kind`` field)
SECOND_STAGE = "second-stage"  # what the boot ROM is sent: bootcode*.bin, recovery.bin
BOOTLOADER_STAGE = "bootloader-stage"  # bootmain: the EEPROM bootloader's main stage
BOOTLOADER_BLOB = "bootloader-blob"  # memsys*.bin, mcb.bin, rp1c0fw*.bin, logo.bin ...
VIDEOCORE_FIRMWARE = "videocore-firmware"  # start*.elf
FIXUP = "fixup"  # fixup*.dat
EEPROM_IMAGE = "eeprom-image"  # pieeprom*.bin
BOOT_IMAGE = "boot-image"  # boot.img (FAT)
BOOTFILES_ARCHIVE = "bootfiles-archive"  # bootfiles.bin (tar)
CONFIG_TXT = "config-txt"  # config.txt: read by the second stage / firmware
BOOTLOADER_CONFIG = "bootloader-config"  # boot.conf / bootconf.txt: the EEPROM config
CMDLINE = "cmdline"  # cmdline.txt
SIGNATURE_FILE = "signature-file"  # *.sig
KEY = "key"  # *.pem
DEVICE_TREE = "device-tree"  # *.dtb / *.dtbo
ELF = "elf"  # another ELF file
DIRECTORY = "directory"
UNKNOWN = "unknown"

KINDS = (SECOND_STAGE, BOOTLOADER_STAGE, BOOTLOADER_BLOB, VIDEOCORE_FIRMWARE, FIXUP,
         EEPROM_IMAGE, BOOT_IMAGE, BOOTFILES_ARCHIVE, CONFIG_TXT, BOOTLOADER_CONFIG, CMDLINE,
         SIGNATURE_FILE, KEY, DEVICE_TREE, ELF, DIRECTORY, UNKNOWN)

# how the chips were established (the ``chip_basis`` field); the first three are certain
BASIS_SIGNATURE = "signature"  # a BCM2712 block verified with the Raspberry Pi key
BASIS_EEPROM_SIZE = "eeprom-size"  # 512 KiB / 2 MiB: true of every released image
BASIS_CHIP_FOLDER = "chip-folder"  # rpiboot serves 2711/NAME (on disk or in bootfiles.bin)
#                                      to BCM2711 boards only
BASIS_SIGNATURE_STRUCTURE = "signature-structure"  # layout only (BCM2711 tail, bad 2712 block)
BASIS_CONTENT = "content"  # strings inside the file
BASIS_FILE_NAME = "file-name"  # the name the boot ROM / firmware asks for
BASIS_FILES = "files"  # a folder: the chips of the files in it
CERTAIN_BASES = frozenset({BASIS_SIGNATURE, BASIS_EEPROM_SIZE, BASIS_CHIP_FOLDER})

ERROR = "error"  # the board will not boot / flash as intended
WARNING = "warning"  # it works, but something is risky, irreversible or inconsistent


@dataclass
class Problem:
    """Something wrong or risky, and what to do about it."""

    severity: str  # "error" | "warning"
    message: str
    hint: str


@dataclass
class BuildInfo:
    """Version facts a firmware file carries in its own bytes."""

    source: str  # "bootloader" (VERSION:/DATE:/BUILD_TIMESTAMP= strings) | "videocore"
    version: str | None = None  # short git hash (bootloader "VERSION:") or the VC git hash
    git_hash: str | None = None  # full 40-digit git hash when the file has it
    date: str | None = None  # build date, ISO (YYYY-MM-DD)
    time: str | None = None  # build time of day (HH:MM:SS)
    build_timestamp: int | None = None  # BUILD_TIMESTAMP= (Unix seconds)
    variant: str | None = None  # start*.elf: start, start_x, start_cd, start_db, start4 ...
    variant_source: str | None = None  # "VC_BUILD_ID_VARIANT" | "file name"
    branch: str | None = None  # VC_BUILD_ID_BRANCH
    platform: str | None = None  # VC_BUILD_ID_PLATFORM
    tree_state: str | None = None  # VideoCore: "clean" | "tainted" | ...; bootloader: "release"


@dataclass
class SignatureBlockInfo:
    """One BCM2712 signature block, outermost first."""

    offset: int
    type: str  # "rpi" (keynum 0-4) | "customer" (keynum 16)
    keynum: int
    version: int
    verifies: bool
    key_hash: str


@dataclass
class SignatureInfo:
    """How a file is signed, and what could be checked here."""

    format: str  # "none" | "rsa-sha256-block" | "rsa-sha1+hmac" | "sig-file"
    signed: bool
    rpi_signature: str  # "verified" | "unverifiable" | "invalid" | "absent" | "not-applicable"
    detail: str | None = None
    countersigned: bool = False
    customer_key_hash: str | None = None
    keynum: int | None = None  # BCM2711 tail: the ROM key number
    blocks: list[SignatureBlockInfo] = field(default_factory=list)


@dataclass
class FolderVerdict:
    """What a directory looks like as a whole."""

    flow: str  # msd, mass-storage-gadget64, recovery, recovery5, secure-boot-*, ... | unknown
    flow_basis: str  # "contents" | "folder name" | "contents and folder name" | "none"
    description: str
    chips: list[str] = field(default_factory=list)  # the chips it can boot
    second_stages: dict[str, str] = field(default_factory=dict)  # family -> what serves it


@dataclass
class FirmwareInfo:
    """The description of one file, archive member or directory."""

    path: str
    name: str
    kind: str
    role: str
    size: int | None = None
    sha256: str | None = None
    chips: list[str] = field(default_factory=list)  # families: "BCM2711", ...
    chip_basis: str | None = None
    build: BuildInfo | None = None
    signature: SignatureInfo | None = None
    details: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    error: str | None = None  # a member that could not be read or parsed: why
    members: list[FirmwareInfo] = field(default_factory=list)
    folder: FolderVerdict | None = None

    @property
    def chip_certain(self) -> bool:
        """The chips were established by a fact, not a heuristic."""
        return self.chip_basis in CERTAIN_BASES

    def problem(self, severity: str, message: str, hint: str) -> None:
        self.problems.append(Problem(severity, message, hint))

    def walk(self) -> Iterator[FirmwareInfo]:
        """This description and every member below it, depth first."""
        yield self
        for member in self.members:
            yield from member.walk()

    def all_problems(self) -> list[tuple[str, Problem]]:
        """(path, problem) of this description and every member."""
        return [(info.path, problem) for info in self.walk() for problem in info.problems]

    def to_dict(self) -> dict[str, object]:
        """The JSON document (``version`` is the schema version, at the top level only)."""
        return {"version": SCHEMA_VERSION, **self._fields()}

    def _fields(self) -> dict[str, object]:
        data: dict[str, object] = {}
        for item in fields(self):
            if item.name == "members":
                data["members"] = [member._fields() for member in self.members]
                continue
            data[item.name] = _plain(getattr(self, item.name))
            if item.name == "chip_basis":
                data["chip_certain"] = self.chip_certain
        return data


def _plain(value: object) -> object:
    """A dataclass (or a list of them) as JSON-ready data; anything else as it is."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
