"""`boardsync demo` tells its whole story on the sandbox boards: the facts are checked where
they live, in the state database and on the simulated boards, not only in the exit code."""

from __future__ import annotations

import contextlib
import io
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from boardsync import cli, demo
from boardsync.config import load
from boardsync.sandbox.core import Fault
from boardsync.sandbox.server import Sandbox
from boardsync.state import Store, open_store

pytestmark = pytest.mark.slow


class RecordedSandbox(Sandbox):
    """The real sandbox, remembered once started, so a test can look at the boards after."""

    last: RecordedSandbox | None = None
    addresses: tuple[tuple[str, int], ...] = ()

    def start(self) -> RecordedSandbox:
        super().start()
        RecordedSandbox.last = self
        self.addresses = tuple(
            (url.host, url.port)  # type: ignore[misc]
            for url in (httpx.URL(self.server_url(board)) for board in ("sorce", "hirempire", "recruitifi"))
        )
        return self


@dataclass
class DemoRun:
    code: int
    output: str
    workdir: Path
    sandbox: RecordedSandbox

    def store(self) -> Store:
        return open_store(load(self.workdir / "boardsync.yaml").state_url)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """`boardsync demo --workdir DIR` run once, exactly as a user runs it."""
    workdir = tmp_path_factory.mktemp("demo") / "kept"
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setattr(demo, "Sandbox", RecordedSandbox)
        code = cli.main(["demo", "--workdir", str(workdir)])
    sandbox = RecordedSandbox.last
    assert sandbox is not None, out.getvalue()
    yield DemoRun(code, out.getvalue(), workdir, sandbox)


def test_demo_exits_0_after_every_step_and_names_the_commands_to_look_again(demo_run: DemoRun) -> None:
    """The demo ends with success, having told all its steps, and says how to reopen its state."""
    assert demo_run.code == 0, demo_run.output
    assert "[11/11]" in demo_run.output
    assert f"boardsync status -c {demo_run.workdir.resolve() / 'boardsync.yaml'}" in demo_run.output
    for command in ("validate", "plan", "reconcile", "status", "drift", "visits"):
        assert f"$ boardsync {command} -c " in demo_run.output


def test_the_report_command_the_demo_names_writes_the_dashboard(demo_run: DemoRun) -> None:
    """The line the demo ends with, run as printed, writes the dashboard of the demo's state
    after its boards have stopped (the report reads the state database alone)."""
    workdir = demo_run.workdir.resolve()
    report = workdir / "report.html"
    line = f"boardsync report --html {report} -c {workdir / 'boardsync.yaml'}"
    assert line in demo_run.output
    assert cli.main(line.split()[1:]) == 0
    page = report.read_text()
    assert "<h1>Postings on the boards</h1>" in page and demo.EDITED_POSTING in page


def test_every_posting_exists_once_on_each_board_it_names(demo_run: DemoRun) -> None:
    """Each posting's job exists exactly once on Sorce and on Hirempire, and it is the one bound."""
    desired = load(demo_run.workdir / "boardsync.yaml")
    with demo_run.store() as store:
        rows = store.status_rows()
    for board, jobs in (("sorce", demo_run.sandbox.sorce.jobs()), ("hirempire", demo_run.sandbox.hirempire.jobs())):
        bound = {r.posting: r.remote_id for r in rows if r.provider == board and r.remote_id}
        sent = {p.key for p in desired.postings if board in p.boards.names() and p.status.value != "closed"}
        assert set(bound) == sent
        assert sorted(job["id"] for job in jobs) == sorted(bound.values())


def test_hand_edit_is_recorded_as_drift_then_corrected_on_the_board(demo_run: DemoRun) -> None:
    """The title typed in Sorce's dashboard is one drift row, resolved as corrected, and the job
    on the board carries the desired title again."""
    desired = load(demo_run.workdir / "boardsync.yaml").posting(demo.EDITED_POSTING)
    with demo_run.store() as store:
        drift = store.drift_rows()
        job_id = next(r.remote_id for r in store.status_rows()
                      if r.posting == demo.EDITED_POSTING and r.provider == "sorce")
    assert [(d.posting, d.provider, d.field, d.observed) for d in drift] == [
        (demo.EDITED_POSTING, "sorce", "title", demo.EDITED_TITLE)
    ]
    assert drift[0].resolved_at is not None and drift[0].resolution == "corrected"
    job = next(j for j in demo_run.sandbox.sorce.jobs() if j["id"] == job_id)
    assert job["title"] == desired.title != demo.EDITED_TITLE


def test_opened_source_urls_and_applicants_are_recorded_per_channel(demo_run: DemoRun) -> None:
    """Every GET of a source URL is a visit in the state, and every candidate an applicant of
    the channel they came through; Sorce's applications count for the whole posting."""
    with demo_run.store() as store:
        rows = store.visit_rows(since=datetime.now(UTC) - timedelta(days=7))
    visits = {(r.posting, r.provider, r.channel): r.visits for r in rows if r.visits}
    applicants = {(r.posting, r.provider, r.channel): r.applicants for r in rows if r.applicants}
    assert visits == {(posting, "hirempire", channel): n for posting, channel, n in demo.VISITS}
    for posting, channel in set(demo.CANDIDATES):
        assert applicants[(posting, "hirempire", channel)] == demo.CANDIDATES.count((posting, channel))
    for posting, count in demo.SORCE_APPLICATIONS:
        assert applicants[(posting, "sorce", "*")] == count


def test_demo_stops_its_servers_when_it_ends(demo_run: DemoRun) -> None:
    """No board is still listening once the demo is over."""
    assert len(demo_run.sandbox.addresses) == 3
    for address in demo_run.sandbox.addresses:
        with pytest.raises(OSError), socket.create_connection(address, timeout=1):
            pass


class RefusingSorce(RecordedSandbox):
    """A sandbox whose Sorce refuses every key, so the first sync cannot converge."""

    def start(self) -> RefusingSorce:
        super().start()
        self.sorce.faults.add(Fault(kind="status", status=401, times=None))
        return self


def test_a_step_that_goes_wrong_ends_the_demo_with_1_and_stops_its_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """When a command does not end as the story needs, the demo says which and exits 1, and no
    board is left listening."""
    monkeypatch.setattr(demo, "Sandbox", RefusingSorce)
    assert cli.main(["demo", "--workdir", str(tmp_path / "demo")]) == 1
    assert "`boardsync reconcile` exited 2; the story expected 0" in capsys.readouterr().err
    sandbox = RecordedSandbox.last
    assert isinstance(sandbox, RefusingSorce)
    for address in sandbox.addresses:
        with pytest.raises(OSError), socket.create_connection(address, timeout=1):
            pass


def test_demo_refuses_a_workdir_that_holds_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder with someone's files in it is not overwritten: exit 1, and the folder is named."""
    (tmp_path / "notes.txt").write_text("mine\n")
    assert cli.main(["demo", "--workdir", str(tmp_path)]) == 1
    assert f"--workdir {tmp_path}: not an empty folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_missing_example_repository_says_where_it_looked_and_what_to_do(tmp_path: Path) -> None:
    """Without examples/ the demo names the folders it tried and how to get them."""
    nowhere = tmp_path / "examples"
    with pytest.raises(demo.DemoError, match="pip install -e") as raised:
        demo.find_examples([nowhere])
    assert str(nowhere) in str(raised.value)
