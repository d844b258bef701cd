"""What the notification tests share: a JSON-webhook receiver on loopback (a real HTTP server,
reached by Apprise as a ``json://`` target), and a root file that names it under `notify:`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

HOOK_TOKEN = "hooktoken-5f1c2a9b7e3d4c6a"
"""The secret in the receiver's path, as a chat service's webhook URL carries one."""


class Receiver:
    """A JSON webhook on loopback that keeps every message it took. `answers` are the statuses
    it gives, in turn, before it settles on 200 (a target that fails, then recovers)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.attempts = 0
        self.answers: list[int] = []
        self.always: int | None = None
        """A status given to every request (a target that stays broken)."""
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver._answer(self.path, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _answer(self, path: str, body: bytes) -> int:
        with self._lock:
            self.attempts += 1
            status = self.always or (self.answers.pop(0) if self.answers else 200)
            if status < 300:
                self.messages.append({"path": path, **json.loads(body)})
            return status

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "hook") -> str:
        """The Apprise URL of this receiver (Apprise's generic JSON webhook)."""
        return f"json://127.0.0.1:{self.port}/{path}/{HOOK_TOKEN}"

    def titles(self) -> list[str]:
        with self._lock:
            return [m["title"] for m in self.messages]

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    try:
        yield running
    finally:
        running.close()


def add_notify(config: Path, targets: list[dict[str, Any]], **sections: Any) -> None:
    """Give the root file at `config` these `notify:` targets (in place of any it had), and
    the other top-level `sections` given (policy, …)."""
    yaml = YAML(typ="safe", pure=True)
    data = yaml.load(config.read_text())
    data["notify"] = targets
    data.update(sections)
    yaml.default_flow_style = False
    with config.open("w") as stream:
        yaml.dump(data, stream)
