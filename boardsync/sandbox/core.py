"""What the three simulators share: a movable clock, fault injection, and a real server.

Faults are injected by an ASGI middleware in front of a simulator's app, per route:

- ``latency``: wait, then answer normally;
- ``status``: answer an error status with the board's own error body, without touching state;
- ``echo``: the same, with a message that quotes the request back (method, path and query,
  then its body and headers, each as a JSON string), as a board does that echoes the input it
  could not take;
- ``reset``: drop the connection before the request reaches the board (nothing happens);
- ``lost_response``: let the board carry the request out and commit it, then drop the
  connection without a reply, as when a response is lost on the way back;
- ``rewrite``: let the board carry the request out, then change its JSON answer on the way
  back: ``rewrite`` sets values and ``drop`` removes keys, each by a path such as
  ``items[*].id`` or ``jobs[0].job_title`` (``[*]`` is every item; a path that is not in the
  answer is left alone), as when a board answers in another shape than it documents.
- ``trickle``: answer normally, but send the body one byte every ``latency_ms``, as a board
  behind a struggling proxy does (each byte comes well within a read timeout).

A dropped connection is an abort of the TCP transport (a reset), which is what a client sees
when a load balancer or the network gives up mid-request.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONTROL_PREFIX = "/_sandbox"
"""Controls live under this prefix, which none of the real APIs use."""


class Clock:
    """The simulators' notion of now: real time plus an offset that tests move forward.

    A frozen clock stands still until moved, so a test can count requests "within one
    second" without depending on how fast the machine is.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen: datetime | None = None
        if start is not None:
            self.set(start)

    def now(self) -> datetime:
        with self._lock:
            return self._now()

    def _now(self) -> datetime:
        return self._frozen if self._frozen is not None else datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            if self._frozen is not None:
                self._frozen += timedelta(seconds=seconds)
            else:
                self._offset += timedelta(seconds=seconds)
            return self._now()

    def set(self, when: datetime) -> datetime:
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        with self._lock:
            if self._frozen is not None:
                self._frozen = when
            else:
                self._offset = when - datetime.now(UTC)
            return self._now()

    def freeze(self) -> datetime:
        """Stop the clock where it is; `advance` and `set` still move it."""
        with self._lock:
            self._frozen = self._now()
            return self._frozen

    def unfreeze(self) -> datetime:
        """Let the clock run on from where it stands."""
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - datetime.now(UTC)
                self._frozen = None
            return self._now()

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta(0)
            self._frozen = None

    def monotonic(self) -> float:
        """Seconds on the simulated clock, for sliding windows (moves with `advance`)."""
        return self.now().timestamp()


FAULT_KINDS = ("latency", "status", "echo", "reset", "lost_response", "rewrite", "trickle")


@dataclass
class Fault:
    """One injected fault. ``path`` is a regular expression matched against the whole path;
    ``times`` is how many requests it hits (None: until removed)."""

    kind: str
    method: str = "*"
    path: str = ".*"
    status: int = 500
    latency_ms: int = 0
    retry_after: int | None = None
    times: int | None = 1
    rewrite: dict[str, Any] = field(default_factory=dict)
    """Path → the value a ``rewrite`` fault puts there."""
    drop: list[str] = field(default_factory=list)
    """Paths a ``rewrite`` fault removes."""
    message: str = "Injected fault."
    """The error's text, in the board's own error body (``status`` faults)."""
    hits: int = 0

    def __post_init__(self) -> None:
        # Checked here, when the fault is armed: a bad value found only when a request meets
        # the fault would crash that request instead of answering what the test asked for.
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}")
        if not isinstance(self.method, str) or not isinstance(self.path, str):
            raise ValueError("method and path must be text")
        if not isinstance(self.message, str):
            raise ValueError("message must be text")
        if not _whole(self.status) or not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status from 100 to 599")
        if not _whole(self.latency_ms) or self.latency_ms < 0:
            raise ValueError("latency_ms must be a whole number of 0 or more")
        if self.retry_after is not None and (not _whole(self.retry_after) or self.retry_after < 0):
            raise ValueError("retry_after must be a whole number of seconds, 0 or more")
        if self.times is not None and (not _whole(self.times) or self.times < 1):
            raise ValueError("times must be a whole number of at least 1, or null for until removed")
        if not isinstance(self.rewrite, dict) or not all(isinstance(k, str) for k in self.rewrite):
            raise ValueError("rewrite must map paths to values")
        if not isinstance(self.drop, list) or not all(isinstance(p, str) for p in self.drop):
            raise ValueError("drop must be a list of paths")
        if self.kind == "rewrite" and not (self.rewrite or self.drop):
            raise ValueError("a rewrite fault needs rewrite or drop")
        self.method = self.method.upper()
        re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method.upper()):
            return False
        return re.fullmatch(self.path, path) is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


