"""HTTP for the firmware store (stdlib urllib: ``http_proxy``, ``https_proxy`` and
``no_proxy`` are honoured).

Every answer is untrusted: bodies are read in bounded chunks (never more than the caller's
limit, never more than the announced length), a ``Content-Range`` must start where the
partial file ends, redirects may only lead to http(s).  Transient failures (time-outs,
resets, a connection closed mid-body, HTTP 408/429/5xx) are retried with exponential
backoff, resuming a download from its ``.part`` file with a ``Range`` request; a server
that ignores ``Range`` (200 instead of 206) makes the download start over.  Connection
refused, a host name that does not resolve and other HTTP errors fail at once with a
:class:`DownloadError` naming the URL.
"""

from __future__ import annotations

import contextlib
import email.message
import http.client
import os
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

from rpiboot.errors import InputError
from rpiboot.fwstore import events as ev

CHUNK = 1 << 20
TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}
OFFLINE_HINT = (
    "Check the network connection (and the http_proxy / https_proxy variables). Without "
    "access to it: serve the files from a mirror of your own (--mirror URL: files at "
    "URL/raspberrypi/<repo>/<commit>/<path>), or copy a usbboot checkout or tarball to this "
    "machine and run 'rpiboot firmware import PATH'.")
T = TypeVar("T")


class DownloadError(InputError):
    """A URL could not be fetched (offline, refused, HTTP error, a bad answer)."""

    def __init__(self, url: str, reason: str, *, hint: str = OFFLINE_HINT,
                 status: int | None = None) -> None:
        super().__init__(f"cannot download {url}: {reason}", hint=hint)
        self.url = url
        self.reason = reason
        self.status = status


class _Transient(Exception):
    """A failure worth another try (the message says what happened)."""


@dataclass(frozen=True)
class HttpOptions:
    timeout: float = 30.0  # seconds, for connecting and for each read
    retries: int = 4  # further attempts after a transient failure
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    max_delay: float = 30.0


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: urllib.request.Request, fp: object, code: int, msg: str,
                         headers: object, newurl: str) -> urllib.request.Request | None:
        if not newurl.lower().startswith(("http://", "https://")):
            raise DownloadError(req.full_url, f"redirected to {newurl[:200]!r}",
                                hint="Only http and https redirects are followed.")
        return super().redirect_request(req, fp, code, msg, headers, newurl)  # type: ignore[arg-type]


def check_base_url(url: str, what: str) -> str:
    """An http(s) base URL without a trailing slash (UsageError-free: InputError)."""
    if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", url):
        raise InputError(f"{what} {url!r} is not an http:// or https:// URL",
                         hint="Give a URL such as http://mirror.example:8080/usbboot.")
    return url.rstrip("/")


