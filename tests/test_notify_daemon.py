"""The daemon delivers the outbox, as a real process killed with SIGKILL: an event written
before the kill and not yet taken is delivered once after the restart; one the target took
before the kill is never sent again."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from boardsync.sandbox.server import Sandbox
from boardsync.state import open_store
from boardsync.state.tables import OutboxDelivery
from tests.notify_helpers import Receiver, add_notify, receiver
from tests.test_daemon_service import EXAMPLES, DaemonProcess, NotifySocket, Workspace, wait_for

pytestmark = pytest.mark.slow

DRIFT_TITLE = "boardsync: drift on sorce for product-designer"


class Told(Workspace):
    """The daemon's workspace with one notification target, the receiver, told of drift."""

    hook: Receiver

    def env(self, notify: NotifySocket) -> dict[str, str]:
        return super().env(notify) | {"NOTIFY_URL": self.hook.url()}


@pytest.fixture
def told(tmp_path: Path, sandbox: Sandbox) -> Iterator[Told]:
    shutil.copytree(EXAMPLES / "postings", tmp_path / "postings")
    with receiver() as hook:
        ws = Told(tmp_path, sandbox)
        ws.hook = hook
        ws.write_config()
        add_notify(ws.config, [{"url": "${NOTIFY_URL}", "events": ["drift"]}], policy={"self_heal": False})
        yield ws
    sandbox.clock.reset()


@pytest.fixture
def start(told: Told, tmp_path: Path) -> Iterator[Callable[[], DaemonProcess]]:
    notify = NotifySocket(tmp_path / "notify.sock")
    started: list[DaemonProcess] = []

    def _start() -> DaemonProcess:
        started.append(DaemonProcess(told, notify))
        return started[-1]

    yield _start
    for daemon in started:
        daemon.finish()
    notify.close()


def _edit_by_hand(told: Told) -> None:
    (job,) = [j for j in told.sandbox.sorce.snapshot()["jobs"] if j["title"] == "Product Designer"]
    told.sandbox.sorce.edit_job(job["id"], title="Edited by hand")


def _delivered(told: Told) -> int:
    with open_store(told.state_url, read_only=True) as store, store.session() as session:
        return len(session.exec(select(OutboxDelivery).where(col(OutboxDelivery.delivered_at).is_not(None))).all())


def _runs(daemon: DaemonProcess) -> int:
    return len(daemon.events("run_finished", kind="reconcile"))


def test_an_event_not_delivered_before_a_kill_is_delivered_once_after_the_restart(
    told: Told, start: Callable[[], DaemonProcess],
) -> None:
    """The target refuses while the first daemon writes the drift event; the daemon is killed
    (SIGKILL) with the event owed; the restarted daemon delivers it, once, and no more."""
    told.hook.always = 500
    first = start()
    first.wait_converged()
    _edit_by_hand(told)
    wait_for("a delivery refused", lambda: told.hook.attempts >= 1 or None, timeout=20)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    assert told.hook.messages == []
    told.hook.always = None
    second = start()
    wait_for("the drift told", lambda: told.hook.titles() or None, timeout=20)
    runs = _runs(second)
    wait_for("three more runs", lambda: _runs(second) >= runs + 3 or None, timeout=20)
    second.assert_alive()
    assert told.hook.titles() == [DRIFT_TITLE]


def test_an_event_delivered_before_a_kill_is_not_sent_again(
    told: Told, start: Callable[[], DaemonProcess],
) -> None:
    """The target took the drift event; the daemon is killed (SIGKILL); the restarted daemon
    runs on and sends nothing more."""
    first = start()
    first.wait_converged()
    _edit_by_hand(told)
    wait_for("the drift told", lambda: told.hook.titles() or None, timeout=20)
    # Killed once the answer is recorded: a kill between the target's answer and that commit
    # (a few milliseconds) would send it again, as a delivery nobody saw taken.
    wait_for("the delivery recorded", lambda: _delivered(told) or None, timeout=20)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    second = start()
    wait_for("the restarted daemon's runs", lambda: _runs(second) >= 3 or None, timeout=20)
    second.assert_alive()
    assert told.hook.titles() == [DRIFT_TITLE]
    assert told.hook.attempts == 1


def test_a_config_edit_that_fails_validation_is_told(told: Told, start: Callable[[], DaemonProcess]) -> None:
    """A posting broken on disk is refused by the daemon's reload and told, naming the file
    and the command that shows more; the daemon runs on."""
    add_notify(told.config, [{"url": "${NOTIFY_URL}", "events": ["config_refused"]}])
    daemon = start()
    daemon.wait_converged()
    posting = told.posting("product-designer")
    posting.write_text(posting.read_text().replace("title: Product Designer", "title: ''"))
    wait_for("the refusal told", lambda: told.hook.messages or None, timeout=20)
    (message,) = told.hook.messages
    assert message["title"] == "boardsync: the config boardsync.yaml was refused"
    assert "product-designer.yaml" in message["message"] and "boardsync validate" in message["message"]
    daemon.assert_alive()