ErrorBody = Callable[[int, str], tuple[bytes, dict[str, str]]]
"""(status, message) → (JSON body in the board's own error shape, extra headers).
While it runs, `answering_fault.get()` is the fault being answered (e.g. for its retry_after)."""

answering_fault: contextvars.ContextVar[Fault | None] = contextvars.ContextVar("answering_fault", default=None)
"""The injected fault an `ErrorBody` is building a reply for, so a board whose error body carries
the retry delay (not only the header) can put the same number in both."""


class Faults:
    """The faults armed on one simulator, consumed in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str) -> Fault | None:
        """The first armed fault for this request, counted as hit (and dropped when spent)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    if fault.times is not None and fault.hits >= fault.times:
                        self._faults.remove(fault)
                    return fault
        return None


def _abort_connection(send: Send) -> bool:
    """Reset the TCP connection under this request, if the server lets us reach it."""
    # uvicorn hands the app the bound `send` of its request cycle, which holds the transport.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        return False
    transport.abort()
    return True


class FaultMiddleware:
    """ASGI middleware that applies `Faults` to every request outside the control prefix."""

    def __init__(self, app: ASGIApp, faults: Faults, error_body: ErrorBody) -> None:
        self.app = app
        self.faults = faults
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        fault = self.faults.take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
        elif fault.kind == "latency":
            await asyncio.sleep(fault.latency_ms / 1000)
            await self.app(scope, receive, send)
        elif fault.kind == "status":
            await self._send_error(send, fault)
        elif fault.kind == "echo":
            await self._send_error(send, fault, await _echo(scope, receive))
        elif fault.kind == "reset":
            await self._drop(send)
        elif fault.kind == "rewrite":
            await self._rewritten(scope, receive, send, fault)
        elif fault.kind == "trickle":
            await self.app(scope, receive, _trickling(send, fault.latency_ms / 1000))
        else:  # lost_response: the board does the work, the reply never arrives
            await self.app(scope, receive, _swallow)
            await self._drop(send)

    async def _send_error(self, send: Send, fault: Fault, message: str | None = None) -> None:
        token = answering_fault.set(fault)
        try:
            body, headers = self.error_body(fault.status, fault.message if message is None else message)
        finally:
            answering_fault.reset(token)
        if fault.retry_after is not None:
            headers = {**headers, "retry-after": str(fault.retry_after)}
        raw_headers = [(b"content-type", b"application/json")]
        raw_headers += [(k.encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": fault.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})

    async def _rewritten(self, scope: Scope, receive: Receive, send: Send, fault: Fault) -> None:
        """The board's own answer, its JSON body edited as `fault` says."""
        start: Message = {}
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, keep)
        body = rewrite_json(b"".join(chunks), fault.rewrite, fault.drop)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _drop(self, send: Send) -> None:
        if not _abort_connection(send):
            # Another server: start a reply that never finishes, then fail the cycle.
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]})
            raise ConnectionResetError("sandbox dropped the connection")


_TRANSPORT_HEADERS = frozenset({"host", "accept", "accept-encoding", "connection", "user-agent", "content-length"})
"""Headers an echo leaves out: they say how the request travelled, not what it asked."""


