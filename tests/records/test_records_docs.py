"""docs/records.md stays true to the code: the schema table lists every field, the example
record loads, the command outputs shown are what the commands print for those records, and
the hook flags, variables and limits are the ones the code has."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from records_helpers import board

from rpiboot.cli.hook_flags import add_hook_flags
from rpiboot.cli.parsing import ArgumentParser
from rpiboot.cli.records_render import list_table, show_record, summary_text
from rpiboot.records import hooks
from rpiboot.records.model import FIELDS, BoardRecord
from rpiboot.records.report import CSV_COLUMNS, summarize

DOC = Path(__file__).resolve().parents[2] / "docs" / "records.md"
TEXT = DOC.read_text(encoding="utf-8")
FLASH = {"rom": 0.4, "fileserver": 3.1, "gadget": 5.0, "write": 48.2, "verify": 12.0,
         "customize": 0.3}


def shown(command: str) -> str:
    """The output the page shows under ``$ command`` (up to the end of the block)."""
    block = TEXT.split(f"$ {command}\n", 1)[1]
    return block.split("```", 1)[0].rstrip("\n")


def page_records() -> list[BoardRecord]:
    """The three boards of the page's examples."""
    common = {"host": "station-a", "pid": 4242, "rom_serial": None}
    first = board("dc626c31", start=0, id="3f2a9c1d7e5b4a0c9d8e7f6a5b4c3d2e", durations=FLASH,
                  **common)
    first.files[0]["size"] = 51984
    first.firmware = {"set": "2b2bd4c1...", "verified": True, "digest": "9e0f..."}
    first.image = {"name": "raspios-lite.img.xz", "sha256": "5b1c...", "bytes": 2684354560,
                   "verified": True}
    first.hooks = [{"command": "python3 print_label.py --printer zebra-3:9100",
                    "when": "passed", "exit_code": 0, "stdout": "label for dc626c31 sent to "
                    "zebra-3:9100\n", "stderr": "", "seconds": 0.21, "timed_out": False,
                    "error": None}]
    return [first,
            board("dc626c32", start=75, id="8c1e0b7a6f5d4c3b2a1908f7e6d5c4b3", result="failed",
                  port_path="1-1.4", durations={"rom": 0.4, "fileserver": 3.0, "gadget": 5.2,
                                                "write": 47.9, "verify": 2.1}, **common),
            board("dc626c33", start=140, id="c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2",
                  durations={"rom": 0.5, "fileserver": 3.3, "gadget": 4.9, "write": 50.1,
                             "verify": 11.7, "customize": 0.4}, **common)]


def test_the_schema_table_lists_every_field_in_the_csv_order() -> None:
    table = re.findall(r"^\| `(\w+)` \| (?:string|integer|list|object)", TEXT, re.M)
    assert table == list(CSV_COLUMNS) == ["schema", *FIELDS]


def test_the_example_record_is_a_record() -> None:
    data = json.loads(TEXT.split("```json\n", 1)[1].split("```", 1)[0])
    assert set(data) == {"schema", *FIELDS}
    rec = BoardRecord.from_json(data)
    assert rec.to_json() == data


def test_the_outputs_shown_are_what_the_commands_print() -> None:
    records = page_records()
    assert shown("rpiboot records list --since 8h") == list_table(records)
    assert shown("rpiboot records show 3f2a") == show_record(records[0])
    assert shown("rpiboot records summary --since 2026-12-02") == summary_text(
        summarize(records))


def test_the_hook_environment_is_the_documented_one() -> None:
    documented = re.findall(r"^\| `(RPIBOOT_\w+)` \|", TEXT, re.M)
    assert documented == list(hooks.hook_environment(board("s1")))


def test_the_hook_flags_and_limits() -> None:
    parser = ArgumentParser(prog="rpiboot")
    add_hook_flags(parser)
    flags = {opt for action in parser._actions for opt in action.option_strings} - {"-h",
                                                                                    "--help"}
    assert flags == set(re.findall(r"^\| `(--(?:on-board|hook)-[\w-]+)", TEXT, re.M))
    assert f"default {hooks.DEFAULT_TIMEOUT_S:g}" in TEXT
    assert f"last {hooks.OUTPUT_LIMIT // 1024} KiB" in TEXT
    assert f"{hooks.TERM_GRACE_S:g} seconds later SIGKILL" in TEXT
    assert f"for {hooks.DRAIN_S:g} more second" in TEXT
    assert hooks.WHEN_RESULTS["failed"] == ("failed", "interrupted")
    assert "failed **or was interrupted**" in TEXT


@pytest.mark.parametrize("link", re.findall(r"\]\((examples/hooks/[^)]*)\)", TEXT))
def test_the_linked_examples_exist(link: str) -> None:
    assert (DOC.parent / link).exists()
