"""systemd's notify protocol, received on real datagram sockets like systemd's own."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from boardsync.daemon.notify import Notifier, Watchdog, socket_address, watchdog_interval


def _receive(sock: socket.socket) -> dict[str, str]:
    sock.settimeout(2)
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.splitlines())


@pytest.fixture
def path_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    yield path, sock
    sock.close()


def test_ready_with_status_arrives_as_one_datagram_on_a_path_socket(path_socket: tuple[str, socket.socket]) -> None:
    """READY=1 and STATUS= travel together to the socket named by NOTIFY_SOCKET."""
    path, sock = path_socket
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    assert notifier.ready(status="loaded 3 postings")
    assert _receive(sock) == {"READY": "1", "STATUS": "loaded 3 postings"}


def test_abstract_socket_address_is_reached_through_the_at_sign() -> None:
    """An '@name' NOTIFY_SOCKET is a socket in the abstract namespace."""
    name = f"boardsync-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    try:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier.watchdog()
        assert _receive(sock) == {"WATCHDOG": "1"}
    finally:
        sock.close()


def test_status_is_flattened_to_one_line(path_socket: tuple[str, socket.socket]) -> None:
    """A newline in a status cannot smuggle another field into the message."""
    path, sock = path_socket
    Notifier(socket_address(path)).status("ok\nREADY=1")
    assert _receive(sock) == {"STATUS": "ok READY=1"}


def test_reloading_carries_the_monotonic_time(path_socket: tuple[str, socket.socket]) -> None:
    """RELOADING=1 names the moment, as Type=notify-reload requires."""
    path, sock = path_socket
    Notifier(socket_address(path)).reloading()
    message = _receive(sock)
    assert message["RELOADING"] == "1" and int(message["MONOTONIC_USEC"]) > 0


def test_without_notify_socket_every_call_is_silent() -> None:
    """Outside systemd nothing is sent and nothing fails."""
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert notifier.ready() is False and notifier.stopping() is False


def test_a_vanished_socket_is_logged_not_raised(tmp_path: Path) -> None:
    """A send to a socket that is gone returns False instead of raising."""
    assert Notifier(str(tmp_path / "gone")).status("x") is False


def test_watchdog_interval_follows_watchdog_usec_and_pid() -> None:
    """The watchdog is on only when systemd set WATCHDOG_USEC for this very process."""
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "2000000"}) == 2.0
    assert watchdog_interval({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}) == 2.0
    assert watchdog_interval({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}) is None


def test_watchdog_pings_only_while_progress_is_shown(path_socket: tuple[str, socket.socket]) -> None:
    """WATCHDOG=1 goes out while healthy() holds and stops when it does not."""
    path, sock = path_socket
    healthy = [True]
    dog = Watchdog(Notifier(path), interval=0.1, healthy=lambda: healthy[0])
    dog.start()
    try:
        assert _receive(sock) == {"WATCHDOG": "1"}
        healthy[0] = False
        sock.settimeout(0.3)
        # Drain what was sent before the flip, then expect silence.
        try:
            while True:
                sock.recv(4096)
        except TimeoutError:
            pass
        with pytest.raises(TimeoutError):
            sock.recv(4096)
    finally:
        dog.stop()
