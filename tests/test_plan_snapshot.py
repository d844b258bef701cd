"""`plan` is read-only (beside a writer, on a missing database), the daemon's last observed
state as a snapshot, and `plan --snapshot`: the boards as the snapshot holds them, with no
board request and no board secret. Against the sandbox over loopback."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from boardsync.reconcile import render
from tests.reconcile_helpers import Workspace


def _dump(ws: Workspace) -> list[str]:
    """Every row of the state database, as SQL: two equal dumps are equal databases."""
    connection = sqlite3.connect(f"file:{ws.root / 'state.db'}?mode=ro", uri=True)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def _changes(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (c["provider"], c["posting"], c["action"], json.dumps(c["fields"], sort_keys=True))
        for c in document["changes"]
    )


def _edit_the_source(ws: Workspace) -> None:
    """A pull request's worth of edits: one posting changed, one removed."""
    ws.edit_posting("backend-engineer", "title: Senior Backend Engineer", "title: Staff Backend Engineer")
    ws.remove_posting("warehouse-associate")


@pytest.fixture
def lock_holder(synced: Workspace) -> Any:
    """Another process holding the state database's writer lock, as a running daemon does."""
    url = f"sqlite:///{synced.root / 'state.db'}"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import time; from boardsync.daemon.lock import acquire_writer_lock as a; "
         f"a({url!r}, command='daemon'); print('held', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    yield holder
    holder.kill()
    holder.wait()


# ------------------------------------------------------------------------------ read-only


@pytest.mark.slow
def test_plan_beside_a_held_writer_lock_plans_and_writes_nothing(synced: Workspace, lock_holder: Any) -> None:
    """While another process holds the writer lock, `plan` and `reconcile --dry-run` still
    plan (exit 2: changes pending), and the state database is byte-for-byte the same rows:
    no run row, no removal counted, no observation."""
    _edit_the_source(synced)
    before = _dump(synced)
    planned = synced.run("plan", "--wait", "0")
    assert planned.code == 2, planned.err
    assert "backend-engineer: update" in planned.out and "warehouse-associate" in planned.out
    assert "lock" not in planned.err
    dry = synced.run("reconcile", "--dry-run", "--wait", "0")
    assert dry.code == 2, dry.err
    assert " run - pending in " in dry.out  # no run id: no row was written
    assert _dump(synced) == before


def test_plans_use_no_run_id_and_count_no_removal(synced: Workspace) -> None:
    """Plans between two runs leave no trace: the next run's id follows the last run's, and
    a removal is counted once per real run, not per plan."""
    synced.remove_posting("warehouse-associate")
    for _ in range(3):
        assert synced.run("plan").code == 2
    assert synced.run("reconcile").code == 2
    connection = sqlite3.connect(synced.root / "state.db")
    runs = [kind for (kind,) in connection.execute("SELECT kind FROM run ORDER BY id")]
    reads = {r for (r,) in connection.execute(
        "SELECT absent_reads FROM binding WHERE posting_key = 'warehouse-associate'")}
    connection.close()
    assert runs == ["reconcile", "reconcile"] and reads == {1}


def test_plan_on_a_missing_database_plans_against_an_empty_state_and_creates_nothing(ws: Workspace) -> None:
    """With no state database yet (a fresh CI checkout), `plan` plans every create (exit 2)
    and leaves no file behind; `status` still refuses, naming the missing database."""
    planned = json.loads(ws.run("plan", "--json").out)
    assert planned["counts"]["create"] == 12
    assert ws.run("reconcile", "--dry-run").code == 2
    assert not (ws.root / "state.db").exists()
    assert sorted(p.name for p in ws.root.iterdir()) == ["boardsync.yaml", "postings"]
    status = ws.run("status")
    assert status.code == 1 and "no state database" in status.err


# ------------------------------------------------------------------------------ snapshot