async def _echo(scope: Scope, receive: Receive) -> str:
    """An error message quoting the request back, its body escaped inside it."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    query = scope.get("query_string", b"").decode("latin-1")
    target = scope["path"] + (f"?{query}" if query else "")
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope.get("headers", [])
               if name.decode("latin-1") not in _TRANSPORT_HEADERS}
    body = b"".join(chunks).decode("utf-8", "replace")
    return (f"Could not process {scope['method']} {target}; request body: {json.dumps(body)}; "
            f"request headers: {json.dumps(json.dumps(headers))}")


async def _swallow(message: Message) -> None:
    """A `send` that throws the reply away."""


PathStep = str | int
_STEP = re.compile(r"\[(\d+|\*)\]|([^.\[\]]+)")


def rewrite_json(raw: bytes, values: dict[str, Any], drop: list[str]) -> bytes:
    """A JSON body with `values` set and `drop` removed, each at its path; a body that is not
    JSON is returned as it is."""
    try:
        document = json.loads(raw)
    except ValueError:
        return raw
    for path, value in values.items():
        _edit(document, _steps(path), value, remove=False)
    for path in drop:
        _edit(document, _steps(path), None, remove=True)
    return json.dumps(document).encode()


def _steps(path: str) -> list[PathStep]:
    return [name or (index if index == "*" else int(index)) for index, name in _STEP.findall(path)]


def _edit(node: Any, steps: list[PathStep], value: Any, *, remove: bool) -> None:
    head, rest = steps[0], steps[1:]
    if head == "*":
        keys: list[PathStep] = list(range(len(node))) if isinstance(node, list) else []
    else:
        keys = [head]
    for key in keys:
        try:
            if rest:
                _edit(node[key], rest, value, remove=remove)
            elif remove:
                del node[key]
            else:
                node[key] = value
        except (KeyError, IndexError, TypeError):
            continue  # not in this answer: left alone
def _trickling(send: Send, pause: float) -> Send:
    """A `send` that passes the reply on with its body cut into single bytes, `pause`
    seconds apart; it stops sending once the client has gone."""
    cycle = getattr(send, "__self__", None)

    async def trickle(message: Message) -> None:
        if message["type"] != "http.response.body":
            await send(message)
            return
        body, more = message.get("body", b""), message.get("more_body", False)
        for i in range(len(body)):
            if getattr(cycle, "disconnected", False):
                return
            await asyncio.sleep(pause)
            await send({"type": "http.response.body", "body": body[i:i + 1], "more_body": more or i < len(body) - 1})
        if not body:
            await send(message)

    return trickle


class SlidingWindow:
    """Requests allowed per window per key, on the simulator's clock (a sliding log)."""

    def __init__(self, clock: Clock, limit: int, window_seconds: float) -> None:
        self.clock = clock
        self.limit = limit
        self.window = window_seconds
        self._lock = threading.Lock()
        self._hits: dict[str, list[float]] = {}
        self.refused = 0
        """Requests refused for the limit since the last reset (each answered 429)."""

    def hit(self, key: str) -> float | None:
        """Count a request; None when allowed, else seconds until one is allowed again."""
        now = self.clock.monotonic()
        with self._lock:
            hits = [t for t in self._hits.get(key, []) if t > now - self.window]
            if len(hits) >= self.limit:
                self._hits[key] = hits
                self.refused += 1
                return max(hits[0] + self.window - now, 0.001)
            hits.append(now)
            self._hits[key] = hits
            return None

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
            self.refused = 0


@dataclass
class RunningServer:
    """A uvicorn server on loopback in a background thread."""

    server: uvicorn.Server
    thread: threading.Thread
    host: str
    port: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


class _QuietDroppedConnections(logging.Filter):
    """uvicorn reports a cycle we aborted on purpose as an app error; it is not one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without starting response" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_QuietDroppedConnections())


def serve(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0) -> RunningServer:
    """Start `app` on host:port (0: any free port) and return once it accepts connections."""
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say they
    # are TCP, and accepted connections inherit it; without it every reply waits ~40 ms for the
    # client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"sandbox-{bound_port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"sandbox server on {host}:{bound_port} did not start")
        time.sleep(0.01)
    return RunningServer(server, thread, host, bound_port)


# ---------------------------------------------------------------------------------- base


REQUEST_LOG_SIZE = 100_000
"""Requests a simulator's access log keeps, the latest."""


@dataclass(frozen=True)
class LoggedRequest:
    """One request in a board's access log: when it came (wall clock), what it asked and the
    client's User-Agent (boardsync's names its process)."""

    at: float
    method: str
    path: str
    agent: str


