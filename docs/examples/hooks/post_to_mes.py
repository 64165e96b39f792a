#!/usr/bin/env python3
"""rpiboot hook: POST the board's record (JSON) to a manufacturing execution system.

    export MES_URL=https://mes.example.com/api/boards   # MES_TOKEN=... if it needs one
    rpiboot flash IMAGE --on-board-done "python3 post_to_mes.py"

Reads the record on stdin and POSTs it unchanged as application/json to $MES_URL (with
"Authorization: Bearer $MES_TOKEN" when MES_TOKEN is set).  Exit 0 on a 2xx answer; 1 when
the server refused it or could not be reached (the station's record keeps what this printed);
2 when MES_URL is not set.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    url = os.environ.get("MES_URL")
    if not url:
        print("post_to_mes: set MES_URL to the MES endpoint", file=sys.stderr)
        return 2
    body = sys.stdin.buffer.read()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "X-Rpiboot-Record-Id": os.environ.get("RPIBOOT_RECORD_ID", "")})
    if os.environ.get("MES_TOKEN"):
        request.add_header("Authorization", f"Bearer {os.environ['MES_TOKEN']}")
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            print(f"MES {answer.status}: {answer.read(2000).decode('utf-8', 'replace')}")
    except urllib.error.HTTPError as exc:
        print(f"post_to_mes: MES answered {exc.code}: "
              f"{exc.read(2000).decode('utf-8', 'replace')}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"post_to_mes: {url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
