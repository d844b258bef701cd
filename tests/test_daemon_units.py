"""The unit files in examples/systemd pass `systemd-analyze verify`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

UNITS = Path(__file__).resolve().parents[1] / "examples" / "systemd"
NAMES = ("boardsync.service", "boardsync-reconcile.service", "boardsync-reconcile.timer", "boardsync-postgres.service",
         "boardsync-fleet.service")
SHIPPED_BINARY = "/usr/local/bin/boardsync"

analyze = shutil.which("systemd-analyze")


def _copy_with_binary(tmp_path: Path) -> list[Path]:
    """The units as shipped, with ExecStart pointing at an executable that exists here:
    verify checks that the binary exists, and where pip puts it varies by machine."""
    binary = tmp_path / "bin" / "boardsync"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    copies = []
    for name in NAMES:
        text = (UNITS / name).read_text()
        copy = tmp_path / name
        copy.write_text(text.replace(SHIPPED_BINARY, str(binary)))
        copies.append(copy)
    return copies


@pytest.mark.skipif(analyze is None, reason="systemd-analyze is not installed")
def test_shipped_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """verify exits 0 and says nothing about any of our units (unknown keys only warn)."""
    copies = _copy_with_binary(tmp_path)
    result = subprocess.run(
        [str(analyze), "verify", *map(str, copies)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    ours = [line for line in (result.stdout + result.stderr).splitlines() if any(n in line for n in NAMES)]
    assert result.returncode == 0, result.stderr
    assert ours == []


@pytest.mark.skipif(analyze is None, reason="systemd-analyze is not installed")
def test_verify_catches_a_mistyped_key(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key in the service is reported."""
    copies = _copy_with_binary(tmp_path)
    copies[0].write_text(copies[0].read_text().replace("Type=notify", "Tpye=notify"))
    result = subprocess.run([str(analyze), "verify", str(copies[0])], capture_output=True, text=True, timeout=60)
    assert "Tpye" in result.stdout + result.stderr


def test_service_speaks_the_notify_protocol_with_a_watchdog_and_the_three_credentials() -> None:
    """The daemon's unit is Type=notify, has a watchdog, and loads each secret as a credential."""
    text = (UNITS / "boardsync.service").read_text()
    assert re.search(r"^Type=notify$", text, re.M)
    assert re.search(r"^WatchdogSec=\d+", text, re.M)
    assert re.search(r"^StateDirectory=boardsync$", text, re.M)
    assert re.search(r"^ExecStart=" + re.escape(SHIPPED_BINARY) + r" daemon ", text, re.M)
    credentials = re.findall(r"^LoadCredential=(\w+):", text, re.M)
    assert sorted(credentials) == ["hirempire", "recruitifi", "sorce"]


def test_postgres_pair_unit_restarts_a_daemon_that_lost_its_lock_and_carries_the_database_secret() -> None:
    """The unit for a pair of hosts restarts the daemon after it exits 1 (its lock lost: it
    comes back as the standby), and loads the database password as a credential."""
    text = (UNITS / "boardsync-postgres.service").read_text()
    assert re.search(r"^Type=notify$", text, re.M)
    assert re.search(r"^Restart=on-failure$", text, re.M)
    assert re.search(r"^WatchdogSec=\d+", text, re.M)
    credentials = re.findall(r"^LoadCredential=(\w+):", text, re.M)
    assert sorted(credentials) == ["daemon_token", "hirempire", "postgres", "recruitifi", "sorce"]


def test_fleet_unit_serves_a_folder_of_workspaces_and_waits_for_their_calls_in_flight() -> None:
    """The fleet's unit runs `daemon --workspaces`, loads the credentials folder, and gives its
    workspace processes longer to stop than the daemon waits for each."""
    from boardsync.daemon.fleet import STOP_GRACE

    text = (UNITS / "boardsync-fleet.service").read_text()
    assert re.search(r"^Type=notify$", text, re.M)
    assert re.search(r"^ExecStart=" + re.escape(SHIPPED_BINARY) + r" daemon --workspaces /\S+$", text, re.M)
    assert re.search(r"^LoadCredential=ws:/etc/boardsync/credentials$", text, re.M)
    stop = re.search(r"^TimeoutStopSec=(\d+)s$", text, re.M)
    assert stop is not None and int(stop.group(1)) > STOP_GRACE
