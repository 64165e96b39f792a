"""The renderers: human lines with board prefixes, JSON lines, metadata on stdout."""

from __future__ import annotations

import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot import events as ev
from rpiboot.cli.render import HumanRenderer, JsonRenderer, human_size

BOARD = ev.BoardRef("1-3.2", "b29d2da0", "BCM2711")


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**40))
def test_human_size_is_exact_below_1kib_and_scaled_above(size: int) -> None:
    text = human_size(size)
    if size < 1024:
        assert text == f"{size} B"
    else:
        number, unit = text.split()
        scale = {"KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}[unit]
        assert abs(float(number) * scale - size) <= 0.05 * scale + 1


def test_json_renderer_writes_one_object_per_line_without_progress() -> None:
    out = io.StringIO()
    render = JsonRenderer(out)
    render(ev.FileServed(BOARD, name="start4.elf", command="ReadFile", size=10, source="/x"))
    render(ev.TransferProgress(BOARD, name="start4.elf", done=5, total=10))
    render(ev.BoardFinished(BOARD, seconds=1.5))
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["file", "finished"]
    first = json.loads(lines[0])
    assert first["v"] == 1 and first["board"]["port_path"] == "1-3.2" and first["size"] == 10


def test_human_lines_carry_the_board_prefix() -> None:
    err = io.StringIO()
    render = HumanRenderer(err=err, out=io.StringIO())
    render(ev.FileServed(BOARD, name="config.txt", command="GetFileSize", size=None))
    render(ev.BoardFailed(BOARD, error="gone", hint="replug it"))
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("1-3.2 [b29d2da0]: config.txt: not found")
    assert lines[1] == "1-3.2 [b29d2da0]: error: gone" and lines[2] == "  replug it"


def test_quiet_keeps_errors_and_warnings_only() -> None:
    err = io.StringIO()
    render = HumanRenderer(err=err, out=io.StringIO(), quiet=True)
    render(ev.BoardFinished(BOARD, seconds=1.0))
    render(ev.NameRefused(BOARD, name="../x", reason="'..' component"))
    assert "refused" in err.getvalue() and "done" not in err.getvalue()


def test_metadata_without_directory_goes_to_stdout_as_json() -> None:
    out, err = io.StringIO(), io.StringIO()
    render = HumanRenderer(err=err, out=out)
    data = {"MAC_ADDR": "x", "Q": 'a "quoted" value'}
    render(ev.MetadataReceived(BOARD, data=data, path=None))
    assert json.loads(out.getvalue()) == data
    render(ev.MetadataReceived(BOARD, data=data, path="/m/b.json"))
    assert "metadata written to /m/b.json" in err.getvalue()


def test_progress_bars_draw_on_the_error_stream_and_close() -> None:
    err = io.StringIO()
    render = HumanRenderer(err=err, out=io.StringIO(), progress=True)
    render(ev.TransferProgress(BOARD, name="boot.img", done=0, total=100))
    render(ev.TransferProgress(BOARD, name="boot.img", done=100, total=100))
    render(ev.BoardFinished(BOARD, seconds=2.0))
    render.close()
    assert "done in 2.00 s" in err.getvalue()
