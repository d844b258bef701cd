"""`boardsync demo`: a whole story against the sandbox boards, on this machine only.

It starts the three simulated boards, writes a config repository (the example postings,
pointed at the sandbox) and then, step by step: validates, syncs, lets people visit and
apply, has someone edit a job by hand on Sorce, plans (the edit is drift), syncs again (the
edit is put back), reads the metrics, and ends with status, drift and visits. The printed steps run the very commands
a user runs: the command line hands its own entry point in as `command`, so their output is
exactly what those commands print (and the demo needs no import of the command line).

The example repository is the folder ``examples/`` of a boardsync checkout: beside the
package in an editable install, or ``./examples`` in the working directory.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from boardsync import session
from boardsync.config import load
from boardsync.daemon.lock import WriterLock, acquire_writer_lock
from boardsync.errors import BoardsyncError
from boardsync.reconcile import RunResult, collect_metrics
from boardsync.sandbox.server import Sandbox
from boardsync.state import open_store

CONFIG_NAME = "boardsync.yaml"
STATE_NAME = "boardsync.db"
SECRETS_DIR = "secrets"
GITIGNORE = ".gitignore"
INDENT = "      "

EDITED_POSTING = "backend-engineer"
EDITED_TITLE = "Backend Engineer - URGENT, apply today!!"
"""What someone types over the title in Sorce's dashboard."""

VISITS: tuple[tuple[str, str, int], ...] = (
    ("backend-engineer", "linkedin", 3),
    ("backend-engineer", "indeed", 1),
    ("warehouse-associate", "craigslist", 2),
)
"""(posting, channel, how many times its tracked source URL is opened)."""

CANDIDATES: tuple[tuple[str, str], ...] = (
    ("backend-engineer", "linkedin"),
    ("backend-engineer", "linkedin"),
    ("warehouse-associate", "indeed"),
)
"""(posting, channel) of each person who applies on Hirempire."""

SORCE_APPLICATIONS: tuple[tuple[str, int], ...] = (("backend-engineer", 2),)
"""(posting, applications) on Sorce; applications freeze a job's qualifications and questions."""


Command = Callable[[Sequence[str]], int]
"""The `boardsync` command line: its arguments in, its exit code out."""


class DemoError(BoardsyncError):
    """The demo cannot run here, or a step did not end the way the story needs."""


# ------------------------------------------------------------------------------ entry point


def run_demo(workdir: Path | None, command: Command) -> int:
    """Run the story, printing it on stdout; 0 when every step went as told, else `DemoError`.

    `workdir` keeps the config and the state database (default: a temporary folder, removed
    at the end); `command` runs a step's `boardsync` command. The boards' servers are stopped
    at the end, whatever happens."""
    examples = find_examples()
    with ExitStack() as stack:
        folder = stack.enter_context(_workdir(workdir))
        boards = Sandbox()
        stack.callback(boards.stop)
        Story(boards, folder, examples, kept=workdir is not None, command=command).tell()
    return 0


def find_examples(candidates: Sequence[Path] | None = None) -> Path:
    """The example repository: `examples/` beside the package (an editable install from a
    checkout), else `./examples`."""
    if candidates is None:
        candidates = [Path(__file__).resolve().parent.parent / "examples", Path.cwd() / "examples"]
    for folder in candidates:
        if (folder / CONFIG_NAME).is_file() and (folder / "postings").is_dir():
            return folder
    looked = ", ".join(str(c) for c in dict.fromkeys(candidates))
    raise DemoError(
        "the example repository (examples/ of a boardsync checkout) was not found "
        f"(looked in {looked}); install boardsync with `pip install -e .` from a clone, "
        "or run the demo from the clone's root folder"
    )


@contextmanager
def _workdir(workdir: Path | None) -> Iterator[Path]:
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="boardsync-demo-") as scratch:
            yield Path(scratch)
        return
    if workdir.exists() and (not workdir.is_dir() or any(workdir.iterdir())):
        raise DemoError(f"--workdir {workdir}: not an empty folder; give a new or empty one")
    workdir.mkdir(parents=True, exist_ok=True)
    yield workdir.resolve()


# ------------------------------------------------------------------------------ the story


