"""Run a golden-vector case's cmd.sh with our drop-in tools standing in for the reference.

Each case folder of ../shared/vectors/eeprom is recreated in a scratch directory (the case
under test copied with an empty outputs/, its siblings symlinked read-only), a bin/ folder of
symlinks to our console scripts is put first on PATH (``update-pieeprom.sh`` -> our
``update-pieeprom``; ``$RE/work/master-tools/*`` -> ours too), and cmd.sh runs under bash.
The caller compares outputs/ against SHA256SUMS and the ``rc=`` values against stdout.txt.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

TOOLS = {
    "rpi-eeprom-config": "rpi-eeprom-config",
    "rpi-eeprom-digest": "rpi-eeprom-digest",
    "rpi-sign-bootcode": "rpi-sign-bootcode",
    "rpi-bootloader-key-convert": "rpi-bootloader-key-convert",
    "update-pieeprom.sh": "update-pieeprom",
}
MASTER_TOOLS = ("rpi-eeprom-digest", "rpi-sign-bootcode")
RC_PATTERN = re.compile(r"\brc=(\d+)")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass
class CaseRun:
    case_dir: Path  # the scratch copy
    stdout: str
    stderr: str

    def rcs(self) -> list[int]:
        return [int(value) for value in RC_PATTERN.findall(self.stdout)]

    def output_sha256(self, relative: str) -> str | None:
        path = self.case_dir / relative
        if not path.is_file():
            return None
        return hashlib.sha256(path.read_bytes()).hexdigest()


def expected_rcs(vector_case: Path) -> list[int]:
    text = (vector_case / "stdout.txt").read_text(errors="replace")
    return [int(value) for value in RC_PATTERN.findall(text)]


def expected_outputs(vector_case: Path) -> dict[str, str]:
    sums: dict[str, str] = {}
    for line in (vector_case / "SHA256SUMS").read_text().splitlines():
        digest, _, name = line.partition("  ")
        if name.startswith("outputs/"):
            sums[name] = digest
    return sums


def _tool_dir() -> Path:
    return Path(sys.executable).parent


def _make_bin(root: Path) -> Path:
    bin_dir = root / "bin"
    bin_dir.mkdir()
    for name, script in TOOLS.items():
        (bin_dir / name).symlink_to(_tool_dir() / script)
    master = root / "re" / "work" / "master-tools"
    master.mkdir(parents=True)
    for name in MASTER_TOOLS:
        (master / name).symlink_to(_tool_dir() / name)
    return bin_dir


def _copy_case(source: Path, target: Path) -> None:
    shutil.copytree(source, target, symlinks=True)
    for path in [target, *target.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)
    shutil.rmtree(target / "outputs", ignore_errors=True)
    (target / "outputs").mkdir()


def _add_missing_sibling(root: Path, bin_dir: Path, env: dict[str, str]) -> None:
    """sign-bootcode-2712-real is referenced by master-sign-bootcode-extract but not shipped:
    rebuild its bootcode5.bin (recovery.bin countersigned -n 16 -v 0) with our tool."""
    real = root / "sign-bootcode-2712-real" / "outputs"
    if real.exists() or real.parent.is_symlink():
        return
    real.mkdir(parents=True)
    inputs = root / "_inputs"
    subprocess.run([str(bin_dir / "rpi-sign-bootcode"), "-c", "2712", "-n", "16", "-v", "0",
                    "-i", str(inputs / "recovery-2712.bin"), "-o", str(real / "bootcode5.bin"),
                    "-k", str(inputs / "example-private.pem")], env=env, check=True,
                   capture_output=True)


def run_case(vectors: Path, case: str, scratch: Path) -> CaseRun:
    root = scratch / "eeprom"
    root.mkdir(parents=True)
    for entry in vectors.iterdir():
        if entry.name == case:
            _copy_case(entry, root / case)
        else:
            (root / entry.name).symlink_to(entry)
    bin_dir = _make_bin(scratch)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["RE"] = str(scratch / "re")
    env.pop("RPIBOOT_DEBUG", None)
    _add_missing_sibling(root, bin_dir, env)
    result = subprocess.run(["bash", "cmd.sh"], cwd=root / case, env=env, capture_output=True,
                            text=True, errors="replace", timeout=300, check=False)
    return CaseRun(root / case, result.stdout, result.stderr)