class Http:
    """GET requests with the retry, bound and resume rules of the module docstring."""

    def __init__(self, options: HttpOptions | None = None, on_event: ev.Callback = ev.ignore,
                 *, sleep: Callable[[float], None] = time.sleep) -> None:
        from rpiboot import __version__

        self.options = options or HttpOptions()
        self.on_event = on_event
        self.sleep = sleep
        self.opener = urllib.request.build_opener(_SafeRedirects())
        self.user_agent = f"rpiboot/{__version__}"

    # ------------------------------------------------------------------ small answers
    def get(self, url: str, *, limit: int, accept: str | None = None) -> bytes:
        """The whole body of ``url`` (at most ``limit`` bytes)."""
        def attempt() -> bytes:
            with self._open(url, {"Accept": accept} if accept else {}) as resp:
                length = _content_length(resp, url)
                if length is not None and length > limit:
                    raise DownloadError(url, f"the answer is {length} bytes, more than the "
                                        f"{limit} expected", hint="Check the URL.")
                body = _read(resp, limit + 1, url)
                if len(body) > limit:
                    raise DownloadError(url, f"the answer is more than {limit} bytes",
                                        hint="Check the URL.")
                if length is not None and len(body) < length:
                    raise _Transient(f"connection closed after {len(body)} of {length} bytes")
                return body
        return self._retrying(url, attempt)

    # ------------------------------------------------------------------ downloads
    def download(self, url: str, part: Path, *, label: str, size: int | None,
                 limit: int) -> None:
        """Complete ``part`` from ``url``: resume it with ``Range`` if it holds a prefix;
        ``size`` (None: unknown, at most ``limit``) is the exact length expected."""
        def attempt() -> None:
            have = _size_of(part)
            if have and size is not None and have >= size:
                if have == size:
                    return
                _unlink(part)
                have = 0
            self._download_once(url, part, have, label=label, size=size, limit=limit)
        self._retrying(url, attempt)

    def _download_once(self, url: str, part: Path, have: int, *, label: str,
                       size: int | None, limit: int) -> None:
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with self._open(url, headers) as resp:
                self._receive(resp, url, part, have, label=label, size=size, limit=limit)
        except DownloadError as err:
            if have and err.status == 416:  # the partial file is no prefix: start over
                _unlink(part)
                self.on_event(ev.Restarted(url, "the server refused the range of the "
                                           "partial file"))
                raise _Transient("range not satisfiable") from None
            raise

    def _receive(self, resp: http.client.HTTPResponse, url: str, part: Path, have: int, *,
                 label: str, size: int | None, limit: int) -> None:
        offset = self._offset(resp, url, have)
        length = _content_length(resp, url)
        total = offset + length if length is not None else size
        bound = size if size is not None else limit
        if total is not None and (total > bound or (size is not None and total != size)):
            expected = size if size is not None else f"at most {limit}"
            raise DownloadError(url, f"the server has {total} bytes, the listing {expected}",
                                hint="The server does not have the upstream file: check the "
                                "mirror's copy (--mirror).")
        self.on_event(ev.Downloading(label, url, size, offset))
        with open(part, "ab" if offset else "wb") as out:
            self._copy(resp, out, offset, total, bound, label, url)

    def _offset(self, resp: http.client.HTTPResponse, url: str, have: int) -> int:
        if not have:
            return 0
        if resp.status == 206:
            match = re.match(r"^bytes (\d+)-(\d+)/(\d+|\*)$",
                             resp.headers.get("Content-Range", "").strip())
            if match is None or int(match.group(1)) != have:
                raise _Transient(f"bad Content-Range {resp.headers.get('Content-Range')!r} "
                                 f"for a request from byte {have}")
            return have
        self.on_event(ev.Restarted(url, "the server ignored Range; starting over"))
        return 0

    def _copy(self, resp: http.client.HTTPResponse, out: BinaryIO, done: int,
              total: int | None, bound: int, label: str, url: str) -> None:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        write = out.write
        while True:
            try:
                n = resp.readinto(buffer)
            except (OSError, http.client.HTTPException) as exc:
                raise _Transient(f"connection lost after {done} bytes ({_describe(exc)})"
                                 ) from None
            if not n:
                break
            if done + n > bound:
                raise DownloadError(url, f"the server sent more than the {bound} bytes "
                                    "expected", hint="The server does not have the upstream "
                                    "file: check the mirror's copy (--mirror).")
            write(view[:n])
            done += n
            self.on_event(ev.Progress(label, done, total))
        if total is not None and done < total:
            raise _Transient(f"connection closed after {done} of {total} bytes")

    # ------------------------------------------------------------------ plumbing
    @contextlib.contextmanager
    def _open(self, url: str, headers: dict[str, str]) -> Iterator[http.client.HTTPResponse]:
        request = urllib.request.Request(url, headers={"User-Agent": self.user_agent,
                                                       **headers})
        try:
            resp = self.opener.open(request, timeout=self.options.timeout)
        except urllib.error.HTTPError as exc:
            with contextlib.suppress(Exception):
                exc.close()
            raise _http_error(url, exc) from None
        except (OSError, http.client.HTTPException) as exc:
            raise _network_error(url, exc) from None
        try:
            yield resp
        finally:
            resp.close()

    def _retrying(self, url: str, attempt: Callable[[], T]) -> T:
        delay = self.options.backoff
        tries = 0
        while True:
            try:
                return attempt()
            except _Transient as exc:
                tries += 1
                reason = str(exc)
                wait = min(getattr(exc, "retry_after", None) or delay, self.options.max_delay)
                if tries > self.options.retries:
                    raise DownloadError(url, f"{reason} (gave up after {tries} attempts)"
                                        ) from None
                self.on_event(ev.Retrying(url, tries, wait, reason))
                self.sleep(wait)
                delay *= 2


def _http_error(url: str, exc: urllib.error.HTTPError) -> Exception:
    status = f"HTTP {exc.code} {exc.reason}".strip()
    headers = exc.headers if exc.headers is not None else email.message.Message()
    if exc.code in TRANSIENT_STATUS:
        transient = _Transient(status)
        retry_after = str(headers.get("Retry-After", "")).strip()
        if retry_after.isdigit():
            transient.retry_after = float(retry_after)  # type: ignore[attr-defined]
        return transient
    if exc.code == 403 and headers.get("X-RateLimit-Remaining") == "0":
        return DownloadError(url, f"{status}: GitHub's API rate limit is used up",
                             hint="Wait an hour, or fetch the pinned default (no --ref: it "
                             "needs no API), or serve listings from a mirror (--api URL).")
    return DownloadError(url, f"the server answered {status}", status=exc.code)


def _network_error(url: str, exc: BaseException) -> Exception:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, ConnectionRefusedError):
        return DownloadError(url, "connection refused (offline, or no server at that "
                             "address)")
    if isinstance(reason, socket.gaierror):
        return DownloadError(url, f"the host name does not resolve ({reason.strerror or reason};"
                             " offline?)")
    if isinstance(reason, ssl.SSLCertVerificationError):
        return DownloadError(url, f"the server's TLS certificate is not trusted "
                             f"({reason.verify_message})",
                             hint="Check the system's CA certificates (or the proxy's).")
    if isinstance(reason, (OSError, http.client.HTTPException)):
        return _Transient(_describe(reason))
    return DownloadError(url, str(reason))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _content_length(resp: http.client.HTTPResponse, url: str) -> int | None:
    raw = resp.headers.get("Content-Length")
    if raw is None:
        return None
    raw = raw.strip()
    if not (raw.isdigit() and raw.isascii() and len(raw) < 16):
        raise DownloadError(url, f"bad Content-Length {raw[:30]!r}", hint="Check the server.")
    return int(raw)


def _read(resp: http.client.HTTPResponse, limit: int, url: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        try:
            chunk = resp.read(min(CHUNK, limit - size))
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient(f"connection lost ({_describe(exc)})") from None
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _size_of(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
