"""``pmf serve --workers N`` (issue #13, item 6): N web processes behind one port, sharing one
secret (a form shown by one is accepted by another) and one database; the scheduler worker in
the parent only. A real server on 127.0.0.1, driven with httpx."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pmf_engine.core.accounts import Accounts
from pmf_engine.core.engine import Engine
from pmf_engine.core.store import Store, sqlite_url
from tests.conftest import ORG, POLICIES, WORKFLOWS, seed

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def server(tmp_path: Path, catalog) -> Iterator[tuple[str, int]]:  # type: ignore[no-untyped-def]
    url = sqlite_url(tmp_path / "web.db")
    store = Store(url)
    engine = Engine(store, catalog)
    seed(engine)
    Accounts(store, engine.clock).set_password("perf", PASSWORD, by="test")
    store.dispose()
    port = _free_port()
    command = [sys.executable, "-m", "pmf_engine", "--db", url, "--workflows", str(WORKFLOWS)]
    command += ["--policies", str(POLICIES), "serve", "--port", str(port), "--workers", "2"]
    command += ["--no-worker", "--insecure-cookies"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMF_")}
    output = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if (
                httpx.get(f"{base}/sign-in", timeout=1).status_code == 200
                and len(_children(process.pid)) >= 2
            ):
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        process.kill()
        process.wait(timeout=30)
        output.close()
        raise AssertionError((tmp_path / "serve.log").read_text()[-2000:])
    yield base, process.pid
    process.terminate()
    process.wait(timeout=30)
    output.close()


def test_two_web_processes_share_one_secret_and_one_database(server: tuple[str, int]) -> None:
    base, pid = server
    workers = [c for c in _children(pid) if "pmf_engine" in Path(f"/proc/{c}/cmdline").read_text()
               or "multiprocessing" in Path(f"/proc/{c}/cmdline").read_text()]  # fmt: skip
    assert len(workers) >= 2, workers
    # Many new connections: uvicorn's processes take turns accepting them, so a sign-in form
    # from one is posted to another; with a secret per process the CSRF check would refuse it.
    for attempt in range(12):
        with httpx.Client(base_url=base, follow_redirects=False) as client:
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
            assert token
        with httpx.Client(base_url=base, follow_redirects=False, cookies=client.cookies) as other:
            signed = other.post(
                "/sign-in",
                data={"username": "perf", "password": PASSWORD, "csrf_token": token.group(1), "next": "/"},
            )
            assert signed.status_code == 303, (attempt, signed.text[:300])
            assert other.get(f"/orgs/{ORG}").status_code == 200


def test_a_rehearsal_is_served_by_one_process(tmp_path: Path) -> None:
    """``--now`` with ``--workers 2`` would leave the web processes on the real clock."""
    from click.testing import CliRunner

    from pmf_engine.interfaces.main import main

    db = sqlite_url(tmp_path / "r.db")
    result = CliRunner().invoke(main, ["--db", db, "--now", "2024-07-01 09:00", "serve", "--workers", "2"])
    assert result.exit_code == 1 and "a rehearsal (--now) runs in one web process" in result.stderr
