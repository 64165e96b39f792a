"""Files that belong together land together (issue 8, item 5): boot.img + boot.sig from a
signed ``bootimg create``, key + public key from ``keys generate``.

Both new files are in place or neither; temporary files are removed on every exit the
process controls (errors, Ctrl-C, SIGTERM); what a killed run left (SIGKILL: temporary files,
or a pair renamed half-way) is completed or removed by the next run writing into the folder.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from output_fixtures import *  # noqa: F403  (pytest fixtures)
from output_fixtures import leftovers, tool

# Runs `rpiboot ARGV` in a child whose os.replace / os.fsync SIGKILLs it at a chosen moment:
# a real kill, at a real point of the write path.
KILLED_RUN = """
import os, signal, sys
moment = sys.argv[1]
real_replace, real_fsync = os.replace, os.fsync
def replace(src, dst):
    real_replace(src, dst)
    if moment == "between-renames" and str(dst).endswith(".img"):
        os.kill(os.getpid(), signal.SIGKILL)
def fsync(fd):
    if moment == "before-renames":
        os.kill(os.getpid(), signal.SIGKILL)
    real_fsync(fd)
os.replace, os.fsync = replace, fsync
from rpiboot.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def _killed(moment: str, *argv: str | Path) -> None:
    run = subprocess.run([sys.executable, "-c", KILLED_RUN, moment, *map(str, argv)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == -signal.SIGKILL, run.stderr


def _openssl_verifies(image: Path, sig: Path, pub: Path, scratch: Path) -> bool:
    lines = sig.read_text().splitlines()
    if lines[0] != hashlib.sha256(image.read_bytes()).hexdigest():
        return False
    (scratch / "sig.bin").write_bytes(bytes.fromhex(lines[-1].removeprefix("rsa2048: ")))
    result = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(pub), "-signature",
                             str(scratch / "sig.bin"), str(image)], capture_output=True,
                            text=True, check=False)
    return result.returncode == 0 and "Verified OK" in result.stdout


def _pair_verifies(out: Path, inputs: dict[str, Path], scratch: Path) -> bool:
    image, sig = out / "boot.img", out / "boot.sig"
    ours = tool("rpiboot", "sign", "verify", image, sig, "-k", inputs["pub"]).returncode == 0
    assert ours == _openssl_verifies(image, sig, inputs["pub"], scratch)
    return ours


@pytest.fixture
def old_pair(tmp_path: Path, inputs: dict[str, Path]) -> Path:
    """``out/boot.img`` + ``out/boot.sig`` from a first run; the source then changes."""
    out = tmp_path / "out"
    out.mkdir()
    assert tool("rpiboot", "bootimg", "create", inputs["tree"], "-o", out / "boot.img",
                "-k", inputs["key"]).returncode == 0
    return out


@pytest.fixture
def changed_tree(tmp_path: Path, inputs: dict[str, Path]) -> Path:
    tree = tmp_path / "bootfs-v2"
    tree.mkdir()
    (tree / "config.txt").write_text("enable_uart=1\narm_64bit=1\n")
    (tree / "kernel8.img").write_bytes(bytes(range(256)) * 2000)
    return tree


def test_a_kill_between_the_two_renames_is_completed_by_the_next_run(
        old_pair: Path, changed_tree: Path, inputs: dict[str, Path], tmp_path: Path) -> None:
    old_image = (old_pair / "boot.img").read_bytes()
    _killed("between-renames", "bootimg", "create", changed_tree, "-o", old_pair / "boot.img",
            "-k", inputs["key"])
    new_image = (old_pair / "boot.img").read_bytes()
    assert new_image != old_image  # the image was renamed, the .sig was not: a mixed pair
    assert not _pair_verifies(old_pair, inputs, tmp_path)
    assert leftovers(old_pair) != []
    # the next run writing into the folder (any command) completes the interrupted pair
    assert tool("rpiboot", "sign", "file", inputs["conf"], "-o",
                old_pair / "other.sig").returncode == 0
    assert (old_pair / "boot.img").read_bytes() == new_image
    assert _pair_verifies(old_pair, inputs, tmp_path)
    assert leftovers(old_pair) == []


def test_a_kill_before_the_renames_leaves_the_old_pair_and_the_next_run_cleans_up(
        old_pair: Path, changed_tree: Path, inputs: dict[str, Path], tmp_path: Path) -> None:
    before = {p.name: p.read_bytes() for p in old_pair.iterdir()}
    _killed("before-renames", "bootimg", "create", changed_tree, "-o", old_pair / "boot.img",
            "-k", inputs["key"])
    assert {p.name: p.read_bytes() for p in old_pair.iterdir() if p.name in before} == before
    assert leftovers(old_pair) != []  # the killed run's temporary image and .sig
    assert tool("rpiboot", "bootimg", "create", changed_tree, "-o", old_pair / "boot.img",
                "-k", inputs["key"]).returncode == 0
    assert _pair_verifies(old_pair, inputs, tmp_path)
    assert leftovers(old_pair) == [] and sorted(before) == sorted(
        p.name for p in old_pair.iterdir())


@pytest.mark.parametrize("sig", ["TERM", "INT"])
def test_sigterm_or_ctrl_c_while_signing_leaves_the_old_pair_and_no_temp_files(
        sig: str, old_pair: Path, changed_tree: Path, inputs: dict[str, Path],
        tmp_path: Path) -> None:
    # an HSM wrapper that signals rpiboot (its parent) while the new image waits to be signed
    wrapper = tmp_path / "slow-hsm.sh"
    wrapper.write_text(f"#!/bin/sh\nkill -{sig} $PPID\nexec sleep 60\n")
    wrapper.chmod(0o755)
    before = {p.name: p.read_bytes() for p in old_pair.iterdir()}
    result = tool("rpiboot", "bootimg", "create", changed_tree, "-o", old_pair / "boot.img",
                  "-H", wrapper)
    assert result.returncode == 130, result.stderr
    assert "interrupted" in result.stderr and "Traceback" not in result.stderr
    assert {p.name: p.read_bytes() for p in old_pair.iterdir()} == before
    assert _pair_verifies(old_pair, inputs, tmp_path)


def test_keys_generate_writes_the_key_and_its_public_key_together(
        tmp_path: Path, readonly_dir: Path) -> None:
    key, pub = tmp_path / "key.pem", tmp_path / "pub.pem"
    failed = tool("rpiboot", "keys", "generate", key, "--public-out", readonly_dir / "pub.pem")
    assert failed.returncode in (1, 5) and str(readonly_dir / "pub.pem") in failed.stderr
    assert not key.exists() and leftovers(tmp_path) == []  # neither file
    assert tool("rpiboot", "keys", "generate", key, "--public-out", pub).returncode == 0
    assert key.stat().st_mode & 0o777 == 0o600
    derived = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout"],
                             capture_output=True, text=True, check=True).stdout
    assert pub.read_text() == derived and leftovers(tmp_path) == []
