"""fsutil: whole-or-absent outputs, file pairs that land together even across a kill, and
the project's errors for OS errors on user-named paths."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rpiboot.errors import ExitCode, InputError, PermissionDenied
from rpiboot.fsutil import (
    JOURNAL_SUFFIX,
    TEMP_SUFFIX,
    atomic_files,
    atomic_output,
    atomic_write,
    check_output_dir,
    check_output_file,
    path_error,
    recover,
)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()
                  if p.name.endswith((TEMP_SUFFIX, JOURNAL_SUFFIX)))


def test_atomic_write_replaces_and_keeps_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    target.chmod(0o640)
    atomic_write(target, [b"new ", b"data"])
    assert target.read_bytes() == b"new data"
    assert target.stat().st_mode & 0o777 == 0o640
    assert _leftovers(tmp_path) == []


def test_a_failure_while_writing_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as handle:
        handle.write(b"half")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []


def test_a_pair_lands_together(tmp_path: Path) -> None:
    image, sig = tmp_path / "boot.img", tmp_path / "boot.sig"
    with atomic_files(image, sig) as (first, second):
        first.write(b"image")
        second.write(b"signature")
    assert (image.read_bytes(), sig.read_bytes()) == (b"image", b"signature")
    assert _leftovers(tmp_path) == []


def test_a_failed_pair_leaves_both_old_files(tmp_path: Path) -> None:
    image, sig = tmp_path / "boot.img", tmp_path / "boot.sig"
    image.write_bytes(b"old image")
    sig.write_bytes(b"old sig")
    with pytest.raises(ValueError), atomic_files(image, sig) as (first, _second):
        first.write(b"new image")
        raise ValueError("the signer failed")
    assert (image.read_bytes(), sig.read_bytes()) == (b"old image", b"old sig")
    assert _leftovers(tmp_path) == []


KILL_BETWEEN_RENAMES = """
import os, signal, sys
from pathlib import Path
import rpiboot.fsutil as fsutil
real_replace = os.replace
calls = []
def replace(src, dst):
    real_replace(src, dst)
    calls.append(dst)
    if len(calls) == 1:
        os.kill(os.getpid(), signal.SIGKILL)   # a real kill, between the two renames
os.replace = replace
folder = Path(sys.argv[1])
with fsutil.atomic_files(folder / "boot.img", folder / "boot.sig") as (image, sig):
    image.write(b"new image")
    sig.write(b"new sig")
"""


def test_a_kill_between_the_renames_is_completed_by_the_next_run(tmp_path: Path) -> None:
    image, sig = tmp_path / "boot.img", tmp_path / "boot.sig"
    image.write_bytes(b"old image")
    sig.write_bytes(b"old sig")
    run = subprocess.run([sys.executable, "-c", KILL_BETWEEN_RENAMES, str(tmp_path)],
                         check=False)
    assert run.returncode == -signal.SIGKILL
    # killed after the first rename: the pair is mixed, the journal says how to finish
    assert image.read_bytes() == b"new image" and sig.read_bytes() == b"old sig"
    assert any(name.endswith(JOURNAL_SUFFIX) for name in _leftovers(tmp_path))
    # the next run writing into the folder completes it, then does its own work
    atomic_write(tmp_path / "other.txt", b"x")
    assert (image.read_bytes(), sig.read_bytes()) == (b"new image", b"new sig")
    assert _leftovers(tmp_path) == []


def _dead_pid() -> str:
    return subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_leftovers_of_dead_writers_are_removed_but_live_ones_kept(tmp_path: Path) -> None:
    dead = _dead_pid()
    stale = tmp_path / f".boot.img.{dead}.0123abcd{TEMP_SUFFIX}"
    live = tmp_path / f".boot.img.{os.getpid()}.89abcdef{TEMP_SUFFIX}"
    foreign = tmp_path / "notes.rpiboot-tmp.txt"
    for path in (stale, live, foreign):
        path.write_bytes(b"partial")
    done = recover(tmp_path)
    assert not stale.exists() and live.exists() and foreign.exists()
    assert done == [f"removed {stale} (left by an interrupted run)"]


def test_a_journal_naming_other_files_is_ignored(tmp_path: Path) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    other = tmp_path / "attacker.txt"
    other.write_text("x")
    journal = tmp_path / f".precious.txt.{_dead_pid()}{JOURNAL_SUFFIX}"
    journal.write_text(json.dumps({"version": 1, "renames": [[str(other), str(victim)]]}))
    assert recover(tmp_path) == []
    assert victim.read_text() == "keep me" and other.exists()


def test_devices_are_written_in_place(tmp_path: Path) -> None:
    with atomic_output(os.devnull) as handle:
        handle.write(b"discarded")
    assert Path(os.devnull).exists()


@pytest.mark.parametrize(("code", "kind", "words"), [
    (errno.EACCES, PermissionDenied, "permission denied"),
    (errno.EROFS, InputError, "read-only"),
    (errno.ENOSPC, InputError, "no space left"),
    (errno.ENOENT, InputError, "does not exist"),
    (errno.EISDIR, InputError, "is a folder"),
])
def test_path_errors_name_the_path_and_say_what_to_do(code: int, kind: type,
                                                       words: str) -> None:
    err = path_error("/x/y/out.bin", OSError(code, os.strerror(code)))
    assert isinstance(err, kind) and "/x/y/out.bin" in str(err) and words in str(err)
    assert err.hint and err.exit_code in (ExitCode.FAILED, ExitCode.PERMISSION)


def test_missing_output_folder_is_named_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        check_output_file(tmp_path / "missing" / "out.bin")
    with pytest.raises(InputError, match="is a folder"):
        check_output_file(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "file")
    assert check_output_dir(tmp_path / "new" / "meta").is_dir()
    assert _leftovers(tmp_path / "new" / "meta") == []


INTERRUPT_BETWEEN_RENAMES = """
import os, signal, sys
from pathlib import Path
import rpiboot.fsutil as fsutil
from rpiboot.cli.command import sigterm_as_interrupt
sigterm_as_interrupt()
real_replace = os.replace
def replace(src, dst):
    real_replace(src, dst)
    if str(dst).endswith("boot.img"):
        os.kill(os.getpid(), signal.SIGTERM)   # handled as Ctrl-C, between the two renames
