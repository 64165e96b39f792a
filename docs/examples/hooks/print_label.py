#!/usr/bin/env python3
"""rpiboot hook: print a ZPL label for a board (serial, MAC, result, date, a barcode).

    rpiboot flash IMAGE --on-board-passed "python3 print_label.py --printer zebra-3:9100"
    rpiboot flash IMAGE --on-board-done "python3 print_label.py --out labels"

Reads the board's record (JSON) on stdin.  --printer HOST[:PORT] sends the label to a
network label printer's raw port (9100 by default); --out DIR writes DIR/<serial>.zpl
instead (default: the folder "labels").  Exit 1 when the label could not be sent or written.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
from pathlib import Path


def field_text(value: object) -> str:
    """``value`` as text safe inside a ZPL ^FD field (^ and ~ are ZPL's command prefixes)."""
    return re.sub(r"[\^~\r\n]", "_", str(value or "-"))


def zpl_label(record: dict) -> str:
    """The label: a 2 x 1 inch label at 203 dpi."""
    serial = field_text(record.get("serial") or record.get("usb_serial"))
    mac = field_text(record.get("metadata", {}).get("MAC_ADDR"))
    when = field_text((record.get("ended_at") or record.get("started_at") or "")[:10])
    result = field_text(record.get("result", "?")).upper()
    return (
        "^XA\n^CI28\n"
        f"^FO20,15^A0N,30,30^FD{serial}^FS\n"
        f"^FO20,50^BY2^BCN,60,N,N,N^FD{serial}^FS\n"
        f"^FO20,120^A0N,22,22^FDMAC {mac}^FS\n"
        f"^FO20,150^A0N,22,22^FD{result}  {field_text(record.get('chip'))}  {when}^FS\n"
        "^XZ\n")


def send(label: str, printer: str) -> None:
    """Send ``label`` to ``host[:port]`` (raw TCP, as Zebra printers take it on 9100)."""
    host, _, port = printer.rpartition(":") if ":" in printer else (printer, "", "9100")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(label.encode("utf-8"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--printer", metavar="HOST[:PORT]", help="a network label printer")
    parser.add_argument("--out", default="labels", metavar="DIR",
                        help="write DIR/<serial>.zpl (default: labels)")
    args = parser.parse_args()
    record = json.load(sys.stdin)
    label = zpl_label(record)
    try:
        if args.printer:
            send(label, args.printer)
            print(f"label for {record.get('serial')} sent to {args.printer}")
        else:
            name = re.sub(r"[^A-Za-z0-9._-]", "_", str(record.get("serial") or record["id"]))
            path = Path(args.out) / f"{name}.zpl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(label, encoding="utf-8")
            print(f"label written to {path}")
    except (OSError, ValueError) as exc:
        print(f"print_label: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
