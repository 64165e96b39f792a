"""The write order: an edit cut off after any of its writes leaves every file whole (old or
new, never a mix) and a filesystem that ``fsck.fat -a`` repairs to clean."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from flash_fat_helpers import MTOOLS_ENV, fsck, fsck_clean, mkfs, mtype

from rpiboot.flash.fat_edit import open_fat

STAMP = 1_700_000_000
OLD = b"old config\n" * 10
NEW = b"new config, several clusters\n" * 100
ADDED = b"a new file in a folder that has to grow\n" * 30


def _maybe(image: Path, path: str) -> bytes | None:
    result = subprocess.run(["mtype", "-i", str(image), f"::/{path}"], capture_output=True,
                            check=False, env=MTOOLS_ENV)
    return result.stdout if result.returncode == 0 else None


@pytest.mark.parametrize(("fat", "fats"), [(16, 2), (32, 2), (12, 1)])
def test_every_interruption_is_repairable(tmp_path: Path, fat: int, fats: int) -> None:
    # sub/: '.', '..' and 10 x 3 entries fill two 512-byte clusters: the new name grows it
    files = {"config.txt": OLD, **{f"sub/existing entry {i}.txt": b"%d" % i for i in range(10)}}
    size = {12: 1600, 16: 20000, 32: 80000}[fat]
    base = mkfs(tmp_path / "base.img", fat=fat, size_kib=size, fats=fats, cluster_sectors=1,
                files=files)
    with open_fat(base) as fs:
        edit = fs.plan([("config.txt", NEW), ("sub/a new long file name.txt", ADDED),
                        ("fresh/deep/file.txt", b"deep\n")], timestamp=STAMP)
        fs.discard()
        sub_clusters = len(fs.chain(fs.find("sub").first_cluster))  # type: ignore[union-attr]
    original = base.read_bytes()
    assert len(edit.writes) >= 6
    for cut in range(len(edit.writes) + 1):
        image = tmp_path / "cut.img"
        image.write_bytes(original)
        with open(image, "r+b") as handle:
            for write in edit.writes[:cut]:
                os.pwrite(handle.fileno(), write.data, write.offset)
        phase = edit.writes[cut - 1].phase if cut else "none"
        assert _maybe(image, "config.txt") in (OLD, NEW), phase
        assert _maybe(image, "sub/a new long file name.txt") in (None, ADDED), phase
        assert _maybe(image, "fresh/deep/file.txt") in (None, b"deep\n"), phase
        if cut == len(edit.writes):
            fsck_clean(image)
            with open_fat(image) as fs:
                sub = fs.find("sub")
                assert sub is not None and len(fs.chain(sub.first_cluster)) == sub_clusters + 1
            continue
        code, _ = fsck(image)
        repair = subprocess.run(["fsck.fat", "-a", str(image)], capture_output=True, text=True,
                                check=False)
        assert repair.returncode in (0, 1), repair.stdout + repair.stderr
        fsck_clean(image)
        assert _maybe(image, "config.txt") in (OLD, NEW), phase
        assert mtype(image, "sub/existing entry 9.txt") == b"9"
        if phase == "none":
            assert code == 0
