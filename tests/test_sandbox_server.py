"""The three boards together: one clock, base URLs a connector can use as they are, the
credentials and config snippet, reset, and `boardsync sandbox` as a real process."""

from __future__ import annotations

import io
import os
import re
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from ruamel.yaml import YAML

from boardsync.config.model import providers_model
from boardsync.sandbox.core import Clock, Fault
from boardsync.sandbox.server import Sandbox


def free_ports(count: int) -> list[int]:
    """Ports the kernel just handed out and released, for servers started next."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture(scope="module")
def web() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def test_the_three_boards_share_one_clock(sandbox: Sandbox, web: httpx.Client) -> None:
    """Moving the sandbox clock moves every board's notion of now, over HTTP too."""
    sandbox.clock.advance(86400)
    nows = [web.get(sandbox.server_url(board) + "/_sandbox/state").json()["now"]
            for board in ("sorce", "hirempire", "recruitifi")]
    assert sandbox.sorce.clock is sandbox.hirempire.clock is sandbox.recruitifi.clock is sandbox.clock
    times = [datetime.fromisoformat(now).timestamp() for now in nows]
    assert max(times) - min(times) < 5
    assert 86390 <= times[0] - time.time() <= 86400


def test_base_urls_and_credentials_work_as_a_connector_would_use_them(sandbox: Sandbox, web: httpx.Client) -> None:
    """Each base URL plus a documented path, with the printed credentials, answers 200."""
    creds = sandbox.credentials()
    assert set(creds) == {"SORCE_API_KEY", "HIREMPIRE_TOKEN", "RECRUITIFI_CLIENT_SECRET"}
    sorce = web.get(f"{sandbox.sorce_url}/jobs", headers={"Authorization": f"Bearer {creds['SORCE_API_KEY']}"})
    assert sorce.status_code == 200 and sorce.json()["items"] == []
    hirempire = web.get(f"{sandbox.hirempire_url}/jobs", headers={"Authorization": f"Bearer {creds['HIREMPIRE_TOKEN']}"})
    assert hirempire.json() == {"success": True, "total_jobs": 0, "jobs": []}
    token = web.post(f"{sandbox.recruitifi_url}/v1/auth/token",
                     json={"client_id": "rf_partner_sandbox", "client_secret": creds["RECRUITIFI_CLIENT_SECRET"]})
    assert token.status_code == 200 and token.json()["token_type"] == "bearer"


def test_providers_yaml_is_a_valid_providers_block_with_secrets_as_references(sandbox: Sandbox) -> None:
    """The snippet parses into the config model, points at the running servers, and holds no secret."""
    text = sandbox.providers_yaml()
    for secret in sandbox.credentials().values():
        assert secret not in text
    parsed = YAML(typ="safe").load(text)["providers"]
    providers = providers_model().model_validate(parsed)
    assert providers.sorce is not None and providers.hirempire is not None and providers.recruitifi is not None
    assert providers.sorce.base_url == sandbox.sorce_url
    assert providers.sorce.api_key.get_secret_value() == "${SORCE_API_KEY}"
    assert providers.hirempire.base_url == sandbox.hirempire_url
    assert providers.hirempire.token.get_secret_value() == "${HIREMPIRE_TOKEN}"
    assert (providers.hirempire.company_id, providers.hirempire.requests_per_hour) == ("cmp_hm_sandbox", 1000)
    assert providers.recruitifi.base_url == sandbox.recruitifi_url
    assert providers.recruitifi.client_secret.get_secret_value() == "${RECRUITIFI_CLIENT_SECRET}"
    assert (providers.recruitifi.client_id, providers.recruitifi.connector_id, providers.recruitifi.client,
            providers.recruitifi.user) == ("rf_partner_sandbox", "con_sandbox", "cli_sandbox", "usr_sandbox")


def test_reset_empties_every_board_and_puts_the_clock_back(sandbox: Sandbox, web: httpx.Client) -> None:
    """reset() forgets jobs, tokens, plans and faults on all three boards and resets the clock."""
    sandbox.clock.advance(7 * 86400)
    sandbox.hirempire.set_plan("free")
    created = web.post(f"{sandbox.sorce_url}/jobs", json={"title": "Draft"},
                       headers={"Authorization": f"Bearer {sandbox.credentials()['SORCE_API_KEY']}"})
    assert created.status_code == 201
    web.post(f"{sandbox.recruitifi_url}/v1/auth/token",
             json={"client_id": "rf_partner_sandbox", "client_secret": sandbox.credentials()["RECRUITIFI_CLIENT_SECRET"]})
    sandbox.recruitifi.faults.add(Fault(kind="status"))
    sandbox.reset()
    assert abs(sandbox.clock.now().timestamp() - time.time()) < 5
    assert sandbox.sorce.jobs() == []
    assert sandbox.hirempire.snapshot()["plan"] == "pro"
    assert sandbox.recruitifi.snapshot()["tokens"] == {"valid": 0, "expired": 0}
    assert sandbox.recruitifi.faults.list() == []
    assert all(sim.request_counts() == {} for sim in (sandbox.sorce, sandbox.hirempire, sandbox.recruitifi))


