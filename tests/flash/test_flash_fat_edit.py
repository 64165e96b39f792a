"""In-place FAT editing on filesystems made by mkfs.fat + mtools; fsck.fat and mtools judge
the result."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from flash_fat_helpers import EFI_SYSTEM, fsck_clean, gpt_disk, mbr_disk, mdir_names, mkfs, mtype

from rpiboot.bootimg.inspect import image_info
from rpiboot.bootimg.names import sfn_checksum
from rpiboot.bootimg.reader import FatImage
from rpiboot.errors import InputError
from rpiboot.flash.fat_edit import FatEditor, open_fat, open_partition

STAMP = 1_700_000_000  # 2023-11-14 22:13:20 UTC
BASE_FILES = {
    "config.txt": b"dtparam=audio=on\n",
    "Long File Name.txt": b"L" * 3000,
    "overlays/a.dtbo": b"\x01\x02" * 700,
}


def _base(tmp_path: Path, fat: int, sector_size: int = 512, **kwargs: int) -> Path:
    size = {12: 1600, 16: 20000, 32: 80000}[fat]
    if sector_size == 4096:
        size = {12: 8000, 16: 40000, 32: 300000}[fat]
    return mkfs(tmp_path / "fs.img", fat=fat, size_kib=size, sector_size=sector_size,
                cluster_sectors=kwargs.pop("cluster_sectors", 1), files=BASE_FILES, **kwargs)


@pytest.mark.parametrize(("fat", "sector_size"), [(12, 512), (16, 512), (32, 512),
                                                  (12, 4096), (16, 4096), (32, 4096)])
def test_create_and_replace_on_every_fat_type(tmp_path: Path, fat: int,
                                              sector_size: int) -> None:
    image = _base(tmp_path, fat, sector_size)
    big = bytes(range(256)) * 40  # several clusters
    with open_fat(image) as fs:
        changes = fs.write_files([
            ("config.txt", big),                                 # replace, bigger
            ("Long File Name.txt", b"short now\n"),              # replace, smaller
            ("OVERLAYS/A.DTBO", b""),                             # replace by another case
            ("user-data", b"#cloud-config\nhostname: cm4-x\n"),  # new long name
            ("cmdline.txt", b"console=serial0\n"),               # new 8.3 name
            ("New Folder/deeper/Mixed Case.JSON", b"{}\n"),      # new folders
        ], folders=["empty"], timestamp=STAMP)
    assert [(c.path, c.size, c.created) for c in changes] == [
        ("config.txt", len(big), False), ("Long File Name.txt", 10, False),
        ("OVERLAYS/A.DTBO", 0, False), ("user-data", 30, True), ("cmdline.txt", 16, True),
        ("New Folder/deeper/Mixed Case.JSON", 3, True)]
    fsck_clean(image)
    assert mtype(image, "config.txt") == big
    assert mtype(image, "Long File Name.txt") == b"short now\n"
    assert mtype(image, "overlays/a.dtbo") == b""
    assert mtype(image, "user-data") == b"#cloud-config\nhostname: cm4-x\n"
    assert mtype(image, "New Folder/deeper/Mixed Case.JSON") == b"{}\n"
    root = mdir_names(image)
    assert root["user-data"] == "USER-D~1" and root["cmdline.txt"] == "cmdline.txt"
    assert root["config.txt"] == "config.txt" and "New Folder" in root and "empty" in root
    assert mdir_names(image, "New Folder/deeper") == {"Mixed Case.JSON": "MIXEDC~1.JSO"}
    assert "a.dtbo" in mdir_names(image, "overlays")  # the replaced entry keeps its name


def test_replacing_frees_the_old_clusters(tmp_path: Path) -> None:
    image = _base(tmp_path, 16)

    def free() -> int:
        with FatImage.open(image) as fs:
            return int(image_info(fs)["clusters_free"])

    before = free()
    with open_fat(image) as fs:
        fs.write_file("config.txt", b"c" * 512 * 10, timestamp=STAMP)  # 1 -> 10 clusters
    assert free() == before - 9
    with open_fat(image) as fs:
        fs.write_file("config.txt", b"c" * 700, timestamp=STAMP)  # 10 -> 2 clusters
    assert free() == before - 1
    fsck_clean(image)
    assert mtype(image, "config.txt") == b"c" * 700


@pytest.mark.parametrize("fat", [16, 32])
def test_folders_grow_past_their_first_cluster(tmp_path: Path, fat: int) -> None:
    image = _base(tmp_path, fat)
    names = [f"board {i:03d} settings.conf" for i in range(120)]  # 3 entries each
    with open_fat(image) as fs:
        fs.write_files([(f"many/{n}", n.encode()) for n in names]
                       + ([(n, n.encode()) for n in names[:60]] if fat == 32 else []),
                       timestamp=STAMP)
    fsck_clean(image)
    listed = mdir_names(image, "many")
    assert sorted(listed) == sorted(names)
    assert len(set(listed.values())) == len(names)  # every 8.3 alias unique
    assert mtype(image, "many/board 119 settings.conf") == b"board 119 settings.conf"
    if fat == 32:
        assert mtype(image, names[59]) == names[59].encode()


def test_aliases_stay_unique_beside_names_mtools_made(tmp_path: Path) -> None:
    made = {f"long file name {i}.txt": b"%d" % i for i in range(6)}
    image = mkfs(tmp_path / "fs.img", fat=12, size_kib=1600, files=made)
    before = mdir_names(image)
    ours = [f"long file name {i}.txt" for i in range(6, 14)]
    with open_fat(image) as fs:
        fs.write_files([(name, name.encode()) for name in ours], timestamp=STAMP)
    fsck_clean(image)
    after = mdir_names(image)
    assert {k: after[k] for k in before} == before
    assert len(set(after.values())) == len(after) == 14
    # an 8.3 alias names the file it belongs to, as on Windows
    with open_fat(image) as fs:
        change = fs.write_file(before["long file name 0.txt"], b"via alias", timestamp=STAMP)
    assert not change.created and mtype(image, "long file name 0.txt") == b"via alias"


def _unchanged_after(image: Path, call: object, match: str) -> InputError:
    before = image.read_bytes()
    with pytest.raises(InputError, match=match) as caught:
        call()  # type: ignore[operator]
    assert image.read_bytes() == before
    return caught.value


def test_out_of_space_writes_nothing(tmp_path: Path) -> None:
    image = _base(tmp_path, 12)
    with FatImage.open(image) as fs:
        free_bytes = int(image_info(fs)["clusters_free"]) * fs.geometry.cluster_size
    with open_fat(image) as fs:
        error = _unchanged_after(image, lambda: fs.write_files(
            [("small.txt", b"s"), ("huge.bin", bytes(free_bytes))]), "not enough free space")
        assert str(image) in error.message and "are free" in error.message
        # the data fits exactly, but the new folder needs a cluster too
        _unchanged_after(image, lambda: fs.write_file("new/huge.bin", bytes(free_bytes)),
                         "not enough free space")
        fs.write_file("fits.bin", bytes(free_bytes), timestamp=STAMP)
    fsck_clean(image)


def test_a_full_fat16_root_is_an_error_naming_it(tmp_path: Path) -> None:
    image = mkfs(tmp_path / "fs.img", fat=16, size_kib=20000, cluster_sectors=1,
                 root_entries=16, files={f"F{i}.TXT": b"x" for i in range(14)})
    with open_fat(image) as fs:
        fs.write_file("F14.TXT", b"fits: the 16th slot (the label takes one)", timestamp=STAMP)
        error = _unchanged_after(image, lambda: fs.write_file("F15.TXT", b"no room"),
                                 "the root directory is full")
        assert "16 entries" in error.message and "'F15.TXT'" in error.message
        _unchanged_after(image, lambda: fs.write_file("sub/x.txt", b"no room for sub"),
                         "root directory is full")
        fs.write_file("F0.TXT", b"replacing needs no new entry", timestamp=STAMP)
    fsck_clean(image)


def test_conflicting_names_are_refused_before_writing(tmp_path: Path) -> None:
    image = _base(tmp_path, 12)
    with open_fat(image) as fs:
        _unchanged_after(image, lambda: fs.write_files([("a.txt", b"1"), ("A.TXT", b"2")]),
                         "are the same name")
        _unchanged_after(image, lambda: fs.write_file("config.txt/x", b"1"),
                         "a file of that name is in the way")
        _unchanged_after(image, lambda: fs.write_file("overlays", b"1"), "it is a folder")
        _unchanged_after(image, lambda: fs.write_file("bad:name", b"1"), "forbids")
        _unchanged_after(image, lambda: fs.write_file("/", b"1"), "not a file path")


def test_fat_copies_that_differ_are_refused(tmp_path: Path) -> None:
    image = _base(tmp_path, 16)
    data = bytearray(image.read_bytes())
    with FatImage.open(image) as fs:
        g = fs.geometry
    second = (g.fat_start + g.fat_sectors) * g.sector_size
    data[second + 40] ^= 0xFF
    image.write_bytes(bytes(data))
    with pytest.raises(InputError, match="FAT copy 2 differs from FAT 1 at byte 40"):
        open_fat(image)


def test_fsinfo_gets_the_exact_free_count_and_last_cluster(tmp_path: Path) -> None:
    image = _base(tmp_path, 32)
    with open_fat(image) as fs:
        change = fs.write_file("new.bin", bytes(5000), timestamp=STAMP)
        chain = fs.chain(fs.find("new.bin").first_cluster)  # type: ignore[union-attr]
    raw = image.read_bytes()
    free, last = struct.unpack_from("<II", raw, 512 + 488)
    with FatImage.open(image) as fs:
        assert free == image_info(fs)["clusters_free"]
    assert last == chain[-1] and len(chain) == 10 and change.created
    fsck_clean(image)


def test_times_and_names_of_a_replaced_entry(tmp_path: Path) -> None:
    image = _base(tmp_path, 16)
    with open_fat(image) as fs:
        before = fs.find("Long File Name.txt")
        slot_bytes = image.read_bytes()
        fs.write_file("long file name.TXT", b"new", timestamp=STAMP)
        after = fs.find("Long File Name.txt")
    assert before is not None and after is not None
    assert after.name == "Long File Name.txt" and after.short_name == before.short_name
    assert after.mtime is not None and after.mtime.isoformat() == "2023-11-14T22:13:20"
    raw = image.read_bytes()
    at = raw.find(before.short_name.replace(".", "").ljust(11).encode()[:6])
    assert slot_bytes[at + 13:at + 18] == raw[at + 13:at + 18]  # creation time kept


def test_reading_and_listing(tmp_path: Path) -> None:
    image = _base(tmp_path, 32)
    with open_fat(image) as fs:
        assert isinstance(fs, FatEditor)
        assert sorted(e.name for e in fs.listdir("/")) == ["Long File Name.txt", "config.txt",
                                                           "overlays"]
        assert [e.name for e in fs.listdir("OVERLAYS")] == ["a.dtbo"]
        assert fs.read("overlays/A.DTBO") == b"\x01\x02" * 700
        with pytest.raises(InputError, match="no file 'nope'"):
            fs.read("nope")
        with pytest.raises(InputError, match="no folder"):
            fs.listdir("config.txt")


def test_a_plan_can_be_looked_at_and_discarded(tmp_path: Path) -> None:
    image = _base(tmp_path, 32)
    before = image.read_bytes()
    with open_fat(image) as fs:
        edit = fs.plan([("config.txt", b"x" * 3000), ("n/new.txt", b"n")], timestamp=STAMP)
        phases = [write.phase for write in edit.writes]
        order = ["data", "fat", "entries", "free", "fsinfo"]
        assert phases == sorted(phases, key=order.index) and set(phases) == set(order)
        fs.discard()
        assert image.read_bytes() == before
        assert fs.read("config.txt") == BASE_FILES["config.txt"]
        fs.write_file("config.txt", b"after the discard", timestamp=STAMP)
    fsck_clean(image)
    assert mtype(image, "config.txt") == b"after the discard"


def test_opening_the_fat_partition_of_a_disk(tmp_path: Path) -> None:
    fs = _base(tmp_path, 16).read_bytes()
    disk = tmp_path / "disk.img"
    offset, length = mbr_disk(disk, fs, kind=0x0E, start_lba=4096)
    with FatEditor.open(disk) as editor:
        assert editor.offset == offset and editor.name == f"{disk}, MBR partition 1 (type 0x0e)"
        editor.write_file("on-the-disk.txt", b"inside the partition", timestamp=STAMP)
    fsck_clean(disk, offset, length)
    assert mtype(disk, "on-the-disk.txt", offset) == b"inside the partition"
    gpt = tmp_path / "gpt.img"
    offset, length = gpt_disk(gpt, fs, kind=EFI_SYSTEM, lba=4096, start_lba=256)
    editor, part = open_partition(gpt)
    with editor:
        assert (part.scheme, part.number, part.start) == ("gpt", 1, offset)
        editor.write_file("efi.txt", b"esp", timestamp=STAMP)
    fsck_clean(gpt, offset, length)


@pytest.mark.parametrize("mark", [0xE5, 0x00])
def test_a_new_entry_never_follows_a_dangling_long_name(tmp_path: Path, mark: int) -> None:
    """A long-name entry left without its short entry (here: the short entry deleted, or
    made the end of the directory, and the checksum crafted to match) would lend its name
    to a short entry placed right after it."""
    image = _base(tmp_path, 16)
    data = bytearray(image.read_bytes())
    with FatImage.open(image) as fs:
        root = fs.geometry.root_start * fs.geometry.sector_size
        entry = fs.find("Long File Name.txt")
    assert entry is not None
    short = root + next(at for at in range(0, 16 * 32, 32)
                        if data[root + at:root + at + 11] == b"LONGFI~1TXT")
    assert data[short - 64 + 11] == data[short - 32 + 11] == 0x0F  # its 2 long-name entries
    if mark == 0:  # the end of the directory: the entries after it go (lost clusters)
        end = fs.geometry.data_start * fs.geometry.sector_size
        data[short:end] = bytes(end - short)
    data[short] = mark  # delete the short entry only: the long name dangles
    data[short - 64 + 13] = data[short - 32 + 13] = sfn_checksum(b"NEW     TXT")
    image.write_bytes(bytes(data))
    with open_fat(image) as fs:
        fs.write_file("new.txt", b"mine", timestamp=STAMP)
    names = mdir_names(image)
    assert names["new.txt"] == "new.txt" and "Long File Name.txt" not in names
    assert mtype(image, "new.txt") == b"mine"
    with FatImage.open(image) as fs:
        assert fs.read_file(fs.find("new.txt")) == b"mine"  # type: ignore[arg-type]
