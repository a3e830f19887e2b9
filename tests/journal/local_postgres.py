"""A throwaway PostgreSQL server on a free loopback port, from Debian's binaries, that a test
may stop and start again (the shared server on 5432 is not the test's to restart).

PostgreSQL refuses to run as root: as root the cluster belongs to the `postgres` user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LocalPostgres:
    data: Path
    port: int
    user: str | None  # run as this user (root cannot run PostgreSQL)

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        if self.user is not None:
            command = ("runuser", "-u", self.user, "--", *command)
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def _pg_ctl(self, *args: str) -> None:
        self._run(str(BIN[-1] / "pg_ctl"), "-D", str(self.data), "-w", *args)

    def init(self) -> None:
        self._run(
            str(BIN[-1] / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-N"
        )

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data} -c fsync=off"
        self._pg_ctl("-l", str(self.data / "server.log"), "-o", options, "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")


@contextlib.contextmanager
def local_postgres() -> Iterator[LocalPostgres]:
    """A started server with its data in a fresh directory of /tmp (which the server's user
    can reach); stopped and deleted after."""
    assert BIN, "Debian's PostgreSQL binaries are not installed (apt-get install postgresql)"
    parent = Path(tempfile.mkdtemp(prefix="ivr-pg-"))
    data = parent / "pgdata"
    data.mkdir(mode=0o700)
    user = None
    if os.geteuid() == 0:
        user = "postgres"
        entry = pwd.getpwnam(user)
        os.chown(data, entry.pw_uid, entry.pw_gid)
        os.chmod(parent, 0o755)  # the server's user must reach its data directory
    server = LocalPostgres(data, _free_port(), user)
    server.init()
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop()
        shutil.rmtree(parent, ignore_errors=True)
