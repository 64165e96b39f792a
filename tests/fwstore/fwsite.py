"""A loopback stand-in for GitHub's raw file server and its git/trees API (127.0.0.1 only).

It serves the REAL files of ../shared/firmware at the URLs upstream has them: the URL -> file
map is built by matching the blob id of every file there against the upstream listings
(../shared/firmware/upstream-trees; every file there is an unmodified upstream file).
Symbolic links are answered with their target text, like raw.githubusercontent.com.

Besides the pinned commit it serves a test ref (``test-ref`` -> :data:`TEST_COMMIT`):
usbboot's real listing with ``mass-storage-gadget64/boot.img`` (not in ../shared, > 4 MB)
replaced by a generated file, so the full default set can be fetched.

Faults, per URL path, for the tests: a tampered byte, a connection closed after N bytes
(some times, or always), a stall until an event is set, an HTTP status, Range ignored.
Every request is recorded (path and Range header).  The listing parsers here are written
independently of rpiboot's on purpose.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

USBBOOT = "raspberrypi/usbboot"
EEPROM = "raspberrypi/rpi-eeprom"
PINNED = "87d6e03272b0ae155d85a125bfdec03e3d4a1095"
PINNED_EEPROM = "387e8cc058aae0ea43214a296b64fd11f9e25678"
TEST_REF = "test-ref"
TEST_COMMIT = hashlib.sha1(b"rpiboot fwstore test ref").hexdigest()
BOOT_IMG = "mass-storage-gadget64/boot.img"
BOOT_IMG_SIZE = 6 * 1024 * 1024
# folders whose whole payload is in ../shared/firmware at the pinned commit
PINNED_COMPLETE = ("msd", "recovery", "recovery5", "secure-boot-recovery",
                   "secure-boot-recovery5", "secure-boot-msd", "rpi-imager-embedded",
                   "eeprom-erase")
ALL_FOLDERS = ("msd", "mass-storage-gadget64", *PINNED_COMPLETE[1:])
CHUNK = 1 << 20


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def synthetic_boot_img(size: int = BOOT_IMG_SIZE) -> bytes:
    """The test ref's boot.img: deterministic bytes (the e2e scenario knows their sha256)."""
    return hashlib.shake_256(b"rpiboot test-ref boot.img").digest(size)


@dataclass
class Entry:
    mode: str
    sha: str
    size: int | None
    path: str


def read_tree(path: Path) -> list[Entry]:
    entries = []
    for line in path.read_text().splitlines():
        meta, path_ = line.split("\t")
        mode, _type, sha, size = meta.split()
        entries.append(Entry(mode, sha, None if size == "-" else int(size), path_))
    return entries


@dataclass
class Site:
    """What the servers hold: raw files by (repo, commit, path), listings, refs."""

    raw: dict[tuple[str, str, str], bytes | Path] = field(default_factory=dict)
    trees: dict[tuple[str, str], list[Entry]] = field(default_factory=dict)
    refs: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def from_shared(cls, firmware: Path, boot_img: bytes | None = None) -> Site:
        trees = firmware / "upstream-trees"
        by_blob = {blob_id(p.read_bytes()): p for p in firmware.rglob("*")
                   if p.is_file() and "upstream-trees" not in p.parts}
        usb = read_tree(trees / f"usbboot-{PINNED}.tree")
        links = dict(line.split(" -> ") for line in
                     (trees / f"usbboot-{PINNED}.links").read_text().splitlines())
        eeprom = read_tree(trees / f"rpi-eeprom-{PINNED_EEPROM}.tree")
        site = cls()
        site.trees[(USBBOOT, PINNED)] = usb
        site.trees[(EEPROM, PINNED_EEPROM)] = eeprom
        for repo, commit, entries in ((USBBOOT, PINNED, usb), (EEPROM, PINNED_EEPROM, eeprom)):
            for e in entries:
                if e.path in links and repo == USBBOOT:
                    site.raw[(repo, commit, e.path)] = links[e.path].encode()
                elif e.sha in by_blob:
                    site.raw[(repo, commit, e.path)] = by_blob[e.sha]
        site.add_test_ref(boot_img if boot_img is not None else synthetic_boot_img())
        return site

    def add_test_ref(self, boot_img: bytes, commit: str = TEST_COMMIT,
                     ref: str = TEST_REF) -> None:
        """usbboot's pinned listing and files, with ``boot_img`` as the gadget's boot.img."""
        entries = [Entry(e.mode, blob_id(boot_img), len(boot_img), e.path) if e.path == BOOT_IMG
                   else e for e in self.trees[(USBBOOT, PINNED)]]
        self.trees[(USBBOOT, commit)] = entries
        self.refs[(USBBOOT, ref)] = commit
        for (repo, at, path), body in list(self.raw.items()):
            if repo == USBBOOT and at == PINNED:
                self.raw[(repo, commit, path)] = body
        self.raw[(USBBOOT, commit, BOOT_IMG)] = boot_img

    def body(self, repo: str, commit: str, path: str) -> bytes | None:
        found = self.raw.get((repo, commit, path))
        return found.read_bytes() if isinstance(found, Path) else found

    def tree_json(self, repo: str, commit: str) -> bytes | None:
        entries = self.trees.get((repo, commit))
        if entries is None:
            return None
        items, folders = [], set()
        for e in entries:
            parts = e.path.split("/")
            folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
            kind = "commit" if e.mode == "160000" else "blob"
            item = {"path": e.path, "mode": e.mode, "type": kind, "sha": e.sha,
                    "url": f"https://api.github.com/repos/{repo}/git/blobs/{e.sha}"}
            if kind == "blob" and e.size is not None:
                item["size"] = e.size
            items.append(item)
        items += [{"path": f, "mode": "040000", "type": "tree", "sha": "0" * 40}
                  for f in sorted(folders)]
        return json.dumps({"sha": "1" * 40, "url": "x", "tree": items,
                           "truncated": False}).encode()


