"""-j DIR: one file per board, never two boards into one; readable, collision-free names; an
existing file is overwritten only by the board it belongs to."""

from __future__ import annotations

import hashlib
import json
import string
import threading
from pathlib import Path

import pytest
from core_simkit import scenario_for
from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.errors import ExitCode
from rpiboot.metadata import (
    MAX_SERIAL_FILENAME,
    MetadataCollector,
    metadata_stem,
    same_board,
    save_metadata,
    write_metadata,
)

STEM_CHARS = set(string.ascii_letters + string.digits + "._-~")


def _hash(serial: str) -> str:
    return hashlib.sha256(serial.encode()).hexdigest()[:10]


def _records(**records: str) -> MetadataCollector:
    collector = MetadataCollector()
    for key, value in records.items():
        collector.add(key, value)
    return collector


@pytest.mark.parametrize(("serial", "stem"), [
    ("c0ffee01", "c0ffee01"),
    ("a_b", "a_b"),
    ("a/b", f"a_b~{_hash('a/b')}"),
    ("a:b", f"a_b~{_hash('a:b')}"),
    ("é漢", f"__~{_hash('é漢')}"),
    (".hidden", f"_hidden~{_hash('.hidden')}"),
    ("..", f"_.~{_hash('..')}"),
    (None, "1-1.3~no-serial"),
    ("", "1-1.3~no-serial"),
])
def test_stems_are_readable_and_say_when_the_serial_was_changed(serial: str | None,
                                                                stem: str) -> None:
    assert metadata_stem(serial, fallback="1-1.3") == stem


def test_long_serials_keep_distinct_names() -> None:
    a, b = "x" * 200 + "1", "x" * 200 + "2"
    assert metadata_stem(a) != metadata_stem(b)
    assert len(metadata_stem(a)) == MAX_SERIAL_FILENAME


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120), st.text(max_size=120))
def test_different_serials_never_share_a_stem(first: str, second: str) -> None:
    if first == second or not first or not second:
        return
    assert metadata_stem(first) != metadata_stem(second)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=300)), st.text(max_size=30))
def test_stems_stay_in_the_directory(serial: str | None, fallback: str) -> None:
    stem = metadata_stem(serial, fallback)
    assert 0 < len(stem) <= MAX_SERIAL_FILENAME
    assert set(stem) <= STEM_CHARS and not stem.startswith(".")
    assert stem not in (".", "..")


def test_two_boards_whose_serials_differ_in_unsafe_characters(tmp_path: Path) -> None:
    first = write_metadata(tmp_path, "a/b", _records(MAC_ADDR="d8:3a:dd:00:00:01"))
    second = write_metadata(tmp_path, "a_b", _records(MAC_ADDR="d8:3a:dd:00:00:02"))
    assert first != second and {first.parent, second.parent} == {tmp_path}
    assert json.loads(first.read_text())["MAC_ADDR"] == "d8:3a:dd:00:00:01"
    assert json.loads(second.read_text())["MAC_ADDR"] == "d8:3a:dd:00:00:02"


def test_the_same_board_rebooted_overwrites_its_own_file(tmp_path: Path) -> None:
    first = write_metadata(tmp_path, "c0ffee01", _records(MAC_ADDR="m1", BOOT_ROM="0x1"))
    again = save_metadata(tmp_path, "c0ffee01", _records(MAC_ADDR="m1", BOOT_ROM="0x2"))
    assert again.path == first == tmp_path / "c0ffee01.json" and again.note is None
    assert json.loads(first.read_text()) == {"MAC_ADDR": "m1", "BOOT_ROM": "0x2"}
    assert [p.name for p in tmp_path.iterdir()] == ["c0ffee01.json"]


def test_another_boards_file_is_never_overwritten(tmp_path: Path) -> None:
    mine = write_metadata(tmp_path, "Broadcom", _records(MAC_ADDR="m1"))
    other = save_metadata(tmp_path, "Broadcom", _records(MAC_ADDR="m2"))
    assert other.path == tmp_path / "Broadcom~2.json"
    assert other.note is not None and "Broadcom.json holds another board" in other.note
    assert json.loads(mine.read_text()) == {"MAC_ADDR": "m1"}
    third = write_metadata(tmp_path, "Broadcom", _records(USER_SERIAL_NUM="s3", MAC_ADDR="m3"))
    assert third == tmp_path / "Broadcom~3.json"
    rebooted = write_metadata(tmp_path, "Broadcom", _records(MAC_ADDR="m2", BOOT_ROM="x"))
    assert rebooted == other.path  # the second board finds its own file again
    assert json.loads(other.path.read_text()) == {"MAC_ADDR": "m2", "BOOT_ROM": "x"}


@pytest.mark.parametrize("content", [b"{}", b"not json", b"[1, 2]", b"\xff\xfe", b"[" * 100_000,
                                     b'{"MAC_ADDR": "m1", "USER_SERIAL_NUM": "other"}'])
