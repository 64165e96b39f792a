"""The human output of ``rpiboot firmware info``: aligned summaries, member tables, problems."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rpiboot.fwinfo.model import FirmwareInfo, Problem, SignatureInfo

LABEL = 12  # width of the label column
BASIS_TEXT = {
    "signature": "signature verified with the Raspberry Pi key (certain)",
    "eeprom-size": "EEPROM image size (certain)",
    "chip-folder": "per-chip folder it is served from (certain)",
    "signature-structure": "signature layout only (heuristic)",
    "content": "strings in the file (heuristic)",
    "file-name": "file name (heuristic)",
    "files": "the second stages it serves",
}


class Printer:
    """Writes lines to ``out`` (stdout), indented by ``indent``."""

    def __init__(self, out: TextIO, indent: str = "") -> None:
        self.out = out
        self.indent = indent

    def line(self, text: str = "") -> None:
        print(f"{self.indent}{text}".rstrip(), file=self.out)

    def field(self, label: str, value: object) -> None:
        lines = str(value).splitlines() or [""]
        self.line(f"  {label:<{LABEL}}{lines[0]}")
        for more in lines[1:]:
            self.line(f"  {'':<{LABEL}}{more}")


def when(seconds: int) -> str:
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{seconds} ({stamp})"


def chips_text(info: FirmwareInfo) -> str:
    from rpiboot.fwinfo.chipsets import text

    if not info.chips:
        return "unknown"
    return f"{text(info.chips)} — by {BASIS_TEXT.get(info.chip_basis or '', info.chip_basis)}"


def build_text(info: FirmwareInfo) -> str | None:
    b = info.build
    if b is None:
        return None
    parts = [b.version or "?"]
    if b.git_hash and b.git_hash != b.version:
        parts.append(f"(git {b.git_hash})")
    if b.date:
        parts.append(f"built {b.date}{' ' + b.time if b.time else ''}")
    if b.variant:
        parts.append(f"variant {b.variant} (from {b.variant_source})")
    if b.tree_state:
        parts.append(b.tree_state)
    text = " ".join(parts)
    if b.build_timestamp is not None:
        text += f"\nBUILD_TIMESTAMP {when(b.build_timestamp)}"
    if b.branch or b.platform:
        text += f"\nbranch {b.branch or '?'}, platform {b.platform or '?'}"
    return text


def signature_short(sig: SignatureInfo | None) -> str:
    if sig is None:
        return "-"
    if sig.format == "none":
        return "unsigned"
    if sig.format == "sig-file":
        return "signed .sig" if sig.signed else "unsigned .sig"
    if sig.format == "rsa-sha1+hmac":
        return "2711 tail (unverifiable)"
    text = "RPi sig verified" if sig.rpi_signature == "verified" else "RPi sig INVALID"
    if sig.countersigned:
        text += f", countersigned {(sig.customer_key_hash or '')[:12]}…"
    return text


def signature_text(sig: SignatureInfo) -> str:
    lines = [f"{sig.format}: {signature_short(sig)}"]
    if sig.keynum is not None:
        lines[0] += f", keynum {sig.keynum}"
    if sig.detail:
        lines.append(sig.detail)
    lines += [f"block @{b.offset:#x} {b.type} keynum {b.keynum} version {b.version} "
              f"{'verifies' if b.verifies else 'DOES NOT VERIFY'} key {b.key_hash}"
              for b in sig.blocks]
    return "\n".join(lines)


def print_problem(p: Printer, problem: Problem, where: str | None = None) -> None:
    prefix = f"{where}: " if where and not problem.message.startswith(where) else ""
    p.field(problem.severity.upper(), f"{prefix}{problem.message}\n→ {problem.hint}")


def print_info(p: Printer, info: FirmwareInfo, *, verbose: bool = False) -> None:
    """One description: identity, chip, build, signature, kind facts, members, problems."""
    from rpiboot.chips import size_text

    p.line(f"{info.path} — {info.role}")
    p.field("kind", info.kind)
    if info.kind != "directory":
        p.field("chip", chips_text(info))
        if info.size is not None:
            text = size_text(info.size)
            p.field("size", f"{info.size} bytes" + (f" ({text})" if "bytes" not in text else ""))
        p.field("sha256", info.sha256 or "not computed")
    if (build := build_text(info)) is not None:
        p.field("version", build)
    if info.signature is not None:
        p.field("signature", signature_text(info.signature))
    if info.error is not None:
        p.field("error", info.error)
    _DETAILS.get(info.kind, _no_details)(p, info)
    if info.folder is not None:
        _print_folder(p, info)
    if info.members:
        _print_members(p, info, verbose=verbose)
    for note in info.notes:
        p.field("note", note)
    for problem in info.problems:
        print_problem(p, problem)


def _print_members(p: Printer, info: FirmwareInfo, *, verbose: bool) -> None:
    rows = [(m.name, m.kind, "/".join(m.chips) or "-",
             (m.build.version or "") + (f" {m.build.date}" if m.build.date else "")
             if m.build else "-", signature_short(m.signature),
             " ".join(f"{len(v)} {k}" for k, v in _counts(m).items()))
            for m in info.members]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    p.line(f"  members ({len(rows)}):")
    for row in rows:
        cells = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5]))
        p.line(f"    {cells}  {row[5]}")
    for member in info.members:
        if verbose:
            p.line()
            print_info(Printer(p.out, p.indent + "    "), member, verbose=verbose)
        else:
            for where, problem in member.all_problems():
                print_problem(p, problem, where.rsplit("/", 1)[-1])


def _counts(info: FirmwareInfo) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for _, problem in info.all_problems():
        found.setdefault("error(s)" if problem.severity == "error" else "warning(s)",
                         []).append(problem.message)
    return found


def _print_folder(p: Printer, info: FirmwareInfo) -> None:
    verdict = info.folder
    assert verdict is not None
    p.field("flow", f"{verdict.flow} — {verdict.description}\n(told by: {verdict.flow_basis})")
    p.field("boots", ", ".join(verdict.chips) or "no chip (no usable second stage)")
    for family, path in verdict.second_stages.items():
        p.field(f"  {family}", path)


def _no_details(p: Printer, info: FirmwareInfo) -> None:
    return None


def _eeprom(p: Printer, info: FirmwareInfo) -> None:
    d = info.details
    p.field("layout", f"{d['layout']}, {d['section_count']} sections")
    p.field("public key", f"embedded, key hash {d['pubkey_hash']}" if d["pubkey_hash"]
            else "not embedded")
    detail = f" — {d['config_signature_detail']}" if d["config_signature_detail"] else ""
    p.field("config sig", f"{d['config_signature']}{detail}")
    secure = d["secure_boot"]
    if isinstance(secure, dict):
        p.field("secure boot", _secure_text(secure))
    if d["boot_order_modes"]:
        p.field("BOOT_ORDER", f"{d['boot_order']}: " + ", ".join(_strings(d["boot_order_modes"])))
    p.field("config", str(d["config"] or "(none)").rstrip("\n"))


def _secure_text(s: dict[str, object]) -> str:
    lines = [f"signed config: {'yes' if s['signed_config'] else 'no'}; "
             f"supports secure boot: {_yes_no(s['supports_secure_boot'])} "
             f"(needs BUILD_TIMESTAMP >= {s['min_secure_boot_build']})"]
    if s["min_program_pubkey_build"] is not None:
        lines.append(f"program_pubkey possible: {_yes_no(s['supports_program_pubkey'])} "
                     f"(needs BUILD_TIMESTAMP >= {s['min_program_pubkey_build']})")
    if s["firmware_countersigned"] is not None:
        keys = ", ".join(_strings(s["countersign_key_hashes"]))
        lines.append(f"firmware countersigned: {_yes_no(s['firmware_countersigned'])}"
                     + (f" ({keys})" if keys else ""))
    return "\n".join(lines)


def _strings(value: object) -> list[str]:
    """A details list as strings (anything else: empty)."""
    return [str(item) for item in value] if isinstance(value, list) else []


def _yes_no(value: object) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def _boot_image(p: Printer, info: FirmwareInfo) -> None:
    d = info.details
    if not d:
        return
    p.field("filesystem", f"FAT{d['fat_type']}, {d['image_bytes']} bytes, label "
            f"{d['label'] or '(none)'}, {d['file_count']} files")
    p.field("boots", f"kernel {d['kernel'] or 'none'}; cmdline.txt "
            f"{'yes' if d['cmdline'] else 'no'}; config.txt {'yes' if d['config'] else 'no'}; "
            f"firmware {', '.join(_strings(d['firmware'])) or 'none'}")


def _settings(p: Printer, info: FirmwareInfo) -> None:
    d = info.details
    settings = d.get("settings")
    if isinstance(settings, list):
        text = "\n".join(f"{s['name']}={s['value']}" + (f"  [{s['section']}]"
                         if s["section"] != "all" else "") for s in settings)
        p.field("settings", text or "(none)")
    if otp := _strings(d.get("otp_options")):
        p.field("OTP (!)", ", ".join(otp))
    if modes := _strings(d.get("boot_order_modes")):
        p.field("BOOT_ORDER", f"{d.get('boot_order')}: " + ", ".join(modes))


def _sig(p: Printer, info: FirmwareInfo) -> None:
    d = info.details
    p.field("sha256 line", d["sha256"])
    p.field("ts", when(d["ts"]) if isinstance(d["ts"], int) and d["ts"] < 2**32 else d["ts"])
    matches = d["sha256_matches"]
    match = ("not checked" if not isinstance(matches, bool) else
             "sha256 matches" if matches else "sha256 DOES NOT MATCH")
    p.field("signs", f"{d['signs']}: {match}" if d["signs"] else "its file is not beside it")
    if keys := _strings(d["verified_with"]):
        p.field("verified", "rsa2048 verifies with " + ", ".join(keys))


def _key(p: Printer, info: FirmwareInfo) -> None:
    p.field("key hash", info.details.get("key_hash") or "-")


def _archive(p: Printer, info: FirmwareInfo) -> None:
    chips = info.details.get("chips")
    if isinstance(chips, dict):
        for prefix, families in chips.items():
            p.field(f"{prefix}/", f"served to {', '.join(families)}")


_DETAILS: dict[str, Callable[[Printer, FirmwareInfo], None]] = {
    "eeprom-image": _eeprom, "boot-image": _boot_image, "config-txt": _settings,
    "bootloader-config": _settings, "signature-file": _sig, "key": _key,
    "bootfiles-archive": _archive,
}
