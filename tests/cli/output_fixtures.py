"""Fixtures of the output-path tests: a really read-only folder, the installed tools, inputs.

Imported by name (``from output_fixtures import *``), like ``eeprom_fixtures``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
TEMP_MARKERS = (".rpiboot-tmp", ".rpiboot-commit")


def tool(name: str, *argv: str | Path, timeout: float = 120,
         env: dict[str, str] | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run an installed console script (``rpiboot``, ``rpi-eeprom-config``, ...)."""
    environment = dict(os.environ if env is None else env)
    environment.pop("RPIBOOT_DEBUG", None)
    environment.pop("RPIBOOT_FIRMWARE_DIR", None)
    return subprocess.run([str(BIN / name), *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=environment,
                          cwd=cwd, check=False)


def leftovers(folder: Path) -> list[str]:
    """rpiboot's temporary files and commit journals anywhere below ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.name.endswith(TEMP_MARKERS))


def _writable(folder: Path) -> bool:
    probe = folder / "probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return False
    probe.unlink()
    return True


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Iterator[Path]:
    """An empty folder nobody can write to, not even root: a read-only tmpfs mounted on it
    when we are root (chmod does not stop root), else mode 0555."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    mounted = False
    if os.geteuid() == 0:
        mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs",
                                str(folder)], capture_output=True, text=True, check=False)
        mounted = mount.returncode == 0
    if not mounted:
        folder.chmod(0o555)
    try:
        if _writable(folder):
            pytest.fail(f"cannot make a read-only folder here ({folder}): as root this test "
                        "needs `mount -t tmpfs -o ro`")
        yield folder
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)
        else:
            folder.chmod(0o755)


@pytest.fixture
def full_dir(tmp_path: Path) -> Iterator[Path]:
    """A writable folder on a file system with no space left (a full 64 KiB tmpfs): empty
    files can be created in it, but not a byte written.  Needs root (mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    folder = tmp_path / "full"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                   check=True)
    try:
        with open(folder / "filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(bytes(4096))
            except OSError:
                pass  # full
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture(scope="session")
def inputs(vectors_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The files the commands read: real EEPROM images, keys, a boot tree and its image."""
    from rpiboot.bootimg.layout import ImageOptions
    from rpiboot.bootimg.writer import build_image

    shared = vectors_dir / "eeprom" / "_inputs"
    work = tmp_path_factory.mktemp("inputs")
    tree = work / "bootfs"
    (tree / "overlays").mkdir(parents=True)
    (tree / "config.txt").write_text("enable_uart=1\n")
    (tree / "overlays" / "dwc2.dtbo").write_bytes(b"d" * 700)
    image = work / "boot.img"
    build_image(tree, image, ImageOptions())
    return {"eeprom": shared / "pieeprom-2711.bin", "conf": shared / "recovery-boot.conf",
            "key": shared / "example-private.pem", "pub": shared / "example-public.pem",
            "bootcode": shared / "recovery-2712.bin", "tree": tree, "image": image}
