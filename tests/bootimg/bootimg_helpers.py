"""Helpers for the boot.img tests: source trees, and mkfs.fat/mtools/fsck.fat as oracles."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

INVARIANT_EPOCH = 1426325213  # mkfs.fat --invariant's label time, 2015-03-14 09:26:53 UTC


def need_tools(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt install dosfstools mtools)")


def make_tree(root: Path, spec: dict[str, bytes | dict | None]) -> Path:
    """Create ``spec`` under ``root``: bytes = file, dict = directory (None = empty dir)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, value in spec.items():
        path = root / name
        if isinstance(value, dict) or value is None:
            make_tree(path, value or {})
        else:
            path.write_bytes(value)
    return root


def set_mtimes(root: Path, stamp: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (stamp, stamp), follow_symlinks=False)
    os.utime(root, (stamp, stamp))


def read_tree(root: Path) -> dict[str, bytes | None]:
    """{relative path: contents, or None for a directory} of everything under ``root``."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for name in dirnames:
            out[os.path.normpath(os.path.join(rel, name))] = None
        for name in filenames:
            out[os.path.normpath(os.path.join(rel, name))] = Path(dirpath, name).read_bytes()
    return out


def fsck_clean(image: Path) -> str:
    """Run ``fsck.fat -n``; fail the test unless it reports nothing wrong."""
    result = subprocess.run(["fsck.fat", "-n", str(image)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "differ" not in result.stdout and "Free cluster summary" not in result.stdout
    return result.stdout


def mtools_extract(image: Path, dest: Path) -> dict[str, bytes | None]:
    """Everything in ``image`` copied out with mcopy, as read_tree() returns it."""
    dest.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mcopy", "-s", "-n", "-Q", "-i", str(image), "::*", str(dest)],
                            capture_output=True, text=True, check=False,
                            env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
    if result.returncode != 0:
        # only an empty image has nothing matching "::*"
        assert "not found" in result.stderr and mdir_paths(image) == [], result.stderr
    return read_tree(dest)


def mdir_paths(image: Path) -> list[str]:
    """Every path mdir lists recursively (``-/ -b -a``), directories with a trailing '/'."""
    result = subprocess.run(["mdir", "-/", "-b", "-a", "-i", str(image), "::/"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 or not result.stdout.strip(), result.stderr
    return [line.removeprefix("::/") for line in result.stdout.splitlines() if line]


def mkfs_mcopy_image(source: Path, image: Path, *, size_kib: int, fat_type: int,
                     num_fats: int = 1, sectors_per_cluster: int = 1, sector_size: int = 512,
                     root_entries: int = 256, epoch: int = INVARIANT_EPOCH) -> None:
    """The oracle: ``mkfs.fat --invariant`` + one ``mcopy -smpQ`` in sorted order (TZ=UTC).

    mcopy recurses in readdir order, so the tree is staged on tmpfs, whose readdir order
    follows creation (newest-first on older kernels, oldest-first since Linux 6.6), with
    entries created in the order that lists them sorted; skip where neither holds.
    """
    need_tools("mkfs.fat", "mcopy")
    subprocess.run(["mkfs.fat", "-C", "--invariant", "-f", str(num_fats), "-s",
                    str(sectors_per_cluster), "-n", "BOOT", "-F", str(fat_type), "-g", "1/1",
                    "-S", str(sector_size), "-r", str(root_entries), str(image),
                    str(size_kib)], check=True, capture_output=True,
                   env={**os.environ, "TZ": "UTC"})
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("needs /dev/shm (tmpfs) to give mcopy a sorted readdir order")
    stage = Path(tempfile.mkdtemp(dir=shm))
    try:
        _mirror(source, stage, epoch, reverse=_tmpfs_lists_newest_first(stage))
        for dirpath, _, _ in os.walk(stage):
            if os.listdir(dirpath) != sorted(os.listdir(dirpath)):
                pytest.skip("/dev/shm readdir order does not follow creation order here")
        names = sorted(os.listdir(source))
        if names:
            subprocess.run(["mcopy", "-i", str(image), "-smpQ",
                            *[str(stage / n) for n in names], "::/"], check=True,
                           capture_output=True, env={**os.environ, "TZ": "UTC"})
    finally:
        shutil.rmtree(stage)


def _tmpfs_lists_newest_first(directory: Path) -> bool:
    probe = Path(tempfile.mkdtemp(dir=directory))
    try:
        (probe / "a").touch()
        (probe / "b").touch()
        return os.listdir(probe) == ["b", "a"]
    finally:
        shutil.rmtree(probe)


def _mirror(source: Path, dest: Path, epoch: int, *, reverse: bool) -> None:
    for name in sorted(os.listdir(source), reverse=reverse):
        src, dst = source / name, dest / name
        if src.is_dir():
            dst.mkdir()
            _mirror(src, dst, epoch, reverse=reverse)
        else:
            shutil.copyfile(src, dst)
        os.utime(dst, (epoch, epoch))


def patch_boot_code(ours: bytes, reference: bytes, fat_type: int, sector_size: int) -> bytes:
    """``ours`` with mkfs.fat's x86 boot-code area copied in (it is not ours to ship)."""
    code = 90 if fat_type == 32 else 62
    out = bytearray(ours)
    out[code:510] = reference[code:510]
    if fat_type == 32:
        backup = 6 * sector_size
        out[backup + code:backup + 510] = reference[backup + code:backup + 510]
    return bytes(out)