class Simulator:
    """What every simulator has: a clock, armed faults, a request count, a reset.

    Subclasses keep their board's state and implement `_reset_state` and `_snapshot_state`;
    `lock` guards that state (handlers run in uvicorn's event loop, controls may come from a
    test's thread).
    """

    name = "board"

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.faults = Faults()
        self.lock = threading.RLock()
        self.requests: dict[str, int] = {}
        self.log: deque[LoggedRequest] = deque(maxlen=REQUEST_LOG_SIZE)

    def count(self, method: str, route: str, agent: str = "") -> None:
        with self.lock:
            key = f"{method} {route}"
            self.requests[key] = self.requests.get(key, 0) + 1
            self.log.append(LoggedRequest(time.time(), method, route, agent))

    def request_log(self) -> list[LoggedRequest]:
        """The latest requests, oldest first, as a board's own access log keeps them."""
        with self.lock:
            return list(self.log)

    def request_counts(self) -> dict[str, int]:
        with self.lock:
            return dict(self.requests)

    def reset(self) -> None:
        """Forget every object, fault and count; the clock is shared and left alone."""
        with self.lock:
            self.faults.clear()
            self.requests.clear()
            self.log.clear()
            self._reset_state()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"board": self.name, "now": self.clock.now().isoformat(), **self._snapshot_state()}

    def _reset_state(self) -> None:
        raise NotImplementedError

    def _snapshot_state(self) -> dict[str, Any]:
        raise NotImplementedError


class CountingMiddleware:
    """Counts every request outside the control prefix by method and path, faulted or not:
    the count is what the client sent, which is what a board's rate limit sees."""

    def __init__(self, app: ASGIApp, sim: Simulator) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(CONTROL_PREFIX):
            agent = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"user-agent"), "")
            self.sim.count(scope["method"], scope["path"], agent)
        await self.app(scope, receive, send)


def control_routes(sim: Simulator) -> list[Any]:
    """The controls every simulator answers under `CONTROL_PREFIX`:

    GET state, POST reset, POST clock {"advance_seconds": n} or {"now": iso}, GET/POST/DELETE
    faults (POST takes `Fault`'s fields), GET/DELETE requests (counts by "METHOD /path").
    """
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def state(request: Request) -> JSONResponse:
        return JSONResponse(sim.snapshot())

    async def reset(request: Request) -> JSONResponse:
        sim.reset()
        return JSONResponse({"reset": True})

    async def clock(request: Request) -> JSONResponse:
        body = await json_object(request)
        try:
            if "advance_seconds" in body:
                now = sim.clock.advance(_seconds(body["advance_seconds"]))
            elif "now" in body:
                now = sim.clock.set(_when(body["now"]))
            else:
                raise ValueError("give advance_seconds or now")
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse({"now": now.isoformat()})

    async def faults(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                fault = sim.faults.add(Fault(**await json_object(request)))
            except (TypeError, ValueError, re.error) as exc:
                return JSONResponse({"error": str(exc)}, status_code=422)
            return JSONResponse(fault.to_dict(), status_code=201)
        if request.method == "DELETE":
            sim.faults.clear()
        return JSONResponse({"faults": [f.to_dict() for f in sim.faults.list()]})

    async def requests(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            with sim.lock:
                sim.requests.clear()
        return JSONResponse({"requests": sim.request_counts()})

    p = CONTROL_PREFIX
    return [
        Route(f"{p}/state", state, methods=["GET"]),
        Route(f"{p}/reset", reset, methods=["POST"]),
        Route(f"{p}/clock", clock, methods=["POST"]),
        Route(f"{p}/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(f"{p}/requests", requests, methods=["GET", "DELETE"]),
    ]


def _seconds(value: Any) -> float:
    """A number of seconds from a control's JSON; ValueError, in words, for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError("advance_seconds must be a number of seconds")
    return float(value)


def _when(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError("now must be an ISO 8601 time, e.g. 2026-01-01T00:00:00Z") from None


async def json_object(request: Any) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def wrap(app: ASGIApp, sim: Simulator, error_body: ErrorBody) -> ASGIApp:
    """The simulator's app as served: counting, then faults, then the board."""
    return CountingMiddleware(FaultMiddleware(app, sim.faults, error_body), sim)
