"""A throw-away PostgreSQL server for the test session, started from the installed binaries.

initdb and pg_ctl refuse to run as root, so as root the server runs as the ``postgres`` system
user (Debian's package creates it). Each test gets a fresh database cloned from a template that
already has the schema, which takes milliseconds instead of a migration run.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

_names = itertools.count(1)


def find_bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    bin_dir: Path
    data_dir: Path
    port: int
    user: str | None

    @classmethod
    def start(cls, base: Path | None = None, *, fsync: bool = False) -> PostgresServer:
        """Start a server in ``base`` (default: a new folder under the system temp dir, which
        the ``postgres`` user can reach, unlike pytest's private temp folders)."""
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL binaries (pg_ctl, initdb) are not installed")
        user = "postgres" if os.geteuid() == 0 else None
        base = base or Path(tempfile.mkdtemp(prefix="pmf-pg-"))
        base.mkdir(parents=True, exist_ok=True)
        data_dir = base / "data"
        if user:
            entry = pwd.getpwnam(user)
            os.chown(base, entry.pw_uid, entry.pw_gid)
        server = cls(bin_dir, data_dir, _free_port(), user)
        server._run(
            "initdb", "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"
        )
        options = f"-p {server.port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not fsync:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        server._run(
            "pg_ctl", "-D", str(data_dir), "-o", options, "-l", str(base / "server.log"), "-w", "start"
        )
        return server

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [str(self.bin_dir / program), *args],
            check=False,
            capture_output=True,
            text=True,
            user=self.user,
            cwd="/",
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr or done.stdout}")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "stop")
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, template: str | None = None) -> str:
        name = f"pmf_test_{next(_names)}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            clause = f" TEMPLATE {template} STRATEGY FILE_COPY" if template else ""
            conn.execute(f"CREATE DATABASE {name}{clause}")  # type: ignore[arg-type]
        return name
