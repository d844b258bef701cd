"""systemd's notify protocol, spoken over the datagram socket named by ``$NOTIFY_SOCKET``.

A message is newline-separated ``KEY=VALUE`` lines in one datagram. The address is a path
(``/run/systemd/notify``) or, when it starts with ``@``, a socket in the abstract namespace.
Without ``$NOTIFY_SOCKET`` (a shell, a test, another supervisor) every call is silent: the
daemon runs the same whether or not systemd is watching.

The watchdog is enabled only when systemd asks for it: ``$WATCHDOG_USEC`` is set and
``$WATCHDOG_PID``, when present, is this process. Pings go out at half that interval, as
sd_watchdog_enabled(3) advises, and only while the daemon proves it is making progress.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

from boardsync.log import get_logger

log = get_logger(__name__)


def socket_address(value: str) -> str | bytes | None:
    """The address to send to for a ``$NOTIFY_SOCKET`` value; None when unusable here."""
    if value.startswith("@"):
        # Abstract namespace: the leading '@' stands for a NUL byte.
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # vsock: and friends are not for a service on this host's systemd


class Notifier:
    """Sends state changes to systemd. Safe to call from any thread; never raises."""

    def __init__(self, address: str | bytes | None) -> None:
        self._address = address
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        if address is not None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Notifier:
        value = (os.environ if env is None else env).get("NOTIFY_SOCKET", "")
        address = socket_address(value) if value else None
        if value and address is None:
            log.warning("notify_socket_unsupported", notify_socket=value)
        return cls(address)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, **fields: str | int) -> bool:
        """Send one message; True when it left. A failed send is logged, never raised:
        losing a status line must not take the service down."""
        if self._sock is None:
            return False
        message = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        try:
            with self._lock:
                self._sock.sendto(message, self._address)  # type: ignore[arg-type]
        except OSError as exc:
            log.warning("notify_failed", keys=sorted(fields), error=str(exc))
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send(READY=1, **({"STATUS": status} if status else {}))

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets systemd match this message to the reload it asked for.
        return self.send(RELOADING=1, MONOTONIC_USEC=time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)

    def stopping(self, status: str | None = None) -> bool:
        return self.send(STOPPING=1, **({"STATUS": status} if status else {}))

    def status(self, text: str) -> bool:
        # One line: a newline would start another KEY=VALUE field.
        return self.send(STATUS=" ".join(text.split()))

    def watchdog(self) -> bool:
        return self.send(WATCHDOG=1)

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between the pings systemd expects, or None when the watchdog is off."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (we were started by the real main process)
    return int(usec) / 1_000_000


class Watchdog:
    """Pings systemd at half its interval while `healthy()` holds; stops pinging otherwise,
    so that systemd restarts a daemon whose jobs no longer make progress."""

    def __init__(self, notifier: Notifier, interval: float, healthy: Callable[[], bool]) -> None:
        self.notifier = notifier
        self.period = interval / 2
        self.healthy = healthy
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="watchdog", daemon=True)
        self._withheld = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.period + 1)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._tick()
            self._stop.wait(self.period)

    def _tick(self) -> None:
        if self.healthy():
            self.notifier.watchdog()
            if self._withheld:
                log.info("watchdog_resumed")
            self._withheld = False
        elif not self._withheld:
            log.error("watchdog_withheld", reason="no scheduler progress")
            self._withheld = True
