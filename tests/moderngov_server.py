"""A ModernGov site on 127.0.0.1 for the tests: ``mgWebService.asmx`` answering from the XML
fixtures in ``tests/fixtures/moderngov`` (a scenario's folder first, then the normal calendar),
with ETags, 304s, HTTP 500s and a slow answer when a test asks for them. Every request is kept."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures" / "moderngov"


@dataclass
class Request:
    operation: str
    query: dict[str, str]
    if_none_match: str | None
    status: int


@dataclass
class Site:
    """What the site answers; tests change it between syncs."""

    scenario: str = ""
    """A folder of ``FIXTURES`` whose files replace the normal ones."""
    etags: bool = True
    fail: dict[str, int] = field(default_factory=dict)
    """Operation -> HTTP status to answer with instead (500)."""
    slow: dict[str, float] = field(default_factory=dict)
    """Operation -> seconds to wait before answering."""
    trickle: dict[str, float] = field(default_factory=dict)
    """Operation -> seconds between the bytes of its body (a site that never quite stops)."""
    bodies: dict[str, bytes] = field(default_factory=dict)
    """Operation -> what to answer instead of its fixture (an answer too large)."""
    redirect: dict[str, str] = field(default_factory=dict)
    """Operation -> an address to send the client to instead (302 Found)."""
    requests: list[Request] = field(default_factory=list)
    base_url: str = ""

    def file(self, operation: str, query: dict[str, str]) -> Path | None:
        name = {
            "GetCommittees": "committees.xml",
            "GetMeetings": f"meetings_{query.get('lCommitteeId', '')}.xml",
            "GetMeeting": f"meeting_{query.get('lMeetingId', '')}.xml",
        }.get(operation)
        if name is None:
            return None
        for folder in (FIXTURES / self.scenario, FIXTURES):
            if (folder / name).is_file():
                return folder / name
        return FIXTURES / "meeting_empty.xml" if operation == "GetMeeting" else None

    def of(self, operation: str) -> list[Request]:
        return [r for r in self.requests if r.operation == operation]


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            operation = parts.path.rsplit("/", 1)[-1]
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if operation in site.slow:
                time.sleep(site.slow[operation])
            if operation in site.redirect:
                site.requests.append(Request(operation, query, None, 302))
                self.send_response(302)
                self.send_header("Location", site.redirect[operation])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status, body, etag = self._answer(operation, query)
            site.requests.append(Request(operation, query, self.headers.get("If-None-Match"), status))
            try:
                self.send_response(status)
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if operation in site.trickle:
                    for i in range(len(body)):
                        self.wfile.write(body[i : i + 1])
                        self.wfile.flush()
                        time.sleep(site.trickle[operation])
                else:
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a time-out test)
                pass

        def _answer(self, operation: str, query: dict[str, str]) -> tuple[int, bytes, str | None]:
            if not self.path.startswith("/mgWebService.asmx/"):
                return 404, b"", None
            if operation in site.fail:
                return site.fail[operation], b"<html>Server Error</html>", None
            path = site.file(operation, query)
            if path is None:
                return 404, b"", None
            body = site.bodies.get(operation) or path.read_bytes()
            etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"' if site.etags else None
            if etag and self.headers.get("If-None-Match") == etag:
                return 304, b"", etag
            return 200, body, etag

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def moderngov_site() -> Iterator[Site]:
    """A running site; stopped afterwards."""
    site = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    server.daemon_threads = True
    server.block_on_close = False
    site.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