def test_files_that_do_not_prove_the_same_board_are_kept(tmp_path: Path,
                                                         content: bytes) -> None:
    """Records that say nothing about the board, a file rpiboot did not write, or a file
    that disagrees on one identity record: kept, the board's records go next to it."""
    existing = tmp_path / "c0ffee01.json"
    existing.write_bytes(content)
    written = write_metadata(tmp_path, "c0ffee01", _records(MAC_ADDR="m1",
                                                            USER_SERIAL_NUM="c0ffee01"))
    assert written == tmp_path / "c0ffee01~2.json"
    assert existing.read_bytes() == content


def test_a_directory_in_the_way_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "c0ffee01.json").mkdir()
    assert write_metadata(tmp_path, "c0ffee01", _records()) == tmp_path / "c0ffee01~2.json"


@pytest.mark.parametrize(("existing", "records", "same"), [
    ({"MAC_ADDR": "m"}, {"MAC_ADDR": "m"}, True),
    ({"MAC_ADDR": "m", "USER_SERIAL_NUM": "s"}, {"MAC_ADDR": "m"}, True),
    ({"MAC_ADDR": "m", "USER_SERIAL_NUM": "s"}, {"MAC_ADDR": "m", "USER_SERIAL_NUM": "t"}, False),
    ({"BOOT_ROM": "1"}, {"BOOT_ROM": "1"}, False),  # not an identity record
    ({}, {}, False),
    ({"FACTORY_UUID": "001000911006186073"}, {"FACTORY_UUID": "001000911006186073"}, True),
])
def test_same_board_needs_a_shared_identity_record(existing: dict, records: dict,
                                                   same: bool) -> None:
    assert same_board(existing, records) is same


def test_boards_finishing_together_get_their_own_files(tmp_path: Path) -> None:
    """Loop mode: many workers writing the same stem at once (e.g. CM3s all called
    'Broadcom') each get a file; nothing is lost."""
    paths: list[Path] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        path = write_metadata(tmp_path, "Broadcom", _records(MAC_ADDR=f"m{index}"))
        with lock:
            paths.append(path)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(paths)) == 8
    macs = {json.loads(p.read_text())["MAC_ADDR"] for p in paths}
    assert macs == {f"m{i}" for i in range(8)}


def _board(spec_id: str, port: str, serial: str, mac: str) -> dict:
    return {"id": spec_id, "port": port,
            "rom": {"pid": "2711", "serial_index": 3, "serial": serial,
                    "expect_bootcode": "file:bootcode4.bin"},
            "second_stage": {"serial_index": 4, "serial": serial,
                             "steps": [{"op": "meta", "record": f"MAC_ADDR*{mac}"},
                                       {"op": "meta", "record": f"USER_SERIAL_NUM*{serial}"},
                                       {"op": "done"}],
                             "after": {"action": "disappear", "delay": 0.1}}}


def test_two_simulated_boards_with_unsafe_serials_get_two_files(boot, tmp_path: Path) -> None:
    spec = scenario_for("cm4")
    spec["devices"] = [_board("a", "1-1", "a/b", "d8:3a:dd:00:00:0a"),
                       _board("b", "1-2", "a_b", "d8:3a:dd:00:00:0b")]
    out = tmp_path / "meta"
    out.mkdir()
    run = boot(spec, metadata=True, metadata_dir=out, loop=True, stop_after=2)
    assert run.error is None and len(run.result.finished) == 2
    files = {p.name: json.loads(p.read_text()) for p in out.iterdir()}
    assert files == {
        f"a_b~{_hash('a/b')}.json": {"MAC_ADDR": "d8:3a:dd:00:00:0a", "USER_SERIAL_NUM": "a/b"},
        "a_b.json": {"MAC_ADDR": "d8:3a:dd:00:00:0b", "USER_SERIAL_NUM": "a_b"},
    }
    events = {e.board.serial: e.path for e in run.kinds("metadata")}
    assert events == {"a/b": str(out / f"a_b~{_hash('a/b')}.json"),
                      "a_b": str(out / "a_b.json")}


def test_a_board_meeting_another_boards_file_says_where_it_wrote(boot, tmp_path: Path,
                                                                  caplog) -> None:
    out = tmp_path / "meta"
    out.mkdir()
    (out / "c0ffee01.json").write_text('{"MAC_ADDR": "d8:3a:dd:99:99:99"}\n')
    spec = scenario_for("cm4")
    spec["devices"] = [_board("a", "1-1", "c0ffee01", "d8:3a:dd:00:00:01")]
    with caplog.at_level("WARNING", logger="rpiboot"):
        run = boot(spec, metadata=True, metadata_dir=out)
    assert run.result.exit_code == ExitCode.OK
    [event] = run.kinds("metadata")
    assert event.path == str(out / "c0ffee01~2.json")
    assert json.loads((out / "c0ffee01.json").read_text()) == {"MAC_ADDR": "d8:3a:dd:99:99:99"}
    assert "c0ffee01.json holds another board's metadata" in caplog.text
    assert str(out / "c0ffee01~2.json") in caplog.text
