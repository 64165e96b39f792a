"""``rpiboot records``: the provisioning records, one per board and operation
(docs/records.md).

    rpiboot records list [FILTERS] [--limit N] [--json]   a table, newest last (default 100)
    rpiboot records show ID [--json]          one record in full (the id's first digits do)
    rpiboot records export [--format jsonl|csv] [-o FILE] [FILTERS] [--limit N]
    rpiboot records summary [FILTERS] [--json]  per station: boards/h, pass rate, medians

FILTERS: --station S, --serial S, --result passed|failed|interrupted|running,
--operation OP, --since T, --until T (T: 2026-12-02, 2026-12-02T08:00:00Z, or 30m, 8h, 2d,
1w ago).  Every action takes --db URL (default: $RPIBOOT_DB, else the SQLite file in the
user data folder).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import io
import json
import re
import sys
from pathlib import Path

from rpiboot.cli.parsing import ArgumentParser
from rpiboot.errors import InputError, UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from rpiboot.records.model import BoardRecord
    from rpiboot.records.store import RecordFilter, Store

HELP = "list, show, export and summarize the provisioning records (one per board)"
DEFAULT_LIST_LIMIT = 100
EPILOG = """\
Times are UTC; a date or a time without a zone is UTC too.  A board whose station stopped
mid-way reads as "interrupted".  Exit status: 0 ok, 1 no such record / unreadable database,
2 usage.  See docs/records.md (the schema of the exported records, and the hooks).
"""
_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
RESULT_CHOICES = ("passed", "failed", "interrupted", "running")


def open_store(url: str | None) -> Store:
    """The store the command reads (a module-level seam: tests can hand in their own); a
    PostgreSQL server is read directly (a reader has nothing to queue)."""
    from rpiboot.records.store import open_store as open_url

    return open_url(url, queued=False)


def parse_when(text: str, *, flag: str, now: _dt.datetime | None = None) -> str:
    """``--since``/``--until`` as a record time: ISO-8601, a date, or ``8h`` (ago)."""
    from rpiboot.records.model import format_time, parse_time

    relative = _RELATIVE.fullmatch(text.strip())
    if relative:
        ago = float(relative.group(1)) * _UNIT_S[relative.group(2)]
        return format_time((now or _dt.datetime.now(_dt.timezone.utc))
                           - _dt.timedelta(seconds=ago))
    try:
        return format_time(parse_time(text.strip()))
    except (InputError, OverflowError, ValueError):
        raise UsageError(f"{flag} {text!r}: not a time",
                         hint=f"e.g. {flag} 8h (8 hours ago), {flag} 2d, {flag} 2026-12-02 "
                         f"or {flag} 2026-12-02T08:00:00Z (UTC)") from None


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a number of records (0: all)")
    return value


def _common(parser: argparse.ArgumentParser, *, filters: bool) -> None:
    parser.add_argument("--db", metavar="URL", help="the records database: a SQLite file "
                        "(path or sqlite:///path) or postgresql://user@host/db (default: "
                        "$RPIBOOT_DB, else records.db in the user data folder)")
    if not filters:
        return
    group = parser.add_argument_group("filters (all must hold)")
    group.add_argument("--station", metavar="S", help="recorded by station S")
    group.add_argument("--serial", metavar="S", help="the board with serial S")
    group.add_argument("--result", choices=RESULT_CHOICES)
    group.add_argument("--operation", metavar="OP", choices=("boot", "recovery", "flash",
                                                             "secure-boot"))
    group.add_argument("--since", metavar="T", help="started at or after T (8h: 8 hours ago)")
    group.add_argument("--until", metavar="T", help="started before T")


def build_parser(prog: str) -> argparse.ArgumentParser:
    """``list``, ``show``, ``export`` and ``summary``."""
    parser = ArgumentParser(prog=prog, description=__doc__, epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="a table of the records, newest last")
    _common(listing, filters=True)
    listing.add_argument("--limit", type=_limit, default=DEFAULT_LIST_LIMIT, metavar="N",
                         help=f"the newest N (default {DEFAULT_LIST_LIMIT}; 0: all)")
    listing.add_argument("--json", action="store_true",
                         help="one exported record (JSON) per line")
    show = sub.add_parser("show", help="one record in full")
    show.add_argument("record_id", metavar="ID", help="the record's id, or its first digits")
    _common(show, filters=False)
    show.add_argument("--json", action="store_true", help="the exported record (JSON)")
    export = sub.add_parser("export", help="the records as JSON Lines or CSV")
    _common(export, filters=True)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl",
                        help="jsonl: one JSON object per line (default); csv: a header and "
                        "one row per record, lists and objects as JSON text")
    export.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="write FILE (atomically) instead of the standard output")
    export.add_argument("--limit", type=_limit, default=0, metavar="N",
                        help="the newest N (default 0: all)")
    summary = sub.add_parser("summary", help="per station: boards, pass rate, boards per "
                             "hour, median durations")
    _common(summary, filters=True)
    summary.add_argument("--json", action="store_true", help="the summary as one JSON object")
    return parser


def record_filter(args: argparse.Namespace, *, limit: int | None = None) -> RecordFilter:
    """The store filter of the command line's filters."""
    from rpiboot.records.store import RecordFilter

    since = parse_when(args.since, flag="--since") if args.since else None
    until = parse_when(args.until, flag="--until") if args.until else None
    if since and until and since >= until:
        raise UsageError(f"--since {args.since} is not before --until {args.until}")
    return RecordFilter(station=args.station, serial=args.serial, result=args.result,
                        operation=args.operation, since=since, until=until, limit=limit)


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for a server URL)."""
    if url.startswith("sqlite://"):
        return Path(url[len("sqlite://"):])
    return None if "://" in url else Path(url)


def query(args: argparse.Namespace, flt: RecordFilter) -> list[BoardRecord]:
    """The matching records, oldest first.  Reading never creates a database: without one
    at the default place there is nothing recorded yet; one named by --db or $RPIBOOT_DB
    must exist."""
    from rpiboot.records.store import default_db_path, resolve_url

    url = resolve_url(args.db)
    path = _sqlite_path(url)
    if path is not None and not path.exists():
        if url != str(default_db_path()):
            raise InputError(f"no records database at {path}",
                             hint=f"Check the {'--db' if args.db else '$RPIBOOT_DB'} path; "
                             "rpiboot creates the database when it records the first board.")
        print(f"rpiboot records: nothing recorded yet (no database at {path})",
              file=sys.stderr)
        return []
    store = open_store(url)
    try:
        return store.query(flt)
    finally:
        store.close()


def run(args: argparse.Namespace) -> int:
    """Do what ``args.action`` asks."""
    return {"list": _list, "show": _show, "export": _export, "summary": _summary}[
        args.action](args)


def _list(args: argparse.Namespace) -> int:
    from rpiboot.cli.records_render import list_table
    from rpiboot.records.report import export_record

    limit = args.limit or None
    records = query(args, record_filter(args, limit=None if limit is None else limit + 1))
    more = limit is not None and len(records) > limit
    records = records[-limit:] if limit else records
    if args.json:
        for rec in records:
            print(json.dumps(export_record(rec), ensure_ascii=False))
    elif records:
        print(list_table(records))
    else:
        print("no records match", file=sys.stderr)
    if more:
        print(f"(the newest {limit}; --limit 0 shows all, --since narrows)", file=sys.stderr)
    return 0


def _show(args: argparse.Namespace) -> int:
    from rpiboot.cli.records_render import show_record
    from rpiboot.records.report import export_record
    from rpiboot.records.store import RecordFilter

    wanted = args.record_id.strip()
    if not wanted:
        raise UsageError("the record id is empty")
    found = query(args, RecordFilter(record_id=wanted))
    exact = [rec for rec in found if rec.id == wanted]
    matches = exact or [rec for rec in found if rec.id.startswith(wanted)]
    if not matches:
        raise InputError(f"no record {wanted!r}",
                         hint="'rpiboot records list' shows the first digits of each id.")
    if len(matches) > 1:
        ids = ", ".join(rec.id for rec in matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise UsageError(f"{wanted!r} is the start of {len(matches)} record ids ({ids})",
                         hint="Give more digits of the id.")
    print(json.dumps(export_record(matches[0]), ensure_ascii=False) if args.json
          else show_record(matches[0]))
    return 0


def _export(args: argparse.Namespace) -> int:
    from rpiboot.cli.output import check_output, write_output
    from rpiboot.records.report import export_csv, export_jsonl

    check_output(args.output)
    records = query(args, record_filter(args, limit=args.limit or None))
    text = io.StringIO()
    (export_csv if args.format == "csv" else export_jsonl)(records, text)
    if args.output is None:
        sys.stdout.write(text.getvalue())
    else:
        write_output(args.output, text.getvalue().encode("utf-8"))
        print(f"{args.output}: {len(records)} record(s) ({args.format})", file=sys.stderr)
    return 0


def _summary(args: argparse.Namespace) -> int:
    from rpiboot.cli.records_render import summary_text
    from rpiboot.records.report import summarize

    summary = summarize(query(args, record_filter(args)))
    print(json.dumps(summary.to_json(), ensure_ascii=False) if args.json
          else summary_text(summary))
    return 0
