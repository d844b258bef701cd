"""`boardsync status`, `drift`, `visits`, `links` and `migrate`: what they print from the state
database after real runs against the sandbox, and how they treat a database they do not know."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import timedelta

import pytest

from boardsync.state import migrations
from tests.reconcile_helpers import Workspace
from tests.schema_helpers import step_back

pytestmark = pytest.mark.slow


@pytest.mark.both_engines
def test_status_lists_every_posting_on_every_board(synced: Workspace) -> None:
    """One row per posting and board, with the board's state, and a row for the closed
    posting that was never created."""
    ran = synced.run("status")
    assert ran.code == 0
    header, *lines = ran.out.splitlines()
    assert header.split()[:5] == ["POSTING", "BOARD", "STATE", "HEALTH", "REMOTE"]
    assert any(line.split()[:3] == ["support-specialist", "sorce", "paused"] for line in lines)
    assert any(line.split()[:4] == ["intern-design-2024", "sorce", "not", "posted"] for line in lines)
    rows = json.loads(synced.run("status", "--json").out)
    assert len(rows) == len(lines)
    first = rows[0]
    assert set(first) >= {"posting", "provider", "state", "remote_id", "open_drift", "last_sync", "blocked_reason"}


@pytest.mark.both_engines
def test_drift_lists_open_and_resolved_rows(synced: Workspace) -> None:
    """`drift` shows resolved drift too; `drift --open` only what is still different."""
    job_id = synced.remote_id("product-designer", "sorce")
    synced.sandbox.sorce.edit_job(job_id, title="Edited by hand")
    synced.write_config(self_heal=False)
    synced.run("reconcile")
    ran = synced.run("drift", "--open")
    assert "product-designer" in ran.out and "title" in ran.out and "open (reported)" in ran.out
    synced.write_config(self_heal=True)
    synced.run("reconcile")
    assert synced.run("drift", "--open").out == "No drift.\n"
    assert "corrected" in synced.run("drift").out


def test_visits_shows_totals_growth_and_applicants_as_a_table_and_csv(synced: Workspace) -> None:
    """Visits per posting and channel with the growth over --since, also as CSV."""
    job = next(j for j in synced.hirempire_jobs() if j["public_slug"] == "bs-backend-engineer")
    source = next(s for s in job["sources"]["items"] if s["source_name"] == "indeed")
    synced.sandbox.hirempire.add_visits(source["id"], 7)
    synced.run("reconcile")
    table = synced.run("visits", "--since", "1d").out
    assert "+1D" in table.splitlines()[0]
    rows = list(csv.DictReader(io.StringIO(synced.run("visits", "--csv").out)))
    indeed = next(r for r in rows if r["posting"] == "backend-engineer" and r["channel"] == "indeed")
    assert (indeed["visits"], indeed["visits_change"]) == ("7", "7")


def test_visits_refuses_a_bad_period(synced: Workspace) -> None:
    """--since takes a duration such as 7d; anything else is an error."""
    ran = synced.run("visits", "--since", "last week")
    assert ran.code == 1 and "--since" in ran.err


def test_links_prints_a_fresh_link_and_stores_it(synced: Workspace) -> None:
    """`links KEY` prints the stored link while it has time left, asking RecruitiFi nothing;
    once it is near its end, a new one is fetched, stored and printed; an unknown key is an error."""
    synced.clear_counts()
    ran = synced.run("links", "backend-engineer")
    assert ran.code == 0
    assert "backend-engineer" in ran.out and "/embed/job?token=" in ran.out
    assert synced.counts()["recruitifi"].get("GET /v1/links/job") is None
    synced.age_links(timedelta(minutes=1), key="backend-engineer")
    again = synced.run("links", "backend-engineer")
    assert again.code == 0 and again.out != ran.out
    assert synced.counts()["recruitifi"].get("GET /v1/links/job") == 1
    bad = synced.run("links", "no-such-posting")
    assert bad.code == 1 and "no such posting" in bad.err


@pytest.mark.both_engines
def test_commands_refuse_an_older_database_and_say_to_migrate(synced: Workspace) -> None:
    """A database one revision behind: every command but migrate refuses it, naming
    `boardsync migrate`; migrate upgrades it and the commands work again."""
    step_back(synced.desired().state_url)
    for command in (["status"], ["plan"], ["reconcile"], ["drift"], ["visits"]):
        ran = synced.run(*command)
        assert ran.code == 1 and "run `boardsync migrate`" in ran.err, command
    ran = synced.run("migrate")
    assert ran.code == 0 and f"upgraded to revision {migrations.head()}, up to date" in ran.out
    assert synced.run("status").code == 0


def test_commands_refuse_a_database_from_a_newer_boardsync(synced: Workspace) -> None:
    """A database at a revision from the future is refused, migrate included."""
    connection = sqlite3.connect(synced.root / "state.db")
    connection.execute("UPDATE alembic_version SET version_num = '0999'")
    connection.commit()
    connection.close()
    for command in ("status", "migrate"):
        ran = synced.run(command)
        assert ran.code == 1 and "a newer boardsync wrote it" in ran.err


def test_link_of_a_removed_posting_is_forgotten(synced: Workspace) -> None:
    """A posting that no longer names RecruitiFi loses its stored link and its status row;
    the jobs boards still report the removal (its jobs are left open: exit 2)."""

    def stored_links() -> list[str]:
        connection = sqlite3.connect(synced.root / "state.db")
        links = [row[0] for row in connection.execute("SELECT posting_key FROM signed_link ORDER BY posting_key")]
        connection.close()
        return links

    assert synced.run("links", "product-designer").code == 0  # asked for: now stored beside the first sync's
    kept = stored_links()
    assert "product-designer" in kept and len(kept) == 2
    synced.remove_posting("product-designer")
    assert synced.run("reconcile").code == 2
    rows = json.loads(synced.run("status", "--json").out)
    assert {r["provider"] for r in rows if r["posting"] == "product-designer"} == {"sorce", "hirempire"}
    assert stored_links() == [key for key in kept if key != "product-designer"]


def test_status_drift_and_visits_need_no_board_secret(synced: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where only the state database is at hand (no board credentials), the commands that
    read it still work; one that calls a board still asks for its secret."""
    for name in synced.sandbox.credentials():
        monkeypatch.delenv(name)
    for command in ("status", "drift", "visits"):
        ran = synced.run(command)
        assert ran.code == 0, (command, ran.err)
    refused = synced.run("plan")
    assert refused.code == 1 and "SORCE_API_KEY" in refused.err
