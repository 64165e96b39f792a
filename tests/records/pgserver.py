"""A throwaway PostgreSQL server for tests and benchmarks, started from the distribution's
binaries (``/usr/lib/postgresql/<version>/bin``, the highest version found).

    server = PgServer.create()          # initdb + start; raises PgUnavailable without binaries
    url = server.create_database()      # postgresql://postgres@127.0.0.1:<port>/<fresh name>
    url = server.create_schema()        # .../rpiboot_tests?options=-csearch_path%3D<fresh>
    server.stop(); server.start()       # an outage: same port, same data folder
    server.destroy()                    # stop (immediate) and remove the data folder

The data folder is a fresh temporary folder; as root it belongs to the ``postgres`` system
user and the server runs as that user (PostgreSQL refuses to run as root).  The server
listens on 127.0.0.1 only, on a free port, with trust authentication, its unix socket inside
the data folder and fsync off.  ``pg_ctl -w`` waits for readiness: no sleeps.

Used by tests/records/conftest.py (fixtures ``pg_server``, ``pg_url``) and by
benchmarks/bench_records.py (which imports this file by path).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

PG_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "postgres"
SETTINGS = """
# added by tests/records/pgserver.py
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sockets}'
fsync = off
full_page_writes = off
# synchronous_commit stays on: a commit reaches the OS before the client hears of it, so a
# `stop()` (immediate: the server killed) loses nothing a client saw committed
shared_buffers = 16MB
max_connections = 100
"""


class PgUnavailable(RuntimeError):
    """No PostgreSQL server binaries here (or no user to run them as)."""


def find_bindir() -> Path | None:
    """The highest-version ``/usr/lib/postgresql/*/bin`` holding initdb and pg_ctl."""
    found: list[tuple[int, Path]] = []
    if PG_ROOT.is_dir():
        for child in PG_ROOT.iterdir():
            bindir = child / "bin"
            if child.name.isdigit() and (bindir / "initdb").exists() \
                    and (bindir / "pg_ctl").exists():
                found.append((int(child.name), bindir))
    return max(found)[1] if found else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (as the kernel picks one for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _temp_parent(run_as: pwd.struct_passwd | None) -> str:
    """The temporary folder, unless the server's user could not reach into it (a private
    $TMPDIR of root's): then /tmp."""
    parent = Path(tempfile.gettempdir()).resolve()
    if run_as is None:
        return str(parent)
    reachable = all(folder.stat().st_mode & 0o001 for folder in (parent, *parent.parents))
    return str(parent) if reachable else "/tmp"


class PgServer:
    """One throwaway server: its data folder, port and admin URL."""

    def __init__(self, bindir: Path, root: Path, port: int, run_as: pwd.struct_passwd | None
                 ) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.port = port
        self.run_as = run_as
        self.running = False
        self._databases: set[str] = set()
        self.settings = ""

    @property
    def url(self) -> str:
        """The admin URL (database ``postgres``)."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        """The URL of ``database`` on this server."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def create(cls, bindir: Path | None = None, *, settings: str = "") -> PgServer:
        """initdb in a fresh temporary folder and start the server (``settings``: more
        postgresql.conf lines, e.g. ``fsync = on`` for a benchmark)."""
        bindir = bindir or find_bindir()
        if bindir is None:
            raise PgUnavailable(f"no PostgreSQL server binaries under {PG_ROOT}/*/bin "
                                "(apt-get install postgresql)")
        run_as = None
        if os.geteuid() == 0:
            try:
                run_as = pwd.getpwnam("postgres")
            except KeyError:
                raise PgUnavailable("running as root, and there is no 'postgres' user to "
                                    "run the server as") from None
        root = Path(tempfile.mkdtemp(prefix="rpiboot-pg-", dir=_temp_parent(run_as)))
        server = cls(bindir, root, free_port(), run_as)
        server.settings = settings
        try:
            server._own(root)
            server._initdb()
            server._start_on_a_free_port()
        except BaseException:
            server.destroy()
            raise
        return server

    def start(self) -> None:
        """Start the server (same port, same data); returns once it accepts connections."""
        if self.running:
            return
        result = self._run(["pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"),
                            "-w", "-t", "60", "start"], check=False)
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed ({result.returncode}): "
                               f"{result.stdout}{result.stderr}\n{self.log_tail()}")
        self.running = True

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (``immediate``: like a crash; ``fast``: a clean shutdown)."""
        if not self.running:
            return
        self._run(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"])
        self.running = False

    def destroy(self) -> None:
        """Stop the server and remove its data folder."""
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------ databases
    def create_database(self, name: str | None = None) -> str:
        """Create a database (a fresh unique name unless given); its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # name: [a-z0-9_] from here or a test
        return self.url_for(name)

    def create_schema(self, database: str = "rpiboot_tests") -> str:
        """A fresh, empty schema in ``database`` (created on first use); the URL of that
        database with the schema as its search path (a few ms, where a database takes
        ~0.3 s to create).  The stores' unqualified tables land in that schema."""
        import psycopg

        if database not in self._databases:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
                if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (database,)).fetchone() is None:
                    conn.execute(f'CREATE DATABASE "{database}"')
            self._databases.add(database)
        schema = f"t_{uuid.uuid4().hex[:16]}"
        url = self.url_for(database)
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        return f"{url}?options=-csearch_path%3D{schema}"

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's log, for failure messages."""
        try:
            text = (self.root / "log").read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    # ------------------------------------------------------------------ helpers
    def _own(self, path: Path) -> None:
        if self.run_as is not None:
            os.chown(path, self.run_as.pw_uid, self.run_as.pw_gid)

    def _initdb(self) -> None:
        self._run(["initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                   "--locale=C", "--no-sync"])
        sockets = self.root / "sockets"
        sockets.mkdir()
        self._own(sockets)

    def _start_on_a_free_port(self, attempts: int = 3) -> None:
        for attempt in range(attempts):
            if attempt:
                self.port = free_port()  # someone took the port between bind and start
            self._configure()
            try:
                self.start()
                return
            except RuntimeError:
                if attempt == attempts - 1:
                    raise

    def _configure(self) -> None:
        conf = self.data / "postgresql.conf"
        text = conf.read_text().split("\n# added by tests/records/pgserver.py")[0]
        conf.write_text(text + SETTINGS.format(port=self.port, sockets=self.root / "sockets")
                        + self.settings + "\n")

    def _run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self.run_as is not None:
            kwargs = {"user": self.run_as.pw_uid, "group": self.run_as.pw_gid,
                      "extra_groups": []}
        env = {**os.environ, "LC_ALL": "C", "HOME": str(self.root)}
        result = subprocess.run([str(self.bindir / argv[0]), *argv[1:]], capture_output=True,
                                text=True, env=env, cwd=self.root, check=False, **kwargs)
        if check and result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stdout}"
                               f"{result.stderr}")
        return result
