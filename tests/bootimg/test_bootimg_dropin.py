"""The drop-in rpi-make-boot-image: pruning, the reference's size estimate, its failure cases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from bootimg_helpers import (
    INVARIANT_EPOCH,
    fsck_clean,
    make_tree,
    mkfs_mcopy_image,
    need_tools,
    read_tree,
    set_mtimes,
)

from rpiboot.bootimg.reader import FatImage
from rpiboot.cli.compat_make_boot_image import main

ENV_VARS = ("SECTOR_SIZE", "ROOT_DIR_ENTRIES", "FAT_SIZE", "IMAGE_SIZE", "SECTORS_PER_CLUSTER",
            "FAT_OVERHEAD")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(INVARIANT_EPOCH))


def _run(source: Path, output: Path, *extra: str) -> int:
    return main(["-d", str(source), "-o", str(output), *extra])


def _contents(image: Path) -> dict[str, bytes | None]:
    with FatImage.open(image) as fs:
        return {e.path: (None if e.is_dir else fs.read_file(e)) for e in fs.walk()}


FIRMWARE_NAMES = ["kernel.img", "kernel7.img", "kernel7l.img", "kernel8.img", "bootcode.bin",
                  "start.elf", "fixup.dat", "start4.elf", "fixup4.dat", "start4x.elf",
                  "fixup4x.dat", "start4cd.elf", "bcm2710-rpi-3-b.dtb",
                  "bcm2711-rpi-4-b.dtb", "bcm2708-rpi-zero.dtb", "config.txt"]


@pytest.mark.parametrize(("args", "dropped"), [
    ((), {"kernel8.img"}),
    (("-a", "64"), {"kernel7l.img"}),
    (("-b", "pi3"), {"kernel8.img"}),
    (("-b", "pi4", "-a", "64"), {"kernel.img", "kernel7.img", "kernel7l.img", "bootcode.bin",
                                  "start.elf", "fixup.dat", "start4cd.elf",
                                  "bcm2710-rpi-3-b.dtb", "bcm2708-rpi-zero.dtb"}),
    (("-b", "pi400", "-a", "64"), {"kernel.img", "kernel7.img", "kernel7l.img",
                                    "bootcode.bin", "start.elf", "fixup.dat", "start4cd.elf",
                                    "bcm2710-rpi-3-b.dtb", "bcm2708-rpi-zero.dtb",
                                    "start4x.elf", "fixup4x.dat"}),
])
def test_pruning_like_the_reference(tmp_path: Path, args: tuple[str, ...],
                                    dropped: set[str]) -> None:
    spec: dict = {name: name.encode() for name in FIRMWARE_NAMES}
    spec.update({".git": {"HEAD": b"ref"}, ".env": b"secret", "overlays": {".keep": b"",
                                                                          "a.dtbo": b"a"}})
    source = make_tree(tmp_path / "src", spec)
    assert _run(source, tmp_path / "boot.img", *args) == 0
    names = set(_contents(tmp_path / "boot.img"))
    top_files = {n for n in names if "/" not in n and n != "overlays"}
    assert top_files == set(FIRMWARE_NAMES) - dropped
    assert {"overlays/.keep", "overlays/a.dtbo"} <= names  # nested dot-files are kept
    assert not any(n.startswith(".") for n in names)


def test_same_bytes_as_reference_where_it_succeeds(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # Estimate by hand (spec §3.2): start4.elf 586 clusters + config.txt 1 + directory 1
    # (10 entries: each lower-case name counts 1 + ceil(2*38/26) = 4) = 588 clusters; FAT12:
    # FAT 2 sectors + root 16 → ceil((588+18)*512/1024) + 16 = 319 KiB.
    source = make_tree(tmp_path / "src", {"start4.elf": os.urandom(300_000),
                                          "config.txt": b"abcde\n"})
    set_mtimes(source, INVARIANT_EPOCH)
    assert _run(source, tmp_path / "boot.img") == 0
    out = capsys.readouterr()
    assert "Using IMAGE_SIZE of 319" in out.out
    assert "differs" not in out.err
    reference = tmp_path / "ref.img"
    mkfs_mcopy_image(source, reference, size_kib=319, fat_type=12)
    ours = (tmp_path / "boot.img").read_bytes()
    expected = reference.read_bytes()
    assert ours[:62] == expected[:62] and ours[510:] == expected[510:]


def _assert_note_and_valid(tmp_path: Path, source: Path, capsys: pytest.CaptureFixture[str],
                           reason: str) -> str:
    assert _run(source, tmp_path / "boot.img") == 0
    err = capsys.readouterr().err
    assert "geometry differs from the reference" in err
    assert reason in err
    fsck_clean(tmp_path / "boot.img")
    return err


def test_tiny_input_gets_a_size_that_works(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    need_tools("mkfs.fat")
    source = make_tree(tmp_path / "src", {"config.txt": b"x\n"})
    # Reference: estimate 2 clusters → 26 KiB, which mkfs.fat refuses.
    failed = subprocess.run(["mkfs.fat", "-C", "-f", "1", "-s", "1", "-F", "12", "-g", "1/1",
                             "-r", "256", str(tmp_path / "ref.img"), "26"],
                            capture_output=True, text=True, check=False)
    assert failed.returncode != 0 and "Too few blocks" in failed.stderr
    _assert_note_and_valid(tmp_path, source, capsys, "26 KiB")
    assert _contents(tmp_path / "boot.img") == {"config.txt": b"x\n"}


def test_fat12_cluster_boundary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need_tools("mkfs.fat")
    # f.bin = 4059 clusters; + 1 directory cluster = estimate 4060 (inside 4053–4085):
    # FAT 12 sectors + root 16 → (4060 + 28) * 512 / 1024 + 16 = 2060 KiB, too many clusters.
    source = make_tree(tmp_path / "src", {"f.bin": b"\x01" * (4059 * 512)})
    failed = subprocess.run(["mkfs.fat", "-C", "-f", "1", "-s", "1", "-F", "12", "-g", "1/1",
                             "-r", "256", str(tmp_path / "ref.img"), "2060"],
                            capture_output=True, text=True, check=False)
    assert failed.returncode != 0
    _assert_note_and_valid(tmp_path, source, capsys, "Not enough or too many clusters")
    assert _contents(tmp_path / "boot.img") == read_tree(source)


def test_fat16_cluster_boundary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 65499 clusters + 1 = 65500 (inside 65493–65526): 32902 KiB gives > 65524 clusters.
    source = tmp_path / "src"
    source.mkdir()
    with open(source / "f.bin", "wb") as handle:
        handle.truncate(65499 * 512)
    _assert_note_and_valid(tmp_path, source, capsys, "32902 KiB")
    with FatImage.open(tmp_path / "boot.img") as fs:
        assert fs.find("f.bin").size == 65499 * 512


def test_symlinked_file_is_stored_and_counted(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "outside.bin"
    target.write_bytes(os.urandom(300_000))
    source = make_tree(tmp_path / "src", {"start4.elf": os.urandom(300_000),
                                          "config.txt": b"abcde\n"})
    os.symlink(target, source / "linked.bin")  # the estimate skips it, mcopy stores it
    _assert_note_and_valid(tmp_path, source, capsys, "content needs")
    assert _contents(tmp_path / "boot.img")["linked.bin"] == target.read_bytes()


def test_directory_name_with_spaces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = make_tree(tmp_path / "src", {"config.txt": b"c\n", "start4.elf": b"s" * 300_000,
                                          "my dir": {"big.bin": os.urandom(200_000)}})
    # The estimate splits "my dir" into two words that are no directories: big.bin is lost.
    _assert_note_and_valid(tmp_path, source, capsys, "content needs")
    assert _contents(tmp_path / "boot.img") == read_tree(source)


def test_root_directory_overflow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = make_tree(tmp_path / "src", {f"f{i:03}.bin": b"x" for i in range(300)})
    _assert_note_and_valid(tmp_path, source, capsys, "root directory needs 301 entries")
    with FatImage.open(tmp_path / "boot.img") as fs:
        assert fs.geometry.root_entries >= 301
        assert len(list(fs.walk())) == 300


def test_floppy_size_matches_mkfs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 669 clusters + 1 directory = 670; FAT12 2 + 16 sectors → (670 + 18) / 2 + 16 = 360 KiB.
    source = make_tree(tmp_path / "src", {"f.bin": bytes(range(256)) * (669 * 2)})
    set_mtimes(source, INVARIANT_EPOCH)
    assert _run(source, tmp_path / "boot.img") == 0
    assert "Using IMAGE_SIZE of 360" in capsys.readouterr().out
    reference = tmp_path / "ref.img"
    mkfs_mcopy_image(source, reference, size_kib=360, fat_type=12)
    ours, expected = (tmp_path / "boot.img").read_bytes(), reference.read_bytes()
    assert ours[21] == expected[21] == 0xFD and ours[36] == expected[36] == 0
    assert ours[:62] == expected[:62] and ours[510:] == expected[510:]


def test_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    source = make_tree(tmp_path / "src", {"config.txt": b"c\n", "start4.elf": b"s" * 9000})
    monkeypatch.setenv("IMAGE_SIZE", "40")
    monkeypatch.setenv("FAT_SIZE", "32")
    assert _run(source, tmp_path / "a.img") == 0
    assert "differs" not in capsys.readouterr().err
    with FatImage.open(tmp_path / "a.img") as fs:
        assert (fs.geometry.fat_type, fs.geometry.image_bytes) == (32, 40 << 20)
    monkeypatch.delenv("FAT_SIZE")  # mkfs.fat alone picks FAT16 at 40 MiB and fails
    _assert_note_and_valid(tmp_path, source, capsys, "FAT(auto), 40960 KiB")
    monkeypatch.delenv("IMAGE_SIZE")
    monkeypatch.setenv("FAT_SIZE", "16")  # ignored without IMAGE_SIZE
    monkeypatch.setenv("SECTOR_SIZE", "4096")
    monkeypatch.setenv("ROOT_DIR_ENTRIES", "512")
    assert _run(source, tmp_path / "b.img") == 0
    with FatImage.open(tmp_path / "b.img") as fs:
        g = fs.geometry
        assert (g.fat_type, g.sector_size, g.root_entries) == (12, 4096, 512)
    monkeypatch.setenv("SECTOR_SIZE", "777")
    assert _run(source, tmp_path / "c.img") == 2
    assert "SECTOR_SIZE" in capsys.readouterr().err


def test_reproducible_across_time_zones_and_mtimes(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src", {"config.txt": b"c\n", "d": {"x.bin": b"x" * 999}})
    outputs = []
    for index, tz in enumerate(("UTC", "America/New_York", "Asia/Kolkata")):
        set_mtimes(source, 1_600_000_000 + index * 7777)
        env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
        env.pop("SOURCE_DATE_EPOCH", None)
        for epoch in (None, "1700000000"):
            run_env = {**env, "TZ": tz, **({"SOURCE_DATE_EPOCH": epoch} if epoch else {})}
            out = tmp_path / f"{index}-{epoch}.img"
            subprocess.run([sys.executable, "-m", "rpiboot.cli.compat_make_boot_image", "-d",
                            str(source), "-o", str(out)], env=run_env, check=True,
                           capture_output=True)
            outputs.append((epoch, out.read_bytes()))
    fixed = {data for epoch, data in outputs if epoch is None}
    dated = {data for epoch, data in outputs if epoch is not None}
    assert len(fixed) == 1 and len(dated) == 1 and fixed != dated


def test_case_collision_fails_before_writing(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    source = make_tree(tmp_path / "src", {"README": b"1", "readme": b"2"})
    assert _run(source, tmp_path / "boot.img") == 1
    assert "differ only in case" in capsys.readouterr().err
    assert not (tmp_path / "boot.img").exists()


@pytest.mark.parametrize(("argv", "code"), [
    (["-d", "nowhere", "-o", "x.img"], 2),
    (["-o", "x.img"], 2),
    (["-d", ".", "-o", "x.img", "-a", "48"], 2),
    (["-x"], 2),
])
def test_usage_errors(argv: list[str], code: int, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == code
    assert not (tmp_path / "x.img").exists()


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    # argparse's SystemExit(0) becomes the return value in run_command, as for every tool
    assert main(["-h"]) == 0
    assert "ROOT_DIR_ENTRIES" in capsys.readouterr().out
