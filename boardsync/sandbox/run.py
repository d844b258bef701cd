"""`boardsync sandbox`: run the three simulated boards until interrupted.

It prints what a person needs to point boardsync at them: the URLs, `export` lines for the
sandbox credentials, and the `providers:` block of a boardsync.yaml. It stops cleanly on
SIGINT or SIGTERM.
"""

from __future__ import annotations

import errno
import signal
import sys
import threading
from types import FrameType
from typing import TextIO

from boardsync.sandbox import hirempire
from boardsync.sandbox.core import CONTROL_PREFIX
from boardsync.sandbox.server import PortUnavailable, Sandbox


def banner(sandbox: Sandbox) -> str:
    """What `boardsync sandbox` prints once the three servers accept connections."""
    exports = "\n".join(f"export {name}={value}" for name, value in sandbox.credentials().items())
    return (
        f"boardsync sandbox: three simulated boards on {sandbox.host}\n"
        f"  sorce       {sandbox.sorce_url}\n"
        f"  hirempire   {sandbox.hirempire_url}"
        f"  (source pages under {sandbox.server_url('hirempire')}{hirempire.PUBLIC_PREFIX}/)\n"
        f"  recruitifi  {sandbox.recruitifi_url}\n"
        "\n"
        "# The sandbox credentials, for the ${ENV} references below:\n"
        f"{exports}\n"
        "\n"
        "# In boardsync.yaml:\n"
        f"{sandbox.providers_yaml()}"
        "\n"
        f"Controls on each server under {CONTROL_PREFIX}/ (state, reset, clock, faults, requests).\n"
        "Press Ctrl-C to stop.\n"
    )


def run_sandbox(
    *, host: str, sorce_port: int, hirempire_port: int, recruitifi_port: int,
    out: TextIO = sys.stdout, err: TextIO = sys.stderr,
) -> int:
    """Serve until SIGINT or SIGTERM; 0 after a clean stop, 1 when a port cannot be bound."""
    sandbox = Sandbox(host=host, sorce_port=sorce_port, hirempire_port=hirempire_port, recruitifi_port=recruitifi_port)
    try:
        sandbox.start()
    except PortUnavailable as exc:
        print(f"boardsync sandbox: {exc.strerror}; {_listen_hint(exc)}", file=err)
        return 1
    try:
        print(banner(sandbox), file=out, flush=True)
        _wait_for_stop_signal()
    finally:
        sandbox.stop()
    print("boardsync sandbox: stopped", file=out, flush=True)
    return 0


def _listen_hint(exc: PortUnavailable) -> str:
    if exc.errno in (errno.EADDRINUSE, errno.EACCES):
        return f"choose another port with --{exc.board}-port (0 takes any free one)"
    return "check --host: it must be an address of this machine"


def _wait_for_stop_signal() -> None:
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # A timed wait, so the main thread wakes up for the signal handler on every platform.
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
