"""What the tests of the pull-request check share: a daemon's /snapshot on loopback, and a
config repository made of the examples."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
SNAPSHOT_TOKEN = "snap-7d1e"
SNAPSHOT = b'{"format": "boardsync.snapshot"}'


@contextmanager
def snapshot_server() -> Iterator[tuple[str, list[str]]]:
    """The /snapshot URL, answering the snapshot for the right bearer token and 401 otherwise,
    and the Authorization header of each request it got."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep the test output clean
            pass

        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            ok = self.path == "/snapshot" and self.headers.get("Authorization") == f"Bearer {SNAPSHOT_TOKEN}"
            body = SNAPSHOT if ok else b'{"error": "unauthorized"}'
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/snapshot", seen
    finally:
        server.shutdown()
        server.server_close()


def config_repository(where: Path, *, broken: bool = False) -> Path:
    """The examples' root file, postings and schemas in `where`/repo; `broken` gives the
    backend engineer a salary maximum below its minimum (line 22, column 3)."""
    repo = where / "repo"
    shutil.copytree(ROOT / "examples", repo, ignore=shutil.ignore_patterns("github", "gitlab", "systemd"))
    if broken:
        posting = repo / "postings" / "backend-engineer.yaml"
        posting.write_text(posting.read_text().replace("  max: 195000\n", "  max: 1\n"))
    return repo
