"""``rpiboot firmware``: the default firmware (Raspberry Pi's usbboot payload folders).

    rpiboot firmware fetch [--only F,...] [--ref REF] [--mirror URL] [--api URL] [--json]
    rpiboot firmware import PATH [--commit C] [--eeprom PATH] [--only F,...] [--offline]
    rpiboot firmware list [--json]          installed sets, the current one, per-chip folders
    rpiboot firmware verify [SET] [--json]  re-hash every installed file (exit 1 on damage)
    rpiboot firmware use SET                make an installed set current
    rpiboot firmware remove SET [--force]
    rpiboot firmware path [FOLDER]          print the current set's folder (for -d)
    rpiboot firmware info FILE|DIR          (what a firmware file or folder is)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import RpibootError, UsageError

HELP = "fetch, import, list and verify the default firmware (usbboot)"
INFO_MODULE = "rpiboot.cli.fwinfo_cmd"
EPILOG = """\
Sets are installed under the user data dir ($XDG_DATA_HOME/rpiboot on Linux), one per
usbboot commit; 'rpiboot' without -d boots from the current one.  Environment:
RPIBOOT_FIRMWARE_MIRROR (--mirror), RPIBOOT_GITHUB_API (--api), RPIBOOT_FIRMWARE_REF (--ref).
Exit status: 0 ok, 1 failed (offline, a file that does not verify, damage found), 2 usage,
5 permission, 130 interrupted.  See docs/firmware.md.
"""


class FirmwareParser(ArgumentParser):
    """Hands everything after ``info`` to the info command untouched."""

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None
                         ) -> tuple[argparse.Namespace, list[str]]:
        argv = list(sys.argv[1:] if args is None else args)
        if argv[:1] == ["info"]:
            return argparse.Namespace(action="info", argv=argv[1:], json_mode=False), []
        return super().parse_known_args(argv, namespace)


def _folders(text: str) -> tuple[str, ...]:
    from rpiboot.fwstore.resolve import PAYLOAD_FOLDERS

    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in PAYLOAD_FOLDERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown folder(s) {', '.join(unknown) or '(none)'}; choose from "
            + ",".join(PAYLOAD_FOLDERS))
    return names


def _add_common(parser: argparse.ArgumentParser, *, folders: bool = False) -> None:
    if folders:
        parser.add_argument("--only", type=_folders, metavar="F,...",
                            help="only these payload folders (default: all of msd, "
                            "mass-storage-gadget64, recovery, recovery5, secure-boot-recovery, "
                            "secure-boot-recovery5, secure-boot-msd, rpi-imager-embedded, "
                            "eeprom-erase); a folder that cannot be completed is an error")
        parser.add_argument("--api", metavar="URL", help="GitHub API, or a mirror of its "
                            "git/trees and commits endpoints (default: $RPIBOOT_GITHUB_API "
                            "or https://api.github.com)")
        parser.add_argument("--keep-current", action="store_true",
                            help="install without making the set current")
        parser.add_argument("--timeout", type=float, default=30.0, metavar="S",
                            help="network time-out in seconds (default 30)")
    parser.add_argument("--json", dest="json_mode", action="store_true",
                        help="one JSON object per line on stdout")


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The actions of the module docstring."""
    parser = FirmwareParser(prog=prog, description=__doc__, epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    fetch = sub.add_parser("fetch", help="download usbboot's payload folders (verified)")
    _add_common(fetch, folders=True)
    fetch.add_argument("--ref", help="follow upstream: master, a tag or a commit (default: "
                       "$RPIBOOT_FIRMWARE_REF or the commit pinned in rpiboot)")
    fetch.add_argument("--mirror", metavar="URL", help="instead of https://raw."
                       "githubusercontent.com: files at URL/raspberrypi/<repo>/<commit>/<path> "
                       "(default: $RPIBOOT_FIRMWARE_MIRROR)")
    fetch.add_argument("--retries", type=int, default=4, metavar="N",
                       help="further attempts after a transient failure (default 4)")
    imp = sub.add_parser("import", help="install from a usbboot checkout or tarball")
    imp.add_argument("path", type=Path, help="a usbboot checkout, or a tar(.gz) of one")
    imp.add_argument("--commit", help="the tree's usbboot commit, if it cannot be read from it")
    imp.add_argument("--eeprom", type=Path, metavar="PATH", help="rpi-eeprom's checkout or "
                     "tarball (GitHub's tarballs leave the submodule out)")
    imp.add_argument("--offline", action="store_true",
                     help="never ask the API for the listing of an unpinned commit")
    _add_common(imp, folders=True)
    _add_common(sub.add_parser("list", help="installed sets and the folder each chip boots"))
    verify = sub.add_parser("verify", help="re-hash every installed file")
    verify.add_argument("set", nargs="?", help="one set (default: every set)")
    _add_common(verify)
    use = sub.add_parser("use", help="make an installed set current")
    use.add_argument("set", help="a commit (or 4+ of its first digits) or unverified-...")
    remove = sub.add_parser("remove", help="remove an installed set")
    remove.add_argument("set")
    remove.add_argument("--force", action="store_true", help="even the current one")
    path = sub.add_parser("path", help="print the current set's folder (or a payload folder)")
    path.add_argument("folder", nargs="?")
    sub.add_parser("info", help="what a firmware file or folder is (rpiboot firmware info -h)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Do what ``args.action`` asks."""
    if args.action == "info":
        return _info(args.argv)
    from rpiboot.cli.fwrender import FwJsonRenderer

    try:
        return ACTIONS[args.action](args)
    except RpibootError as err:
        if getattr(args, "json_mode", False):
            FwJsonRenderer().error(err)
        raise


def _info(argv: list[str]) -> int:
    from rpiboot.cli.command import invoke

    try:
        import importlib.util

        found = importlib.util.find_spec(INFO_MODULE) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise RpibootError("'rpiboot firmware info' is not available in this build",
                           hint="Update rpiboot; 'rpiboot firmware list' and 'verify' work.")
    return invoke(INFO_MODULE, "rpiboot firmware info", argv)


def _root() -> Path:
    from rpiboot.firmware import user_data_dir

    return user_data_dir()


def _env(value: str | None, name: str, default: str | None) -> str | None:
    return value if value is not None else (os.environ.get(name) or default)


def _url(value: str | None, what: str) -> str | None:
    from rpiboot.fwstore.httpget import check_base_url

    if value is None:
        return None
    try:
        return check_base_url(value, what)
    except RpibootError as err:
        raise UsageError(err.message, hint=err.hint) from None


@contextlib.contextmanager
def _renderer(args: argparse.Namespace) -> Iterator[object]:
    from rpiboot.cli.fwrender import make_fw_renderer

    renderer = make_fw_renderer(json_mode=args.json_mode)
    try:
        yield renderer
    finally:
        renderer.close()


def fetch_options(args: argparse.Namespace) -> object:
    """FetchOptions from the flags, then the environment, then the defaults."""
    from rpiboot.fwstore.fetch import FetchOptions
    from rpiboot.fwstore.httpget import HttpOptions
    from rpiboot.fwstore.resolve import PAYLOAD_FOLDERS
    from rpiboot.fwstore.upstream import API_ENV, DEFAULT_API, DEFAULT_RAW, MIRROR_ENV, REF_ENV

    if args.timeout <= 0 or args.retries < 0:
        raise UsageError("--timeout must be more than 0 and --retries at least 0")
    mirror = _url(_env(args.mirror, MIRROR_ENV, DEFAULT_RAW), "--mirror")
    api = _url(_env(args.api, API_ENV, DEFAULT_API), "--api")
    assert mirror is not None and api is not None
    return FetchOptions(folders=args.only or PAYLOAD_FOLDERS, strict=args.only is not None,
                        ref=_env(args.ref, REF_ENV, None), mirror=mirror, api=api,
                        http=HttpOptions(timeout=args.timeout, retries=args.retries),
                        switch=not args.keep_current)


def _fetch(args: argparse.Namespace) -> int:
    from rpiboot.fwstore.fetch import fetch_firmware

    options = fetch_options(args)
    with _renderer(args) as renderer:
        fetch_firmware(_root(), options, renderer)  # type: ignore[arg-type]
    return 0


def _import(args: argparse.Namespace) -> int:
    from rpiboot.fwstore.httpget import HttpOptions
    from rpiboot.fwstore.importer import ImportOptions, import_firmware
    from rpiboot.fwstore.resolve import PAYLOAD_FOLDERS
    from rpiboot.fwstore.upstream import API_ENV, DEFAULT_API

    api = _url(_env(args.api, API_ENV, DEFAULT_API), "--api")
    assert api is not None
    options = ImportOptions(folders=args.only or PAYLOAD_FOLDERS, strict=args.only is not None,
                            commit=args.commit, eeprom=args.eeprom, api=api,
                            offline=args.offline, switch=not args.keep_current,
                            http=HttpOptions(timeout=args.timeout, retries=1))
    with _renderer(args) as renderer:
        import_firmware(_root(), args.path, options, renderer)  # type: ignore[arg-type]
    return 0


def _list(args: argparse.Namespace) -> int:
    from rpiboot.cli.fwlist import list_report, print_list

    report = list_report(_root())
    if args.json_mode:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print_list(report)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from rpiboot.cli.fwlist import print_verified
    from rpiboot.cli.fwrender import FwJsonRenderer
    from rpiboot.fwstore.sets import find_set, list_sets, verify_set

    root = _root()
    names = [find_set(root, args.set)] if args.set else [s.name for s in list_sets(root)]
    if not names:
        raise RpibootError(f"no firmware set is installed in {root}",
                           hint="Run 'rpiboot firmware fetch' first.")
    renderer = FwJsonRenderer() if args.json_mode else print_verified
    damaged = [name for name in names if verify_set(root, name, renderer)]
    if damaged:
        raise RpibootError(f"{len(damaged)} firmware set(s) failed verification: "
                           + ", ".join(n[:12] for n in damaged),
                           hint="Fetch (or import) the set again to repair it, or remove it.")
    return 0


def _use(args: argparse.Namespace) -> int:
    from rpiboot.fwstore.sets import use_set

    name = use_set(_root(), args.set)
    print(f"the current firmware set is now {name}", file=sys.stderr)
    return 0


def _remove(args: argparse.Namespace) -> int:
    from rpiboot.fwstore.sets import remove_set

    name = remove_set(_root(), args.set, force=args.force)
    print(f"removed firmware set {name}", file=sys.stderr)
    return 0


def _path(args: argparse.Namespace) -> int:
    from rpiboot.fwstore.sets import current_folder

    print(current_folder(_root(), args.folder))
    return 0


ACTIONS = {"fetch": _fetch, "import": _import, "list": _list, "verify": _verify,
           "use": _use, "remove": _remove, "path": _path}
