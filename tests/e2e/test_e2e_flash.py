"""End to end: the INSTALLED ``rpiboot flash`` through the real system libusb against the
umockdev bench, whose boards come back as mass-storage gadgets with real-looking block
devices (/dev/sdX, sysfs, udev) next to a decoy disk of the host.  The bench accounts for
every disk after the run: the board's disk holds exactly the image, the host's disk is
unchanged in every test.

The scenarios are the bench's visible cm4-msd-disk and cm5-two-luns with the tool asked to
flash instead of only booting; images are generated here (deterministic bytes).
"""

from __future__ import annotations

import copy
import hashlib
import json
import lzma
from pathlib import Path
from typing import Any

import pytest
from benchkit import run_scenario

pytestmark = pytest.mark.e2e

MIB = 1 << 20
HOST = {"disk": "hostdisk", "unchanged": True}


def bench_random(scenario: str, rel: str, size: int) -> bytes:
    """The bytes the bench writes for a workdir_files ``{"random": size}`` entry."""
    out = b"".join(hashlib.shake_256(f"{scenario}:workdir:{rel}:{block}".encode()).digest(
        min(MIB, size - block * MIB)) for block in range((size + MIB - 1) // MIB))
    return out


def visible(shared_dir: Path, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(
        (shared_dir / "bench" / "scenarios" / f"{name}.json").read_text())
    return copy.deepcopy(spec)


def flash_scenario(base: dict[str, Any], name: str, args: str,
                   files: dict[str, Any], disks: list[dict[str, Any]]) -> dict[str, Any]:
    spec = copy.deepcopy(base)
    spec["name"] = name
    spec["tool_args"] = f"flash {args} -d {{bootdir}} --timeout 30"
    spec["time_limit"] = 120
    spec["workdir_files"] = files
    # a decoy disk of the host in every test: it must stay unchanged
    spec.setdefault("host_disks", [{"name": "hostdisk", "bytes": 16 * MIB, "fill": "random",
                                    "model": "Host SSD"}])
    spec["expect"]["disks"] = [*disks, HOST]
    return spec


def run(bench: dict[str, str], tmp: Path, spec: dict[str, Any]) -> dict[str, Any]:
    path = tmp / f"{spec['name']}.json"
    path.write_text(json.dumps(spec))
    verdict: dict[str, Any] = run_scenario(bench, str(path), tmp / "out")
    return verdict


def disk_sha(image: bytes, disk_size: int, fill: bytes | None = None) -> str:
    base = fill if fill is not None else bytes(disk_size)
    return hashlib.sha256(image + base[len(image):]).hexdigest()


def test_cm4_written_and_verified_from_a_raw_image(bench: dict[str, str], shared_dir: Path,
                                                   tmp_path: Path) -> None:
    spec = flash_scenario(visible(shared_dir, "cm4-msd-disk"), "flash-cm4-raw",
                          "{workdir}/image.img", {"image.img": {"random": 6 * MIB}},
                          [{"disk": "cm4/emmc", "equals_file": "{workdir}/image.img"}])
    verdict = run(bench, tmp_path, spec)
    assert verdict["tool"]["rc"] == 0
    stderr = (tmp_path / "out" / "stderr.txt").read_text()
    assert "read back and verified" in stderr


def test_cm4_from_an_xz_image(bench: dict[str, str], shared_dir: Path, tmp_path: Path) -> None:
    raw = bench_random("flash-cm4-xz", "raw.img", 2 * MIB) + bytes(2 * MIB)
    spec = flash_scenario(visible(shared_dir, "cm4-msd-disk"), "flash-cm4-xz",
                          "{workdir}/os.img.xz",
                          {"os.img.xz": {"hex": lzma.compress(raw).hex()}},
                          [{"disk": "cm4/emmc", "sha256": disk_sha(raw, 64 * MIB)}])
    assert run(bench, tmp_path, spec)["tool"]["rc"] == 0


def test_cm5_second_lun_with_target_and_a_bmap(bench: dict[str, str], shared_dir: Path,
                                               tmp_path: Path) -> None:
    """cm5-two-luns: --target 1 writes the 32 MiB NVMe (zeros) only the mapped ranges of a
    bmap say; the eMMC (LUN 0, random old contents) is left alone."""
    name = "flash-cm5-bmap"
    image = bench_random(name, "os.img", 8 * MIB)
    mapped = [(0, 255), (1024, 1279)]  # 4 KiB blocks: the first 1 MiB and the fifth
    bmap = bmap_xml(image, mapped)
    written = bytearray(32 * MIB)
    for first, last in mapped:
        written[first * 4096:(last + 1) * 4096] = image[first * 4096:(last + 1) * 4096]
    spec = flash_scenario(visible(shared_dir, "cm5-two-luns"), name,
                          "{workdir}/os.img --target 1 --bmap {workdir}/os.img.bmap",
                          {"os.img": {"random": 8 * MIB}, "os.img.bmap": {"text": bmap}},
                          [{"disk": "cm5/nvme", "sha256": hashlib.sha256(written).hexdigest()},
                           {"disk": "cm5/emmc", "unchanged": True}])
    assert run(bench, tmp_path, spec)["tool"]["rc"] == 0


def test_an_image_bigger_than_the_disk_writes_nothing(bench: dict[str, str],
                                                      shared_dir: Path, tmp_path: Path) -> None:
    spec = flash_scenario(visible(shared_dir, "cm4-msd-disk"), "flash-too-big",
                          "{workdir}/big.img", {"big.img": {"random": 65 * MIB}},
                          [{"disk": "cm4/emmc", "unchanged": True}])
    spec["expect"]["tool_exit"] = "nonzero"
    verdict = run(bench, tmp_path, spec)
    assert verdict["tool"]["rc"] == 1
    stderr = (tmp_path / "out" / "stderr.txt").read_text()
    assert "Traceback" not in stderr and "internal error" not in stderr


def test_two_boards_at_once(bench: dict[str, str], shared_dir: Path, tmp_path: Path) -> None:
    base = visible(shared_dir, "cm4-msd-disk")
    first = base["devices"][0]
    second = copy.deepcopy(first)
    first["port"], second["port"], second["id"] = "1-3.1", "1-3.2", "cm4b"
    second["rom"]["serial"], second["second_stage"]["serial"] = "af04b2db", "b29d2da1"
    second["second_stage"]["after"]["serial"] = "b29d2da1"
    base["hubs"] = [{"id": "hub", "port": "1-3", "ports": 4}]
    base["devices"] = [first, second]
    spec = flash_scenario(base, "flash-two-boards", "{workdir}/image.img -l",
                          {"image.img": {"random": 4 * MIB}},
                          [{"disk": "cm4/emmc", "equals_file": "{workdir}/image.img"},
                           {"disk": "cm4b/emmc", "equals_file": "{workdir}/image.img"}])
    spec["tool_args"] = spec["tool_args"].replace("--timeout 30", "--timeout 8")
    assert run(bench, tmp_path, spec)["tool"]["rc"] == 0


def bmap_xml(image: bytes, ranges: list[tuple[int, int]], block: int = 4096) -> str:
    """A bmaptool-format (2.0) block map of ``image`` with sha256 range checksums."""
    rows = []
    for first, last in ranges:
        digest = hashlib.sha256(image[first * block:(last + 1) * block]).hexdigest()
        span = f"{first}-{last}" if last != first else f"{first}"
        rows.append(f'        <Range chksum="{digest}"> {span} </Range>')
    mapped = sum(last - first + 1 for first, last in ranges)
    blocks = (len(image) + block - 1) // block
    body = (f'<?xml version="1.0" ?>\n<bmap version="2.0">\n'
            f"    <ImageSize> {len(image)} </ImageSize>\n"
            f"    <BlockSize> {block} </BlockSize>\n"
            f"    <BlocksCount> {blocks} </BlocksCount>\n"
            f"    <MappedBlocksCount> {mapped} </MappedBlocksCount>\n"
            f"    <ChecksumType> sha256 </ChecksumType>\n"
            f"    <BmapFileChecksum> {'0' * 64} </BmapFileChecksum>\n"
            f"    <BlockMap>\n" + "\n".join(rows) + "\n    </BlockMap>\n</bmap>\n")
    checksum = hashlib.sha256(body.encode()).hexdigest()
    return body.replace("0" * 64, checksum, 1)