@dataclass
class Story:
    sandbox: Sandbox
    workdir: Path
    examples: Path
    kept: bool
    command: Command

    @property
    def config(self) -> Path:
        return self.workdir / CONFIG_NAME

    def chapters(self) -> list[tuple[str, Callable[[], None]]]:
        """(what the step shows, in one line; what it does), in the order told."""
        return [
            ("Start the sandbox: Sorce, Hirempire and RecruitiFi simulators as real HTTP servers.",
             self.start_boards),
            (f"Write a config repository to {self.workdir}: the example postings, pointed at the sandbox.",
             self.write_repository),
            ("Check every posting the way the boards would, before any call.",
             lambda: self.run_cli("validate")),
            ("First sync: create and publish on Sorce, post with a tracked source URL per channel on "
             "Hirempire, link every posting on RecruitiFi (one signed link fetched; the rest when asked for).",
             lambda: self.run_cli("reconcile")),
            ("People find the jobs: open tracked Hirempire source URLs with real HTTP GETs (a visit each).",
             self.visit_sources),
            ("People apply: candidates on Hirempire through a channel, applications on Sorce.",
             self.apply),
            ("Someone edits a job by hand in Sorce's dashboard, outside boardsync.",
             self.edit_by_hand),
            ("Plan: the hand edit is drift, and with `self_heal: true` reconcile will put it back.",
             lambda: self.run_cli("plan", expect=2)),
            ("Second sync: the title goes back; visits and applicant totals are recorded on the way.",
             lambda: self.run_cli("reconcile")),
            ("Read applicants per channel, as `boardsync daemon` does every `schedule.metrics`.",
             self.read_metrics),
            ("Where things stand: every posting on every board, the drift found, the visits counted.",
             self.show_results),
        ]

    def tell(self) -> None:
        say("boardsync demo: the example postings on three simulated job boards, on this machine only.")
        chapters = self.chapters()
        for number, (what, action) in enumerate(chapters, start=1):
            say(f"\n[{number}/{len(chapters)}] {what}")
            action()
        self.epilogue()

    # -- steps --------------------------------------------------------------------------

    def start_boards(self) -> None:
        self.sandbox.start()
        detail(f"sorce       {self.sandbox.sorce_url}")
        detail(f"hirempire   {self.sandbox.hirempire_url}")
        detail(f"recruitifi  {self.sandbox.recruitifi_url}")

    def write_repository(self) -> None:
        write_repository(self.workdir, self.examples, self.sandbox)
        postings = sorted(p.name for p in (self.workdir / "postings").iterdir())
        detail(f"{CONFIG_NAME}  the sandbox boards (secrets in {SECRETS_DIR}/), state in {STATE_NAME}")
        detail(f"{GITIGNORE}      keeps {STATE_NAME} (it holds signed links), its lock and {SECRETS_DIR}/ out of git")
        detail(f"postings/       {', '.join(postings)}")

    def visit_sources(self) -> None:
        jobs = {job["id"]: job for job in self.sandbox.hirempire.jobs()}
        bound = self.remote_ids("hirempire")
        with httpx.Client(timeout=10.0) as client:
            for posting, channel, times in VISITS:
                url = _source_url(jobs[bound[posting]], channel)
                answers = {client.get(url).status_code for _ in range(times)}
                if answers != {200}:
                    raise DemoError(f"GET {url} answered {sorted(answers)}")
                detail(f"GET {url}  x{times} -> 200   {posting} via {channel}")

    def apply(self) -> None:
        hirempire = self.remote_ids("hirempire")
        for posting, channel in CANDIDATES:
            candidate = self.sandbox.hirempire.add_candidate(hirempire[posting], channel)
            detail(f"hirempire  {posting:<20} {candidate['name']} applied via {channel}")
        sorce = self.remote_ids("sorce")
        for posting, count in SORCE_APPLICATIONS:
            self.sandbox.sorce.add_applications(sorce[posting], count)
            detail(f"sorce      {posting:<20} {count} applications (its qualifications and questions freeze)")

    def edit_by_hand(self) -> None:
        job_id = self.remote_ids("sorce")[EDITED_POSTING]
        before = next(job for job in self.sandbox.sorce.jobs() if job["id"] == job_id)["title"]
        self.sandbox.sorce.edit_job(job_id, title=EDITED_TITLE)
        detail(f"sorce {job_id}  title {before!r} -> {EDITED_TITLE!r}")

    def read_metrics(self) -> None:
        result = metrics_run(self.config)
        if not result.converged:
            raise DemoError(f"reading visits and applicants did not succeed: {result.summary()}")
        detail(f"{result.counts.get('samples', 0)} counters changed since the second sync")

    def show_results(self) -> None:
        for name in ("status", "drift", "visits"):
            self.run_cli(name)

    def epilogue(self) -> None:
        if self.kept:
            say(f"\nThe files stay in {self.workdir}. The boards stopped with the demo, but the state "
                "database answers:")
            for name in ("status", "drift", "visits"):
                say(f"  {_shell('boardsync', name, '-c', str(self.config))}")
            report = self.workdir / "report.html"
            say(f"  {_shell('boardsync', 'report', '--html', str(report), '-c', str(self.config))}"
                "   (the dashboard, as one page)")
        else:
            say("\nKeep the config and the state database with `boardsync demo --workdir DIR`, then look "
                "again with `boardsync status -c DIR/boardsync.yaml`, or see it all as one page with "
                "`boardsync report --html report.html -c DIR/boardsync.yaml`.")
        say("`boardsync sandbox` keeps the boards running; the README shows how to point boardsync at them.")

    # -- helpers ------------------------------------------------------------------------

    def run_cli(self, name: str, *, expect: int = 0) -> None:
        """Run `boardsync NAME -c CONFIG` as a user would, its output unchanged."""
        argv = [name, "-c", str(self.config)]
        say(f"$ {_shell('boardsync', *argv)}")
        code = self.command(argv)
        sys.stdout.flush()
        if code != expect:
            raise DemoError(f"`boardsync {name}` exited {code}; the story expected {expect}")

    def remote_ids(self, board: str) -> dict[str, str]:
        """posting → the board's id for it, as boardsync's state database binds them."""
        return {key: remote_id for (key, provider), remote_id in bound_ids(self.config).items()
                if provider == board}


