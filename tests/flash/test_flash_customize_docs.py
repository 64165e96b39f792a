"""Every Python example in docs/flash-customize.md runs as written, on a disk made with
mkfs.fat in an MBR (like Raspberry Pi OS), and leaves a filesystem fsck.fat finds clean."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from flash_fat_helpers import fsck_clean, mbr_disk, mkfs, mtype

from rpiboot.errors import InputError
from rpiboot.flash.customize import CustomizeFolder, board_fields

DOC = Path(__file__).resolve().parents[2] / "docs" / "flash-customize.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_page_has_examples() -> None:
    assert len(EXAMPLES) == 2


@pytest.fixture
def in_a_station(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, int, int]:
    fs = mkfs(tmp_path / "bootfs.img", fat=32, size_kib=34000, cluster_sectors=1,
              files={"config.txt": b"[all]\nenable_uart=1\n", "cmdline.txt": b"quiet\n"})
    offset, length = mbr_disk(tmp_path / "disk.img", fs.read_bytes(), kind=0x0C,
                              start_lba=8192, extra=[(0x83, 8192 + 68000 + 2048, 2048)])
    custom = tmp_path / "custom"
    (custom / "boards").mkdir(parents=True)
    (custom / "user-data").write_text("#cloud-config\nhostname: cm4-{serial}\n")
    (custom / "network-config").write_text("# {mac}\n")
    (custom / "ssh").write_bytes(b"")
    (custom / "boards" / "{serial}.txt").write_text("{port_path} {chip}\n")
    (custom / "splash.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff{serial}")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "disk.img", offset, length


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_example_runs(in_a_station: tuple[Path, int, int], index: int) -> None:
    disk, offset, length = in_a_station
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(EXAMPLES[index], f"{DOC.name} example {index + 1}", "exec"), {})
    fsck_clean(disk, offset, length)
    if index == 0:
        assert "created user-data 37 templated" in printed.getvalue()
        assert mtype(disk, "boards/dc626c31.txt", offset) == b"1-1.3 BCM2711\n"
        assert mtype(disk, "splash.png", offset) == b"\x89PNG\r\n\x1a\n\xff{serial}"
    else:
        assert mtype(disk, "notes/hello world.txt", offset) == b"hi\n"
        assert mtype(disk, "cmdline.txt", offset) == b"console=serial0,115200 quiet\n"


def test_the_error_shown_on_the_page(in_a_station: tuple[Path, int, int]) -> None:
    (Path("custom") / "user-data").write_text("#cloud-config\nhostname: cm4-{hostnme}\n")
    (Path("custom") / "boards" / "{nope}.txt").write_text("")
    fields = board_fields(port_path="1-1.3", chip="BCM2711",
                          metadata={"USER_SERIAL_NUM": "dc626c31",
                                    "MAC_ADDR": "d8:3a:dd:00:11:22"})
    with pytest.raises(InputError) as caught:
        CustomizeFolder.load(Path("custom")).render(fields)
    shown = re.search(r"```text\n(custom: unknown.*?)\nhint: (.*?)\n```", DOC.read_text(), re.S)
    assert shown is not None
    assert caught.value.message == shown.group(1) and caught.value.hint == shown.group(2)
