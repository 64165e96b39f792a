"""``manifest.json``: what an installed set holds and where it came from.

::

    {
      "format": 1,
      "set": "87d6e03272b0ae155d85a125bfdec03e3d4a1095",
      "upstream": {"raspberrypi/usbboot": "87d6e03…", "raspberrypi/rpi-eeprom": "387e8cc…"},
      "verified": true,
      "verification": "listing pinned in rpiboot",
      "source": "https://raw.githubusercontent.com",
      "installed_at": "2026-06-10T08:15:02Z",
      "installed_by": "rpiboot 0.1.0",
      "folders": ["msd", "recovery", ...],
      "files": {"msd/bootcode.bin": {"blob": "ccbef47…", "size": 52624,
                                     "from": "raspberrypi/usbboot:msd/bootcode.bin"}, ...}
    }

``verified`` is true when every file's git blob id was checked against an upstream listing
before it was installed; an import whose commit is unknown is installed with ``false``
(its blob ids are then only those computed at import, so ``verify`` still detects later
damage).  The manifest is read back as untrusted input: every field is checked.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rpiboot.errors import InputError
from rpiboot.fwstore.layout import MANIFEST, valid_set_name
from rpiboot.fwstore.listing import SHA_RE, path_problem

FORMAT = 1
MAX_MANIFEST_BYTES = 16 << 20


class ManifestError(InputError):
    """A set's manifest is missing or damaged."""


@dataclass(frozen=True)
class ManifestFile:
    blob: str
    size: int
    origin: str  # "raspberrypi/usbboot:msd/bootcode.bin", or a path in an imported tree


@dataclass
class Manifest:
    set: str
    upstream: dict[str, str]
    verified: bool
    verification: str
    source: str
    folders: list[str] = field(default_factory=list)
    files: dict[str, ManifestFile] = field(default_factory=dict)
    installed_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                     time.gmtime()))
    installed_by: str = ""

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "set": self.set, "upstream": self.upstream,
            "verified": self.verified, "verification": self.verification,
            "source": self.source, "installed_at": self.installed_at,
            "installed_by": self.installed_by, "folders": self.folders,
            "files": {path: {"blob": f.blob, "size": f.size, "from": f.origin}
                      for path, f in sorted(self.files.items())},
        }

    @classmethod
    def from_json(cls, data: object, where: str) -> Manifest:
        """Checked back from JSON (ManifestError naming ``where`` when anything is off)."""
        def bad(what: str) -> ManifestError:
            return ManifestError(f"{where}: {what}", hint="The set is damaged: run 'rpiboot "
                                 "firmware fetch' (or import) again, or remove the set.")

        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise bad(f"not a format {FORMAT} manifest")
        name = data.get("set")
        if not isinstance(name, str) or not valid_set_name(name):
            raise bad("'set' is not a set name")
        strings = {k: data.get(k) for k in ("verification", "source", "installed_at",
                                              "installed_by")}
        if not all(isinstance(v, str) for v in strings.values()):
            raise bad("a text field is missing")
        if not isinstance(data.get("verified"), bool):
            raise bad("'verified' is not true or false")
        folders = data.get("folders")
        if not isinstance(folders, list) or not all(isinstance(f, str) and path_problem(f)
                                                    is None and "/" not in f for f in folders):
            raise bad("'folders' is not a list of folder names")
        manifest = cls(name, _upstream(data.get("upstream"), bad), data["verified"],
                       str(strings["verification"]), str(strings["source"]), list(folders),
                       _files(data.get("files"), set(folders), bad),
                       str(strings["installed_at"]), str(strings["installed_by"]))
        return manifest


def _upstream(value: object, bad: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and SHA_RE.match(v)
            for k, v in value.items()):
        raise bad("'upstream' is not a map of repository to commit")
    return dict(value)


def _files(value: object, folders: set[str], bad: Any) -> dict[str, ManifestFile]:
    if not isinstance(value, dict):
        raise bad("'files' is not a map")
    files = {}
    for path, info in value.items():
        if not isinstance(path, str) or path_problem(path) is not None \
                or path.split("/", 1)[0] not in folders or "/" not in path:
            raise bad(f"'files' names {str(path)[:100]!r}, not a file of its folders")
        if not (isinstance(info, dict) and isinstance(info.get("blob"), str)
                and SHA_RE.match(info["blob"]) and isinstance(info.get("size"), int)
                and not isinstance(info.get("size"), bool) and info["size"] >= 0
                and isinstance(info.get("from"), str)):
            raise bad(f"'files' entry {path}: needs blob, size and from")
        files[path] = ManifestFile(info["blob"], info["size"], info["from"])
    return files


def read_manifest(set_dir: Path) -> Manifest:
    """The manifest of the set in ``set_dir`` (ManifestError when missing or damaged)."""
    path = set_dir / MANIFEST
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise ManifestError(f"cannot read {path}: {exc.strerror or exc}",
                            hint="The set is damaged or incomplete: fetch (or import) it "
                            "again, or remove it.") from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{path} is larger than {MAX_MANIFEST_BYTES} bytes",
                            hint="The set is damaged: remove it.")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ManifestError(f"{path} is not JSON", hint="The set is damaged: fetch (or "
                            "import) it again, or remove it.") from None
    manifest = Manifest.from_json(data, str(path))
    if manifest.set != set_dir.name:
        raise ManifestError(f"{path} describes set {manifest.set}, not {set_dir.name}",
                            hint="The set is damaged: remove it.")
    return manifest


def manifest_bytes(manifest: Manifest) -> bytes:
    return (json.dumps(manifest.to_json(), indent=1, ensure_ascii=False) + "\n").encode()


def write_manifest(set_dir: Path, manifest: Manifest) -> None:
    """Write ``set_dir/manifest.json`` atomically."""
    from rpiboot.fsutil import atomic_write

    atomic_write(set_dir / MANIFEST, manifest_bytes(manifest), mode=0o644)
