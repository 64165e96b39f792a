"""Fixtures shared by every test package: where ../shared (firmware, vectors, bench) is."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# tests/e2e/benchkit.py (running the umockdev bench) serves the flash package's bench tests too
sys.path.insert(0, str(Path(__file__).resolve().parent / "e2e"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-hardware", action="store_true",
                     help="also run tests that need a real board in USB boot mode "
                     "(marker 'hardware'; see tests/hardware)")


def pytest_configure(config: pytest.Config) -> None:
    """Every rpiboot run of the tests (in-process or a subprocess) records its boards into
    a throwaway database, never into the user's own records.db."""
    folder = tempfile.mkdtemp(prefix="rpiboot-test-records-")
    os.environ["RPIBOOT_DB"] = str(Path(folder) / "records.db")
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Hardware tests are opt-in: without --run-hardware they are deselected, not skipped."""
    if config.getoption("--run-hardware"):
        return
    hardware = [item for item in items if item.get_closest_marker("hardware")]
    if hardware:
        config.hook.pytest_deselected(items=hardware)
        items[:] = [item for item in items if not item.get_closest_marker("hardware")]


def shared_path() -> Path:
    """``$RPIBOOT_SHARED`` or the ``shared`` folder beside the checkout."""
    return Path(os.environ.get("RPIBOOT_SHARED", REPO.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_path()
    if not path.is_dir():
        pytest.fail(f"{path} not found: put the shared/ folder beside the checkout "
                    "or set RPIBOOT_SHARED")
    return path


@pytest.fixture(scope="session")
def firmware_dir(shared_dir: Path) -> Path:
    return shared_dir / "firmware"


@pytest.fixture(scope="session")
def vectors_dir(shared_dir: Path) -> Path:
    return shared_dir / "vectors"


# ------------------------------------------------------------------ folders that refuse writes
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
