"""Fixtures of the output-path tests: a really read-only folder, the installed tools, inputs.

Imported by name (``from output_fixtures import *``), like ``eeprom_fixtures``.
"""

from __future__ import annotations

import os
import subprocess
import sys
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
