"""``rpiboot firmware list`` / ``verify`` output: the installed sets, the current one, and
the folder each chip family boots from when no ``-d`` is given (from the chip table)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rpiboot.cli.render import human_size
from rpiboot.fwstore import events as ev


def _defaults() -> list[dict[str, Any]]:
    """Per chip family: the folder ``rpiboot`` without -d serves, and where it was found."""
    from rpiboot.chips import CHIPS
    from rpiboot.errors import InputError
    from rpiboot.firmware import find_default_firmware, search_roots

    origins = dict(search_roots())
    found = []
    for chip in CHIPS.values():
        entry: dict[str, Any] = {"chip": chip.family, "boards": chip.boards,
                                 "folder": None, "origin": None, "problem": None}
        try:
            default = find_default_firmware(chip)
        except InputError as err:
            entry["problem"] = err.message
        else:
            entry["folder"] = str(default.boot_dir)
            entry["origin"] = origins.get(default.root, str(default.root))
        found.append(entry)
    return found


def list_report(root: Path) -> dict[str, Any]:
    """Everything ``list`` shows, as the JSON object ``--json`` prints."""
    from rpiboot.fwstore.layout import read_current
    from rpiboot.fwstore.sets import list_sets

    sets = []
    for info in list_sets(root):
        item: dict[str, Any] = {"set": info.name, "path": str(info.path),
                                "current": info.current, "problem": info.problem}
        if info.manifest is not None:
            m = info.manifest
            item.update(verified=m.verified, verification=m.verification,
                        upstream=m.upstream, installed_at=m.installed_at, source=m.source,
                        folders=m.folders, files=len(m.files), bytes=m.bytes)
        sets.append(item)
    return {"v": ev.SCHEMA_VERSION, "event": "sets", "root": str(root),
            "current": read_current(root), "sets": sets, "defaults": _defaults()}


def print_list(report: dict[str, Any]) -> None:
    out = sys.stdout
    if not report["sets"]:
        out.write(f"no firmware set installed in {report['root']} "
                  "(rpiboot firmware fetch)\n")
    else:
        out.write(f"firmware sets in {report['root']}/sets:\n")
    for item in report["sets"]:
        mark = "*" if item["current"] else " "
        now = "  (current)" if item["current"] else ""
        if item["problem"]:
            out.write(f"{mark} {item['set']}{now}  DAMAGED: {item['problem']}\n")
            continue
        commits = ", ".join(f"{r.split('/')[-1]} {c[:12]}" for r, c in item["upstream"].items())
        state = "verified" if item["verified"] else "UNVERIFIED"
        out.write(f"{mark} {item['set']}{now}\n"
                  f"    {commits or 'commit unknown'}; {state}: {item['verification']}\n"
                  f"    installed {item['installed_at']} from {item['source']}; "
                  f"{item['files']} files, {human_size(item['bytes'])}\n"
                  f"    folders: {', '.join(item['folders'])}\n")
    out.write("\nrpiboot without -d boots:\n")
    for entry in report["defaults"]:
        where = (f"{entry['folder']}  ({entry['origin']})" if entry["folder"]
                 else "nothing installed for it")
        out.write(f"  {entry['chip']} ({entry['boards']}): {where}\n")


def print_verified(event: ev.FwEvent) -> None:
    """``verify``'s human output: one line per set, one per problem."""
    if not isinstance(event, ev.SetVerified):
        return
    if not event.problems:
        print(f"{event.set}: OK ({event.files} files, {human_size(event.bytes)} re-hashed)")
        return
    print(f"{event.set}: {len(event.problems)} problem(s)")
    for problem in event.problems:
        print(f"  {problem['path']}: {problem['problem']}")