os.replace = replace
folder = Path(sys.argv[1])
try:
    with fsutil.atomic_files(folder / "boot.img", folder / "boot.sig") as (image, sig):
        image.write(b"new image")
        sig.write(b"new sig")
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_an_interrupt_between_the_renames_finishes_the_group_first(tmp_path: Path) -> None:
    image, sig = tmp_path / "boot.img", tmp_path / "boot.sig"
    image.write_bytes(b"old image")
    sig.write_bytes(b"old sig")
    run = subprocess.run([sys.executable, "-c", INTERRUPT_BETWEEN_RENAMES, str(tmp_path)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 130, run.stderr
    assert (image.read_bytes(), sig.read_bytes()) == (b"new image", b"new sig")
    assert _leftovers(tmp_path) == []


def test_a_group_can_be_read_back_before_its_commit(tmp_path: Path) -> None:
    from rpiboot.fsutil import atomic_group

    image, sig = tmp_path / "boot.img", tmp_path / "boot.sig"
    with atomic_group(image, sig) as group:
        group.handles[0].write(b"payload")
        group.flush()
        assert group.temps[0].read_bytes() == b"payload" and not image.exists()
        group.handles[1].write(b"signature of " + group.temps[0].read_bytes())
    assert sig.read_bytes() == b"signature of payload" and _leftovers(tmp_path) == []


def test_a_group_never_renames_over_a_device(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="device or FIFO"), \
            atomic_files(os.devnull, tmp_path / "x.sig"):
        pass
    assert Path(os.devnull).exists() and not Path(os.devnull).is_file()
    assert _leftovers(tmp_path) == []


def test_a_journal_cut_short_by_a_kill_is_dropped(tmp_path: Path) -> None:
    target = tmp_path / "boot.img"
    target.write_bytes(b"old")
    journal = tmp_path / f".boot.img.{_dead_pid()}{JOURNAL_SUFFIX}"
    journal.write_text('{"version": 1, "renames": [["/tm')  # killed while writing it
    assert recover(tmp_path) == []
    assert not journal.exists() and target.read_bytes() == b"old"


def test_input_errors_name_the_file_with_reading_words(tmp_path: Path) -> None:
    from rpiboot.fsutil import read_file

    with pytest.raises(InputError, match=r"cannot read the key file .*nope\.pem: no such"):
        read_file(tmp_path / "nope.pem", what="key file")
    with pytest.raises(InputError, match="is a folder, not a file"):
        read_file(tmp_path, what="key file")
    err = path_error("/k.pem", OSError(errno.EACCES, "Permission denied"), doing="read it")
    assert isinstance(err, PermissionDenied) and err.exit_code == ExitCode.PERMISSION
    assert err.hint is not None and "write" not in err.hint


def test_a_folder_to_be_created_is_checked_without_creating_it(tmp_path: Path) -> None:
    from rpiboot.fsutil import check_output_tree, make_dirs

    check_output_tree(tmp_path / "a" / "b")
    assert not (tmp_path / "a").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_output_tree(tmp_path / "file" / "sub")
    with pytest.raises(InputError, match="a file is in the way"):
        make_dirs(tmp_path / "file")
    assert make_dirs(tmp_path / "a" / "b").is_dir()