def say(text: str) -> None:
    print(text, flush=True)


def detail(text: str) -> None:
    say(f"{INDENT}{text}")


# ------------------------------------------------------------------------------ the repository


def write_repository(workdir: Path, examples: Path, sandbox: Sandbox) -> Path:
    """boardsync.yaml for the running sandbox, the example postings and their schemas, and the
    sandbox secrets as files that the config references (so later commands need no exports)."""
    shutil.copytree(examples / "postings", workdir / "postings")
    for schema in examples.glob("*.schema.json"):
        shutil.copy2(schema, workdir / schema.name)
    # The state database (signed links) and the secrets stay out of git, as in examples/.
    shutil.copy2(examples / GITIGNORE, workdir / GITIGNORE)
    providers = sandbox.providers_yaml()
    secrets = workdir / SECRETS_DIR
    secrets.mkdir(mode=0o700)
    for name, value in sandbox.credentials().items():
        path = secrets / name.lower()
        path.touch(mode=0o600)
        path.write_text(value + "\n")
        providers = providers.replace(f"${{{name}}}", f"${{file:{SECRETS_DIR}/{path.name}}}")
    config = workdir / CONFIG_NAME
    config.write_text(
        "# yaml-language-server: $schema=./boardsync.schema.json\n"
        "# Written by `boardsync demo`: the example postings on the sandbox boards.\n"
        "version: 1\n"
        f"state: sqlite:///{STATE_NAME}\n"
        "postings: postings/\n"
        f"{providers}"
        "policy:\n"
        "  self_heal: true          # undo edits made by hand on a board\n"
    )
    return config


def bound_ids(config: Path) -> dict[tuple[str, str], str]:
    """(posting, board) → remote id, as the state database binds them."""
    desired = load(config)
    with open_store(desired.state_url) as store:
        return {(r.posting, r.provider): r.remote_id for r in store.status_rows() if r.remote_id}


def metrics_run(config: Path) -> RunResult:
    """One metrics run over the config's boards, under the writer lock like any writer."""

    def lock(url: str) -> WriterLock:
        return acquire_writer_lock(url, wait=10, command="demo")

    with session.opened(config, lock=lock) as run:
        return collect_metrics(run.desired, run.store, run.connectors, trigger="command")


def _source_url(job: dict[str, Any], channel: str) -> str:
    for source in job["sources"]["items"]:
        if source["source_name"] == channel:
            return str(source["source_url"])
    raise DemoError(f"job {job['id']} has no tracked source for {channel!r}")


def _shell(*argv: str) -> str:
    return " ".join(shlex.quote(a) for a in argv)