@dataclass
class Faults:
    tamper: set[str] = field(default_factory=set)  # raw paths served with one byte flipped
    die_after: dict[str, list[int]] = field(default_factory=dict)  # path -> [bytes, times]
    stall: dict[str, tuple[int, threading.Event]] = field(default_factory=dict)
    status: dict[str, list[int]] = field(default_factory=dict)  # path -> [status, times]
    ignore_range: bool = False
    bodies: dict[str, bytes] = field(default_factory=dict)  # path -> served instead


class FakeUpstream:
    """The running servers: ``raw`` (the --mirror URL) and ``api`` (the --api URL)."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.faults = Faults()
        self.requests: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"upstream": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.raw = f"{self.base}/raw"
        self.api = f"{self.base}/api"

    def close(self) -> None:
        for _length, event in self.faults.stall.values():
            event.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def url_path(self, repo: str, commit: str, path: str) -> str:
        return f"/raw/{repo}/{commit}/{path}"

    def ranges(self, suffix: str) -> list[str | None]:
        """The Range headers of the requests whose path ends with ``suffix``."""
        with self.lock:
            return [r for p, r in self.requests if p.endswith(suffix)]

    def raw_requests(self) -> list[str]:
        with self.lock:
            return [p for p, _ in self.requests if p.startswith("/raw/")]


class _Handler(BaseHTTPRequestHandler):
    upstream: FakeUpstream

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(parsed.path)
        up = self.upstream
        with up.lock:
            up.requests.append((path, self.headers.get("Range")))
            forced = up.faults.status.get(path)
            if forced and forced[1] != 0:
                forced[1] -= 1
                self.send_error(forced[0])
                return
        body = up.faults.bodies.get(path)
        if body is None:
            body = self._lookup(path)
        if body is None:
            self.send_error(404)
            return
        if path in up.faults.tamper:
            body = bytes([body[0] ^ 1]) + body[1:] if body else body
        self._send(path, body)

    def _lookup(self, path: str) -> bytes | None:
        site = self.upstream.site
        raw = re.match(r"^/raw/(\w+/[\w.-]+)/([0-9a-f]{40})/(.+)$", path)
        if raw:
            return site.body(raw.group(1), raw.group(2), raw.group(3))
        tree = re.match(r"^/api/repos/(\w+/[\w.-]+)/git/trees/([0-9a-f]{40})$", path)
        if tree:
            return site.tree_json(tree.group(1), tree.group(2))
        ref = re.match(r"^/api/repos/(\w+/[\w.-]+)/commits/(.+)$", path)
        if ref:
            commit = site.refs.get((ref.group(1), ref.group(2)))
            return commit.encode() if commit else None
        return None

    def _send(self, path: str, body: bytes) -> None:
        start = 0
        wanted = self.headers.get("Range")
        match = re.match(r"^bytes=(\d+)-$", wanted or "")
        if match and not self.upstream.faults.ignore_range:
            start = int(match.group(1))
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self._write(path, memoryview(body)[start:])

    def _write(self, path: str, data: memoryview) -> None:
        faults = self.upstream.faults
        with self.upstream.lock:
            dies = faults.die_after.get(path)
            cut = None
            if dies and dies[1] != 0:
                dies[1] -= 1
                cut = dies[0]
        stall = faults.stall.get(path)
        if stall is not None:
            self.wfile.write(data[:stall[0]])
            stall[1].wait(60)
            return
        end = len(data) if cut is None else min(cut, len(data))
        for offset in range(0, end, CHUNK):
            self.wfile.write(data[offset:min(offset + CHUNK, end)])
        if cut is not None:
            self.close_connection = True


def serve(site: Site) -> Iterator[FakeUpstream]:
    upstream = FakeUpstream(site)
    try:
        yield upstream
    finally:
        upstream.close()