def test_expired_hirempire_token_stays_expired_after_a_reset_from_the_future(sandbox: Sandbox, web: httpx.Client) -> None:
    """reset() puts the clock back before the boards, so the sandbox's expired token is expired again."""
    sandbox.clock.advance(30 * 86400)
    sandbox.reset()
    response = web.get(f"{sandbox.hirempire_url}/jobs", headers={"Authorization": "Bearer sk-sandbox-hirempire-expired"})
    assert response.json() == {"success": False, "error": "Token is expired"}


def test_a_sandbox_starts_stops_and_refuses_urls_when_not_running() -> None:
    """start() is idempotent, URLs need a running sandbox, stop() closes the ports; a given clock is used."""
    clock = Clock()
    box = Sandbox(clock=clock)
    with pytest.raises(RuntimeError):
        _ = box.sorce_url
    with box:
        assert box.start() is box
        assert box.clock is clock and box.hirempire.clock is clock
        url = box.server_url("hirempire")
        assert httpx.get(url + "/_sandbox/state").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/_sandbox/state")


def test_a_port_in_use_raises_and_leaves_nothing_running() -> None:
    """When one board's port is taken, start() raises OSError and stops the servers it had started."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    sorce_port, = free_ports(1)
    box = Sandbox(sorce_port=sorce_port, recruitifi_port=taken.getsockname()[1])
    try:
        with pytest.raises(OSError):
            box.start()
        with pytest.raises(RuntimeError):
            box.server_url("sorce")
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", sorce_port)) != 0
    finally:
        taken.close()


# ------------------------------------------------------------------------------ the command


class Output:
    """A process's stdout, read line by line by a thread, so that a silent process fails the
    test after a timeout instead of hanging it."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        stdout = proc.stdout
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in stdout], daemon=True).start()

    def until(self, marker: str, timeout: float = 15.0) -> str:
        """The lines up to the one containing `marker`."""
        seen = io.StringIO()
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            seen.write(line)
            if marker in line:
                return seen.getvalue()
        raise AssertionError(f"no {marker!r} in the output:\n{seen.getvalue()}")