def _snapshot(ws: Workspace) -> dict[str, Any]:
    ran = ws.run("snapshot", "--out", str(ws.root / "snap.json"))
    assert ran.code == 0, ran.err
    return json.loads((ws.root / "snap.json").read_text())  # type: ignore[no-any-return]


def test_a_snapshot_after_a_reconcile_holds_bindings_and_observations_and_no_secret_or_link(
    synced: Workspace,
) -> None:
    """After a reconcile run, the snapshot holds each board's bindings and the jobs its read
    showed; no configured secret, no signed link and no tracked source URL is in it."""
    links = synced.run("links")
    assert links.code == 0
    document = _snapshot(synced)
    assert document["format"] == "boardsync.snapshot" and document["version"] == 1
    assert document["config_digest"] == synced.desired().digest
    boards = document["boards"]
    for board, jobs in (("sorce", synced.sorce_jobs()), ("hirempire", synced.hirempire_jobs())):
        view = boards[board]["view"]
        assert sorted(j["id"] for j in view["jobs"]) == sorted(j["id"] for j in jobs)
        bound = {b["posting"]: b["remote_id"] for b in boards[board]["bindings"]}
        assert bound["backend-engineer"] == synced.remote_id("backend-engineer", board)
        assert boards[board]["observed_at"]
    assert {b["posting"] for b in boards["recruitifi"]["bindings"]} >= {"backend-engineer"}
    assert all(b["link_expires_at"] for b in boards["recruitifi"]["bindings"])

    text = (synced.root / "snap.json").read_text()
    connection = sqlite3.connect(synced.root / "state.db")
    signed = [url for (url,) in connection.execute("SELECT url FROM signed_link")]
    connection.close()
    sources = [s["source_url"] for j in synced.hirempire_jobs() for s in j["sources"]["items"]]
    assert signed and sources
    for value in [*synced.sandbox.credentials().values(), *signed, *sources]:
        assert value not in text
    assert "token=" not in text and "signature" not in text.lower()


def test_snapshot_of_a_missing_database_is_refused(ws: Workspace) -> None:
    """No database: nothing was ever observed, so `snapshot` says so and exits 1."""
    ran = ws.run("snapshot", "--out", str(ws.root / "snap.json"))
    assert ran.code == 1 and "no state database" in ran.err
    assert not (ws.root / "snap.json").exists()


# ------------------------------------------------------------------------------ plan --snapshot


