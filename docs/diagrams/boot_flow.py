"""Source of docs/boot-flow.svg and of the stage table in docs/troubleshooting.md.

    python docs/diagrams/boot_flow.py            # rewrite both (run after changing a stage)
    python docs/diagrams/boot_flow.py --check    # exit 1 if either is out of date (a test)

The picture is drawn from the list below; the table comes from rpiboot.diagnosis.STAGES,
the same table the engine's stall diagnosis uses, so the docs cannot drift from the code.
"""

from __future__ import annotations

import sys
from html import escape
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent
SVG = DOCS / "boot-flow.svg"
DOC = DOCS / "troubleshooting.md"
BEGIN, END = "<!-- stage-table:begin -->", "<!-- stage-table:end -->"

# (what happens, device as the host sees it, stage name if it can stall there)
FLOW = [
    ("rpiboot waits for a boot device", "nothing yet", "waiting"),
    ("boot ROM enumerates; rpiboot sends the boot message and the second stage "
     "(bootcode)", "0a5c:2763/2764/2711/2712, serial index 0 or 3", "rom"),
    ("the ROM checks the bootcode and answers its status", "same device", "rom-status"),
    ("the ROM lets go; the second stage starts and re-enumerates on the same port",
     "same VID:PID, new address, another serial index", "reenumeration"),
    ("the second stage asks for files one by one (and sends metadata records)",
     "file server", "fileserver"),
    ("each file is sent in bulk pieces of at most 16 KiB", "file server", "transfer"),
    ("Done: the board starts its next stage (mass-storage gadget 0525:a4a5, Linux, "
     "the EEPROM update, ...)", "a new device, or none", None),
    ("rpiboot flash: the gadget's disks appear below the same USB port",
     "0525:a4a5 with block devices (one per LUN)", "gadget"),
    ("the image is written to the chosen disk (never a disk of another port)",
     "/dev/sdX below the board's port", "write"),
    ("it is read back (page cache bypassed) and compared", "same disk", "verify"),
    ("per-board files are added to the boot partition and read back",
     "same disk, FAT partition", "customize"),
]

WIDTH, BOX_W, BOX_H, GAP, LEFT, NOTE_X = 900, 520, 64, 30, 30, 600


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line]


def _box(y: int, text: str, device: str) -> list[str]:
    out = [f'<rect x="{LEFT}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" '
           'fill="#eef4fb" stroke="#2b6cb0" stroke-width="1.5"/>']
    lines = _wrap(text, 60)[:2]
    for n, line in enumerate(lines):
        out.append(f'<text x="{LEFT + 12}" y="{y + 22 + 18 * n}" font-size="14">'
                   f'{escape(line)}</text>')
    out.append(f'<text x="{LEFT + 12}" y="{y + BOX_H - 8}" font-size="11" fill="#4a5568">'
               f'{escape(device)}</text>')
    return out


def _note(y: int, stage: str) -> list[str]:
    mid = y + BOX_H // 2
    return [f'<line x1="{LEFT + BOX_W}" y1="{mid}" x2="{NOTE_X - 6}" y2="{mid}" '
            'stroke="#c53030" stroke-dasharray="4 3"/>',
            f'<rect x="{NOTE_X}" y="{mid - 16}" width="{WIDTH - NOTE_X - 20}" height="32" '
            'rx="6" fill="#fff5f5" stroke="#c53030"/>',
            f'<text x="{NOTE_X + 10}" y="{mid + 5}" font-size="13" fill="#9b2c2c">'
            f'stalls here: stage {escape(stage)}</text>']


def render_svg() -> str:
    """The boot flow as an SVG document."""
    height = 70 + len(FLOW) * (BOX_H + GAP)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">',
             '<defs><marker id="arrow" markerWidth="10" markerHeight="8" refX="9" refY="4" '
             'orient="auto"><path d="M0,0 L10,4 L0,8 z" fill="#2b6cb0"/></marker></defs>',
             f'<text x="{LEFT}" y="34" font-size="18" font-weight="bold">USB boot, stage by '
             'stage (each stage appears as a new USB device)</text>']
    for n, (text, device, stage) in enumerate(FLOW):
        y = 60 + n * (BOX_H + GAP)
        parts += _box(y, text, device)
        if stage is not None:
            parts += _note(y, stage)
        if n < len(FLOW) - 1:
            x = LEFT + BOX_W // 2
            parts.append(f'<line x1="{x}" y1="{y + BOX_H}" x2="{x}" y2="{y + BOX_H + GAP - 2}" '
                         'stroke="#2b6cb0" stroke-width="1.5" marker-end="url(#arrow)"/>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def render_table() -> str:
    """The troubleshooting table, from rpiboot.diagnosis.STAGES."""
    from rpiboot.diagnosis import STAGES

    rows = ["| stage | what the host saw last | how it shows | likely causes (what to do) |",
            "|---|---|---|---|"]
    for stage in STAGES:
        causes = "<br>".join(f"• {escape(cause, quote=False)}" for cause in stage.causes)
        rows.append(f"| `{stage.name}` | {escape(stage.reached, quote=False)} | "
                    f"{escape(stage.symptom, quote=False)} | {causes} |")
    return "\n".join(rows)


def updated_doc(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{render_table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    svg, doc = render_svg(), updated_doc(DOC.read_text(encoding="utf-8"))
    if "--check" in argv:
        stale = [p.name for p, want in ((SVG, svg), (DOC, doc))
                 if not p.exists() or p.read_text(encoding="utf-8") != want]
        if stale:
            print(f"out of date: {', '.join(stale)} (run {Path(__file__).name})")
        return 1 if stale else 0
    SVG.write_text(svg, encoding="utf-8")
    DOC.write_text(doc, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