@pytest.mark.slow
def test_boardsync_sandbox_serves_all_three_and_stops_on_sigterm() -> None:
    """`boardsync sandbox` prints the URLs, exports and config, answers on each board with the
    printed credentials, and exits 0 on SIGTERM."""
    ports = free_ports(3)
    proc = subprocess.Popen(
        [sys.executable, "-m", "boardsync", "sandbox", "--sorce-port", str(ports[0]),
         "--hirempire-port", str(ports[1]), "--recruitifi-port", str(ports[2])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        stdout = Output(proc)
        output = stdout.until("Ctrl-C")
        exports = dict(re.findall(r"^export (\w+)=(\S+)$", output, re.M))
        assert f"http://127.0.0.1:{ports[0]}/api/external/v1" in output
        assert f"http://127.0.0.1:{ports[1]}/v1" in output
        assert f"http://127.0.0.1:{ports[2]}" in output
        assert "providers:" in output and 'api_key: "${SORCE_API_KEY}"' in output
        with httpx.Client(timeout=5) as web:
            sorce = web.get(f"http://127.0.0.1:{ports[0]}/api/external/v1/jobs",
                            headers={"Authorization": f"Bearer {exports['SORCE_API_KEY']}"})
            hirempire = web.get(f"http://127.0.0.1:{ports[1]}/v1/jobs",
                                headers={"Authorization": f"Bearer {exports['HIREMPIRE_TOKEN']}"})
            recruitifi = web.post(f"http://127.0.0.1:{ports[2]}/v1/auth/token",
                                  json={"client_id": "rf_partner_sandbox",
                                        "client_secret": exports["RECRUITIFI_CLIENT_SECRET"]})
        assert (sorce.status_code, hirempire.status_code, recruitifi.status_code) == (200, 200, 200)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert "stopped" in stdout.until("stopped", timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_boardsync_sandbox_on_a_port_in_use_exits_1_with_a_message() -> None:
    """A taken port makes `boardsync sandbox` exit 1 naming the board, the port and the flag
    that moves it."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        others = free_ports(2)
        result = subprocess.run(
            [sys.executable, "-m", "boardsync", "sandbox", "--sorce-port", str(others[0]),
             "--hirempire-port", str(port), "--recruitifi-port", str(others[1])],
            capture_output=True, text=True, timeout=30,
        )
    assert result.returncode == 1
    assert f"hirempire cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--hirempire-port" in result.stderr


def test_a_frozen_clock_stands_still_until_moved() -> None:
    """freeze() pins now; advance() still moves it; unfreeze() runs on from there; reset() clears it."""
    from datetime import timedelta

    from boardsync.sandbox.core import Clock

    clock = Clock()
    pinned = clock.freeze()
    assert clock.now() == pinned
    assert clock.advance(30) == pinned + timedelta(seconds=30)
    resumed = clock.unfreeze()
    assert clock.now() >= resumed >= pinned + timedelta(seconds=30)
    clock.freeze()
    clock.reset()
    assert clock.now() < pinned + timedelta(seconds=30)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"kind": "status", "status": "x"}, "status must be an HTTP status"),
        ({"kind": "status", "status": 42}, "status must be an HTTP status"),
        ({"kind": "latency", "latency_ms": -5}, "latency_ms must be"),
        ({"kind": "status", "status": 429, "retry_after": "soon"}, "retry_after must be"),
        ({"kind": "reset", "times": 0}, "times must be"),
        ({"kind": "reset", "method": 7}, "method and path must be text"),
        ({"kind": "rewrite"}, "a rewrite fault needs rewrite or drop"),
        ({"kind": "rewrite", "rewrite": ["id"]}, "rewrite must map paths to values"),
        ({"kind": "rewrite", "drop": "id"}, "drop must be a list of paths"),
    ],
)
def test_a_fault_with_a_bad_value_is_refused_when_armed_not_when_met(
    sandbox: Sandbox, web: httpx.Client, fault: dict[str, object], message: str
) -> None:
    """POST /_sandbox/faults answers 422 for a value the fault could not act on, and arms
    nothing, so the next request is answered as usual instead of crashing the server."""
    for board in ("sorce", "hirempire", "recruitifi"):
        answer = web.post(f"{sandbox.server_url(board)}/_sandbox/faults", json=fault)
        assert answer.status_code == 422 and message in answer.json()["error"]
        assert web.get(f"{sandbox.server_url(board)}/_sandbox/faults").json() == {"faults": []}


def test_a_rewrite_fault_edits_the_boards_own_answer(sandbox: Sandbox, web: httpx.Client) -> None:
    """The board carries the request out; its JSON answer comes back with the values set and
    the keys dropped at each path (every item for ``[*]``), and a consistent length."""
    auth = {"Authorization": "Bearer sk-sandbox-hirempire"}
    web.post(f"{sandbox.server_url('hirempire')}/_sandbox/faults", json={
        "kind": "rewrite", "method": "GET", "path": "/v1/jobs",
        "rewrite": {"jobs[*].id": 7, "total_jobs": "many", "nowhere[0].x": 1}, "drop": ["jobs[0].job_title"],
    })
    assert web.post(f"{sandbox.hirempire_url}/add-job", json=_an_add_job_body(), headers=auth).status_code == 201
    answer = web.get(f"{sandbox.hirempire_url}/jobs", headers=auth)
    assert answer.status_code == 200 and int(answer.headers["content-length"]) == len(answer.content)
    document = answer.json()
    assert document["total_jobs"] == "many" and [job["id"] for job in document["jobs"]] == [7]
    assert "job_title" not in document["jobs"][0] and "nowhere" not in document
    assert web.get(f"{sandbox.hirempire_url}/jobs", headers=auth).json()["jobs"][0]["id"] != 7  # spent


def _an_add_job_body() -> dict[str, object]:
    from boardsync.sandbox import hirempire as hirempire_sim

    return {
        "company_id": hirempire_sim.SANDBOX_COMPANY_ID, "job_title": "T", "job_description": "D",
        "department": "Design", "job_country": "Germany", "salary": 1, "currency": "EUR",
        "salary_period": "Per year", "job_type": "Full-time", "workplace": "Remote",
        "career_level": "Senior", "job_sources": ["x"],
    }


def test_a_fault_method_matches_whatever_its_case(sandbox: Sandbox, web: httpx.Client) -> None:
    """A fault armed for "get" hits GET requests, as a person writing the control expects."""
    web.post(f"{sandbox.server_url('hirempire')}/_sandbox/faults", json={"kind": "status", "method": "get", "status": 503})
    answer = web.get(f"{sandbox.hirempire_url}/jobs", headers={"Authorization": "Bearer sk-sandbox-hirempire"})
    assert answer.status_code == 503


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"advance_seconds": "a day"}, "advance_seconds must be a number"),
        ({"advance_seconds": True}, "advance_seconds must be a number"),
        ({"now": "next tuesday"}, "now must be an ISO 8601 time"),
        ({}, "give advance_seconds or now"),
    ],
)
def test_the_clock_control_refuses_what_is_not_a_time_with_422(
    sandbox: Sandbox, web: httpx.Client, body: dict[str, object], message: str
) -> None:
    """POST /_sandbox/clock answers 422 naming what to send, and the clock does not move."""
    before = sandbox.clock.now()
    answer = web.post(f"{sandbox.server_url('sorce')}/_sandbox/clock", json=body)
    assert answer.status_code == 422 and message in answer.json()["error"]
    assert abs((sandbox.clock.now() - before).total_seconds()) < 5
