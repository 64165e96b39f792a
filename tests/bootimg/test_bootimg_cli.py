"""``rpiboot bootimg create|list|info|extract|sign``."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from bootimg_helpers import fsck_clean, make_tree, need_tools, read_tree

from rpiboot.bootimg.reader import FatImage
from rpiboot.cli.bootimg_cmd import parse_size_kib
from rpiboot.cli.main import main as rpiboot_main
from rpiboot.errors import UsageError

TREE = {"config.txt": b"enable_uart=1\n", "start4.elf": b"\x7fELF" + bytes(100_000),
        "overlays": {"dwc2.dtbo": b"d" * 700, "Read Me.txt": b"hi"}}


def main(argv: list[str]) -> int:
    """``rpiboot bootimg ARGV``, in-process; the exit status."""
    return rpiboot_main(["bootimg", *argv])


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "src", TREE)


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "rpiboot.bootimg/1"
    return data


def test_create_then_list_info_extract(source: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "boot.img"
    assert main(["create", str(source), "-o", str(image), "--json"]) == 0
    created = _json(capsys)
    assert created["fat_type"] == 12 and created["files"] == 4 and created["sig"] is None
    fsck_clean(image)
    assert main(["list", str(image), "--json"]) == 0
    listed = _json(capsys)
    sizes = {e["path"]: e["size"] for e in listed["entries"]}
    assert sizes["overlays/Read Me.txt"] == 2 and sizes["start4.elf"] == 100_004
    assert {e["mtime"] for e in listed["entries"]} == {"1980-01-01T00:00:00"}
    assert main(["list", str(image)]) == 0
    human = capsys.readouterr().out
    assert "Read Me.txt" in human and "100004" in human and "4 files, 1 directories" in human
    assert main(["info", str(image), "--json"]) == 0
    info = _json(capsys)
    assert (info["fat_type"], info["label"], info["volume_id"]) == (12, "BOOT", "1234ABCD")
    assert info["image_bytes"] == image.stat().st_size
    assert main(["extract", str(image), str(tmp_path / "out")]) == 0
    assert read_tree(tmp_path / "out") == read_tree(source)


def test_create_options(source: Path, tmp_path: Path) -> None:
    image = tmp_path / "boot.img"
    assert main(["create", str(source), "-o", str(image), "--fat", "32", "--cluster-size",
                 "4096", "--fats", "2", "--label", "rpi boot", "--volume-id", "0xCAFEF00D",
                 "--timestamp", "1700000000"]) == 0
    with FatImage.open(image) as fs:
        g = fs.geometry
        assert (g.fat_type, g.cluster_size, g.num_fats) == (32, 4096, 2)
        assert fs.volume_label() == "RPI BOOT" and fs.volume_id == 0xCAFEF00D
        stamp = fs.find("config.txt").mtime
        assert stamp is not None and stamp.isoformat() == "2023-11-14T22:13:20"
    fsck_clean(image)


def test_fixed_size_too_small_fails_before_writing(source: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "boot.img"
    image.write_bytes(b"previous image")
    assert main(["create", str(source), "-o", str(image), "--size", "64K"]) == 1
    err = capsys.readouterr().err
    assert "content needs 201 clusters" in err and "larger --size" in err
    assert image.read_bytes() == b"previous image"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_root_entries_too_small_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = make_tree(tmp_path / "src", {f"Long File Name {i}.txt": b"x" for i in range(20)})
    assert main(["create", str(source), "-o", str(tmp_path / "b.img"), "--fat", "16",
                 "--root-entries", "32"]) == 1
    assert "root directory needs" in capsys.readouterr().err
    assert not (tmp_path / "b.img").exists()
    assert main(["create", str(source), "-o", str(tmp_path / "b.img"), "--fat", "12"]) == 0


@pytest.mark.parametrize(("text", "kib"), [("40M", 40960), ("2048k", 2048), ("1G", 1 << 20),
                                           ("8192", 8)])
def test_parse_size(text: str, kib: int) -> None:
    assert parse_size_kib(text) == kib


@pytest.mark.parametrize("bad", ["", "12X", "1000", "-5M"])
def test_parse_size_rejects(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_size_kib(bad)


def _key(tmp_path: Path) -> tuple[Path, Path]:
    need_tools("openssl")
    key, pub = tmp_path / "key.pem", tmp_path / "pub.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(pub)],
                   check=True, capture_output=True)
    return key, pub


def _openssl_verifies(image: Path, sig: Path, pub: Path, tmp_path: Path) -> None:
    lines = sig.read_text().splitlines()
    signature = bytes.fromhex(lines[2].removeprefix("rsa2048: "))
    (tmp_path / "sig.bin").write_bytes(signature)
    result = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(pub), "-signature",
                             str(tmp_path / "sig.bin"), str(image)], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0 and "Verified OK" in result.stdout


def test_create_with_key_writes_image_and_sig(source: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    key, pub = _key(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    image = tmp_path / "boot.img"
    assert main(["create", str(source), "-o", str(image), "--key", str(key)]) == 0
    sig = tmp_path / "boot.sig"
    lines = sig.read_text().splitlines()
    assert lines[0] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert lines[1] == "ts: 1700000000"
    _openssl_verifies(image, sig, pub, tmp_path)
    assert main(["sign", str(image), "--key", str(key), "--sig", str(tmp_path / "again.sig")]) \
        == 0
    assert (tmp_path / "again.sig").read_text() == sig.read_text()


def test_create_with_hsm_wrapper(source: Path, tmp_path: Path) -> None:
    key, pub = _key(tmp_path)
    wrapper = tmp_path / "hsm.sh"
    to_hex = f"{sys.executable} -c 'import sys; print(sys.stdin.buffer.read().hex())'"
    wrapper.write_text("#!/bin/sh\n# usage: hsm.sh -a rsa2048-sha256 FILE\n"
                       f'openssl dgst -sha256 -sign "{key}" "$3" | {to_hex}\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    image = tmp_path / "boot.img"
    assert main(["create", str(source), "-o", str(image), "--hsm-wrapper", str(wrapper),
                 "--public-key", str(pub), "--sig", str(tmp_path / "custom.sig")]) == 0
    _openssl_verifies(image, tmp_path / "custom.sig", pub, tmp_path)


def test_failing_signer_leaves_nothing(source: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    wrapper = tmp_path / "broken.sh"
    wrapper.write_text("#!/bin/sh\necho 'no HSM here' >&2\nexit 3\n")
    wrapper.chmod(0o755)
    image = tmp_path / "boot.img"
    assert main(["create", str(source), "-o", str(image), "--hsm-wrapper", str(wrapper)]) == 1
    assert "no HSM here" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.sh", "src"]


def test_usage_errors(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "b.img")
    assert main(["create", str(source), "-o", out, "--key", "k", "--hsm-wrapper", "w"]) == 2
    assert main(["create", str(source), "-o", out, "--cluster-size", "1000"]) == 2
    assert main(["create", str(source), "-o", out, "--label", "much too long label"]) == 2
    assert main(["sign", out]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["list", str(tmp_path / "missing.img")]) == 1
    assert "cannot open" in capsys.readouterr().err
    assert not os.path.exists(out)


def test_board_pruning_and_keep_mtimes(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src", {"kernel8.img": b"8", "kernel7l.img": b"7",
                                          "bootcode.bin": b"b", ".hidden": b"h"})
    os.utime(source / "kernel8.img", (1_650_000_000, 1_650_000_000))
    image = tmp_path / "b.img"
    assert main(["create", str(source), "-o", str(image), "--board", "pi4", "--arch", "64",
                 "--keep-mtimes"]) == 0
    with FatImage.open(image) as fs:
        assert [e.path for e in fs.walk()] == ["kernel8.img"]
        assert fs.find("kernel8.img").mtime.isoformat() == "2022-04-15T05:20:00"


def test_subcommand_through_rpiboot_entry_point(source: Path, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "rpiboot", "bootimg", "create", str(source),
                             "-o", str(tmp_path / "b.img")], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert "FAT12" in result.stdout


def test_output_inside_source_is_not_packed_into_itself(source: Path) -> None:
    image = source / "boot.img"
    for _ in range(2):
        assert main(["create", str(source), "-o", str(image)]) == 0
    with FatImage.open(image) as fs:
        assert fs.find("boot.img") is None
        assert {e.path for e in fs.walk()} == set(read_tree(source)) - {"boot.img"}
