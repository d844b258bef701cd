"""Workspaces: one state database holding the state of several root configs, each chosen by
`--workspace` (or $BOARDSYNC_WORKSPACE), its rows apart from every other's, its own writer lock."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from boardsync import cli
from boardsync.config.loader import workspace_url
from boardsync.daemon.fleet import FleetError, read_workspaces, share_of
from boardsync.daemon.lock import WriterLockHeld, acquire_writer_lock, workspace_key
from boardsync.errors import StateError
from boardsync.state.db import create_engine, is_postgresql
from tests.reconcile_helpers import Workspace


def _bindings(url: str) -> int:
    engine = create_engine(url, read_only=True)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text("SELECT count(*) FROM binding")).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.both_engines
def test_a_workspace_keeps_its_rows_apart_from_the_others(ws: Workspace) -> None:
    """A reconcile in workspace `acme` writes only there: its status shows the pairs, the
    default workspace and another one hold none of them."""
    assert ws.run("reconcile", "--workspace", "acme").code == 0
    status = ws.run("status", "--json", "--workspace", "acme")
    assert status.code == 0, status.err
    pairs = json.loads(status.out)
    synced = [p for p in pairs if p["remote_id"]]
    assert synced

    base = ws.desired().state_url
    acme = workspace_url(base, "acme")
    assert acme != base
    assert _bindings(acme) >= len(synced)
    if is_postgresql(base):
        engine = create_engine(base, read_only=True)
        with engine.connect() as connection:
            schemas = set(connection.execute(sa.text("SELECT nspname FROM pg_namespace")).scalars())
            assert "ws_acme" in schemas
            public = connection.execute(sa.text("SELECT to_regclass('public.binding')")).scalar()
        engine.dispose()
        assert public is None  # nothing was written to the default workspace
        # Another workspace is empty, not a view of acme's rows.
        other = ws.run("status", "--json", "--workspace", "globex")
        assert other.code == 0
        assert not [p for p in json.loads(other.out) if p["remote_id"]]
    else:
        assert (ws.root / "state.acme.db").is_file()
        assert not (ws.root / "state.db").exists()
        other = ws.run("status", "--workspace", "globex")
        assert other.code == 1 and "state.globex.db" in other.err


def test_the_workspace_comes_from_the_environment_too(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOARDSYNC_WORKSPACE", "initech")
    assert ws.run("reconcile").code == 0
    assert (ws.root / "state.initech.db").is_file()
    assert not (ws.root / "state.db").exists()


def test_a_name_that_cannot_name_a_workspace_is_refused(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["status", "--workspace", "Acme-Corp", "-c", str(ws.root / "boardsync.yaml")])
    assert exited.value.code == 1  # a usage error
    assert "'Acme-Corp' cannot name a workspace" in capsys.readouterr().err


def test_a_sqlite_url_naming_a_workspace_is_refused_with_the_way_to_name_one(ws: Workspace) -> None:
    ws.state = "sqlite:///state.db?workspace=acme"
    ws.write_config()
    ran = ws.run("reconcile")
    assert ran.code == 1
    assert "--workspace" in ran.err


def test_each_workspace_has_its_own_writer_lock(state_url: str) -> None:
    """Holding one workspace's lock neither blocks another's nor lets a second writer in."""
    acme, globex = workspace_url(state_url, "acme"), workspace_url(state_url, "globex")
    with acquire_writer_lock(acme, command="daemon"):
        with acquire_writer_lock(globex, command="reconcile"):
            pass
        with acquire_writer_lock(state_url, command="reconcile"):  # the default workspace
            pass
        with pytest.raises(WriterLockHeld, match="boardsync daemon"):
            acquire_writer_lock(acme, command="reconcile")


def test_workspace_lock_keys_are_apart_from_the_default_one() -> None:
    assert workspace_key("default") == 1
    keys = {workspace_key(f"w{i}") for i in range(200)}
    assert 1 not in keys and len(keys) == 200
    assert all(2 <= k < 2**31 for k in keys)


@pytest.mark.parametrize(("members", "count"), [(1, 6), (3, 6), (2, 6), (4, 6), (3, 7), (4, 30), (7, 3)])
def test_shares_cover_every_workspace_and_differ_by_one_at_most(members: int, count: int) -> None:
    shares = [share_of(rank, members, count) for rank in range(members)]
    assert sum(shares) == count
    assert max(shares) - min(shares) <= 1


def _root(folder: Path, name: str, state: str) -> None:
    (folder / f"{name}.yaml").write_text(
        f"version: 1\nstate: {state}\npostings: {name}/\nproviders:\n  sorce:\n    api_key: '${{SORCE_KEY}}'\n"
    )
    (folder / name).mkdir(exist_ok=True)


def test_serving_workspaces_needs_postgresql_and_one_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SORCE_KEY", "sk_live_" + "a" * 32)
    with pytest.raises(FleetError, match="no root file"):
        read_workspaces(tmp_path)
    _root(tmp_path, "acme", "sqlite:///state.db")
    with pytest.raises(FleetError, match="needs the state in PostgreSQL"):
        read_workspaces(tmp_path)
    _root(tmp_path, "acme", "postgresql://u@127.0.0.1:1/one")
    _root(tmp_path, "globex", "postgresql://u@127.0.0.1:1/two")
    with pytest.raises(FleetError, match="one database"):
        read_workspaces(tmp_path)
    _root(tmp_path, "globex", "postgresql://u@127.0.0.1:1/one")
    (tmp_path / "Bad-Name.yaml").write_text("version: 1\n")
    with pytest.raises(FleetError, match="Bad-Name.yaml"):
        read_workspaces(tmp_path)
    (tmp_path / "Bad-Name.yaml").unlink()
    found, url = read_workspaces(tmp_path)
    assert sorted(found) == ["acme", "globex"]
    assert url == "postgresql://u@127.0.0.1:1/one"
    assert found["acme"].listen == "127.0.0.1:0"  # not set: a free loopback port


def test_an_in_memory_database_holds_only_the_default_workspace() -> None:
    assert workspace_url("sqlite://", "default") == "sqlite://"
    with pytest.raises(StateError, match="in-memory"):
        workspace_url("sqlite://", "acme")


def test_a_workspace_whose_process_keeps_failing_is_paused_longer_each_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A workspace process that exits soon after it started (a wrong root file, or its lock
    taken meanwhile) is not started again at the next look: it waits, twice as long after each
    failure, while the other workspaces are started as their turn comes."""
    import subprocess
    import sys

    from boardsync.daemon import fleet as fleet_module
    from boardsync.daemon.fleet import Fleet, Workspace as Served

    clock = [1000.0]
    monkeypatch.setattr(fleet_module.time, "monotonic", lambda: clock[0])
    fleet = Fleet(tmp_path, check_every=1.0)
    started: list[str] = []
    monkeypatch.setattr(fleet, "_start", lambda w: started.append(w.name))
    found = {name: Served(name, tmp_path / f"{name}.yaml", "127.0.0.1:0") for name in ("acme", "globex")}

    def fail_once() -> None:
        process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
        process.wait()
        fleet._running["acme"] = fleet_module._Running(found["acme"], process, started=clock[0])
        fleet._reap()

    fail_once()
    fleet._balance(found, rank=0, members=1, held=set())
    assert started == ["globex"]  # acme waits
    clock[0] += fleet_module._PAUSE_FIRST + 0.1
    started.clear()
    fleet._running.pop("globex", None)
    fleet._balance({"acme": found["acme"]}, rank=0, members=1, held=set())
    assert started == ["acme"]  # tried again after the first pause
    fail_once()
    clock[0] += fleet_module._PAUSE_FIRST + 0.1
    started.clear()
    fleet._balance({"acme": found["acme"]}, rank=0, members=1, held=set())
    assert started == []  # the second pause is twice as long
    clock[0] += fleet_module._PAUSE_FIRST
    fleet._balance({"acme": found["acme"]}, rank=0, members=1, held=set())
    assert started == ["acme"]


@pytest.mark.both_engines
def test_workspaces_lists_each_with_its_writer_and_last_reconcile(ws: Workspace) -> None:
    """`boardsync workspaces` lists the database's workspaces, whichever one -c selects: who
    writes each now (nobody, or the holder of its lock) and how its last reconcile ended."""
    assert ws.run("reconcile").code == 0
    assert ws.run("reconcile", "--workspace", "acme").code == 0
    listed = ws.run("workspaces", "--json", "--workspace", "acme")
    assert listed.code == 0, listed.err
    rows = {row["workspace"]: row for row in json.loads(listed.out)}
    assert set(rows) == {"default", "acme"}
    assert all(row["writer"] is None and row["outcome"] == "converged" and row["last_reconcile"]
               for row in rows.values())
    acme = workspace_url(ws.desired().state_url, "acme")
    with acquire_writer_lock(acme, command="daemon"):
        rows = {row["workspace"]: row for row in json.loads(ws.run("workspaces", "--json").out)}
    assert rows["acme"]["writer"]["pid"] == os.getpid()
    assert rows["acme"]["writer"]["command"] == "daemon"
    assert rows["default"]["writer"] is None
    shown = ws.run("workspaces")
    assert "acme" in shown.out and "nobody" in shown.out