@pytest.mark.slow
def test_plan_against_a_snapshot_needs_no_secret_sends_no_request_and_matches_a_live_plan(
    synced: Workspace, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The postings edited after the snapshot: with every board secret unset, `plan
    --snapshot` exits 2 with exactly the changes a live plan shows, and no board gets a
    single request."""
    _snapshot(synced)
    _edit_the_source(synced)
    text = synced.posting_file("support-specialist").read_text()
    (synced.postings / "night-support.yaml").write_text(
        text.replace("key: support-specialist", "key: night-support")
        .replace("title: Customer Support Specialist", "title: Night Support Specialist")
        .replace("status: paused", "status: active")
    )
    live = synced.run("plan", "--json")
    assert live.code == 2, live.err
    for name in synced.sandbox.credentials():
        monkeypatch.delenv(name)
    synced.clear_counts()

    offline = synced.run("plan", "--json", "--snapshot", str(synced.root / "snap.json"))
    assert offline.code == 2, offline.err
    planned = json.loads(offline.out)
    assert _changes(planned) == _changes(json.loads(live.out))
    assert {c["action"] for c in planned["changes"]} >= {"create", "update"}
    assert planned["removed"] and planned["snapshot"]["age_seconds"] >= 0
    assert synced.counts() == {"sorce": {}, "hirempire": {}, "recruitifi": {}}
    assert not (synced.root / "state.db-journal").exists()


def test_plan_against_an_unchanged_snapshot_exits_0(synced: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing edited since the snapshot of a converged state: the boards match, exit 0."""
    _snapshot(synced)
    for name in synced.sandbox.credentials():
        monkeypatch.delenv(name)
    ran = synced.run("plan", "--snapshot", str(synced.root / "snap.json"))
    assert ran.code == 0, ran.out + ran.err
    assert synced.counts() == {"sorce": {}, "hirempire": {}, "recruitifi": {}}


def test_a_plan_against_a_snapshot_with_a_lost_create_asks_no_board(
    synced: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create's answer was lost, then a snapshot taken (its recorded list, read before the
    create, does not show the job): the plan against it looks only through what was recorded,
    sends nothing, and plans rather than fail."""
    from boardsync.sandbox.core import Fault

    text = synced.posting_file("support-specialist").read_text()
    (synced.postings / "night-support.yaml").write_text(
        text.replace("key: support-specialist", "key: night-support")
        .replace("title: Customer Support Specialist", "title: Night Support Specialist")
    )
    synced.sandbox.sorce.faults.add(Fault("lost_response", method="POST", path=r".*/jobs", times=1))
    assert synced.run("reconcile", "--provider", "sorce", "--posting", "night-support").code == 2
    _snapshot(synced)
    for name in synced.sandbox.credentials():
        monkeypatch.delenv(name)
    synced.clear_counts()
    ran = synced.run("plan", "--snapshot", str(synced.root / "snap.json"))
    assert ran.code == 2, ran.out + ran.err
    assert synced.counts() == {"sorce": {}, "hirempire": {}, "recruitifi": {}}


def test_plan_against_a_snapshot_says_how_old_it_is(synced: Workspace) -> None:
    """A snapshot whose boards were last read 3 h 5 min ago: the text, the Markdown and the
    JSON plan each say so."""
    document = _snapshot(synced)
    then = datetime.now(UTC) - timedelta(hours=3, minutes=5)
    document["taken_at"] = then.isoformat()
    for board in document["boards"].values():
        if board["observed_at"]:
            board["observed_at"] = then.isoformat()
    path = synced.root / "old.json"
    path.write_text(json.dumps(document))
    text = synced.run("plan", "--snapshot", str(path))
    assert text.code == 0 and "boards last read 3 h 5 min ago" in text.out, text.out
    markdown = synced.run("plan", "--markdown", "--snapshot", str(path)).out
    assert "boards last read 3 h 5 min ago" in markdown
    planned = json.loads(synced.run("plan", "--json", "--snapshot", str(path)).out)
    assert 3 * 3600 + 5 * 60 <= planned["snapshot"]["age_seconds"] < 3 * 3600 + 6 * 60
    assert planned["snapshot"]["observed_at"] == then.isoformat()
    live = json.loads(synced.run("plan", "--json").out)
    assert live["snapshot"] is None
    assert render.load_schema()["properties"]["snapshot"]


@pytest.mark.parametrize(("content", "says"), [
    ("{not json", "snap.json:1:2: not JSON"),
    ('{"format": "boardsync.plan"}', "not a boardsync snapshot"),
    ('{"format": "boardsync.snapshot", "version": 9}', "a snapshot of version 9"),
    ('{"format": "boardsync.snapshot", "version": 1, "taken_at": "x", "boards": {}}', "cannot be read as a snapshot"),
])
def test_a_bad_snapshot_is_an_error_naming_the_file(synced: Workspace, content: str, says: str) -> None:
    """A file that is not a snapshot this boardsync reads: exit 1, naming the file and why."""
    path = synced.root / "snap.json"
    path.write_text(content)
    ran = synced.run("plan", "--snapshot", str(path))
    assert ran.code == 1 and says in ran.err, ran.err


def test_snapshot_to_stdout_is_the_same_document(synced: Workspace) -> None:
    """Without --out the document goes to stdout."""
    ran = synced.run("snapshot")
    assert ran.code == 0 and json.loads(ran.out)["format"] == "boardsync.snapshot"


