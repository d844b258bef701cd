"""The command line as a script uses it: `--json` on every command that reads, `-q`, the
config from `BOARDSYNC_CONFIG`, help on every flag, "did you mean" for a posting key, and the
`sources` and `retry` commands, against the sandbox boards over loopback."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from datetime import datetime
from pathlib import Path

import pytest

from boardsync import cli
from boardsync.sandbox.core import Fault
from boardsync.sandbox.server import Sandbox
from tests.reconcile_helpers import Ran, Workspace

TITLE = "Senior Backend Engineer (Python)"


@pytest.fixture
def synced(tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    workspace = Workspace(tmp_path, sandbox, monkeypatch).copy_examples()
    workspace.write_config()
    assert workspace.run("reconcile").code == 0
    return workspace


def run_bare(*argv: str) -> Ran:
    """`boardsync ARGV` with no -c: the config comes from the environment or the default."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return Ran(code, out.getvalue(), err.getvalue())


def failing_update(ws: Workspace) -> None:
    """A source change that Hirempire answers 500 to, every time: the pair backs off."""
    ws.edit_posting("backend-engineer", TITLE, "Staff Backend Engineer (Python)")
    ws.sandbox.hirempire.faults.add(Fault("status", method="PATCH", path=r".*/update-job", status=500, times=None))


# ------------------------------------------------------------------------------ the parser


def test_every_flag_of_every_command_says_what_it_does() -> None:
    """`--help` describes every option and argument of every command."""
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    silent = [
        f"{name} {action.dest}"
        for name, sub in commands.choices.items()
        for action in sub._actions
        if not isinstance(action, argparse._HelpAction) and not action.help
    ]
    assert silent == []
    assert {"sources", "retry"} <= set(commands.choices)


def test_the_config_defaults_to_boardsync_config(
    synced: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without -c, a command reads the root file BOARDSYNC_CONFIG names; -c still wins."""
    monkeypatch.chdir(tmp_path.parent)  # no boardsync.yaml here
    monkeypatch.setenv("BOARDSYNC_CONFIG", str(synced.root / "boardsync.yaml"))
    ran = run_bare("status", "--json")
    assert ran.code == 0, ran.err
    assert {r["posting"] for r in json.loads(ran.out)} >= {"backend-engineer"}
    wrong = run_bare("status", "-c", str(tmp_path / "nowhere.yaml"))
    assert wrong.code == 1 and "nowhere.yaml" in wrong.err


def test_an_unknown_posting_key_names_the_nearest(synced: Workspace) -> None:
    """A mistyped key is an error that suggests the posting it is close to, for every
    command that takes one."""
    for argv in (["links", "backend-enginer"], ["plan", "--posting", "backend-enginer"],
                 ["sources", "backend-enginer"], ["retry", "backend-enginer"]):
        ran = synced.run(*argv)
        assert ran.code == 1, argv
        assert "backend-enginer (did you mean backend-engineer?)" in ran.err, (argv, ran.err)
    far = synced.run("links", "zzz")
    assert far.code == 1 and "did you mean" not in far.err and "zzz" in far.err


# ------------------------------------------------------------------------------ --json


def test_reading_commands_print_one_json_document(synced: Workspace) -> None:
    """visits, links, validate and migrate with --json print JSON of the documented shape."""
    job = next(j for j in synced.hirempire_jobs() if j["public_slug"] == "bs-backend-engineer")
    source = next(s for s in job["sources"]["items"] if s["source_name"] == "indeed")
    synced.sandbox.hirempire.add_visits(source["id"], 3)
    synced.run("reconcile")
    visits = json.loads(synced.run("visits", "--json").out)
    indeed = next(r for r in visits if (r["posting"], r["channel"]) == ("backend-engineer", "indeed"))
    assert indeed == {"posting": "backend-engineer", "provider": "hirempire", "channel": "indeed", "visits": 3,
                      "visits_change": 3, "applicants": indeed["applicants"],
                      "applicants_change": indeed["applicants_change"]}
    links = json.loads(synced.run("links", "--json", "backend-engineer").out)
    assert [(r["posting"], r["provider"], r["error"]) for r in links] == [("backend-engineer", "recruitifi", None)]
    assert "/embed/job?token=" in links[0]["url"] and datetime.fromisoformat(links[0]["expires_at"])
    valid = synced.run("validate", "--json")
    report = json.loads(valid.out)
    assert valid.code == 0 and report["valid"] is True and report["problems"] == []
    assert report["boards"] == ["sorce", "hirempire", "recruitifi"] and report["postings"] >= 7
    migrated = json.loads(synced.run("migrate", "--json").out)
    assert migrated["up_to_date"] is True and migrated["revision"] == migrated["before"] and migrated["steps"] == []


def test_validate_json_lists_each_problem_with_its_place(synced: Workspace) -> None:
    """An invalid posting: exit 1 and each problem as {location, field, message}."""
    synced.edit_posting("backend-engineer", f"title: {TITLE}", "title: '   '")
    ran = synced.run("validate", "--json")
    report = json.loads(ran.out)
    assert ran.code == 1 and report["valid"] is False
    problem = report["problems"][0]
    assert problem["field"] == "title" and "backend-engineer.yaml:" in problem["location"]


def test_reconcile_json_is_the_run_result(synced: Workspace) -> None:
    """`reconcile --json` prints one document with the outcome the exit code tells; with
    --dry-run it carries the plan too."""
    synced.edit_posting("backend-engineer", TITLE, "Staff Backend Engineer (Python)")
    dry = synced.run("reconcile", "--dry-run", "--json")
    planned = json.loads(dry.out)
    assert dry.code == 2 and planned["outcome"] == "pending" and planned["in_sync"] is False
    assert planned["plan"]["format"] == "boardsync.plan" and planned["plan"]["counts"]["update"] >= 1
    ran = synced.run("reconcile", "--json")
    result = json.loads(ran.out)
    assert ran.code == 0 and result["format"] == "boardsync.run" and result["version"] == 1
    assert result["outcome"] == "converged" and result["in_sync"] is True and "plan" not in result
    assert result["counts"]["update"] >= 1 and result["boards"]["sorce"] == "converged"
    assert isinstance(result["run_id"], int) and result["summary"].startswith(f"reconcile run {result['run_id']}")


# ------------------------------------------------------------------------------ -q


def test_quiet_prints_nothing_but_the_exit_code_says_it(synced: Workspace) -> None:
    """-q: plan and reconcile print nothing on stdout and exit as they would; validate's
    problems go to stderr only."""
    synced.edit_posting("backend-engineer", TITLE, "Staff Backend Engineer (Python)")
    plan = synced.run("plan", "-q")
    assert (plan.code, plan.out, plan.err) == (2, "", "")
    applied = synced.run("reconcile", "-q")
    assert (applied.code, applied.out, applied.err) == (0, "", "")
    assert synced.sorce_job("backend-engineer")["title"] == "Staff Backend Engineer (Python)"
    assert (synced.run("retry", "-q").out, synced.run("migrate", "-q").out) == ("", "")
    synced.edit_posting("backend-engineer", "title: Staff", "title: '  '\nx: Staff")
    invalid = synced.run("validate", "-q")
    assert invalid.code == 1 and invalid.out == "" and "title" in invalid.err


def test_quiet_reconcile_still_says_its_errors(synced: Workspace) -> None:
    """A failed change under -q: nothing on stdout, exit 2, the failure on stderr."""
    failing_update(synced)
    ran = synced.run("reconcile", "-q")
    assert ran.code == 2 and ran.out == ""
    assert ran.err.startswith("boardsync reconcile: hirempire/backend-engineer update: ") and "500" in ran.err


# ------------------------------------------------------------------------------ backoff, waits, retry


def test_status_shows_when_a_backoff_ends_and_retry_lifts_it(synced: Workspace) -> None:
    """A failed change backs off: status shows until when (table and JSON); `retry KEY`
    clears it, and the next run tries the pair at once instead of skipping it."""
    failing_update(synced)
    assert synced.run("reconcile").code == 2
    rows = {(r["posting"], r["provider"]): r for r in json.loads(synced.run("status", "--json").out)}
    until = rows[("backend-engineer", "hirempire")]["quarantine_until"]
    assert until is not None and rows[("backend-engineer", "hirempire")]["attempts"] == 1
    shown = datetime.fromisoformat(until).strftime("%Y-%m-%d %H:%M:%SZ")
    assert f"backing off until {shown}" in synced.run("status").out

    synced.clear_counts()
    assert synced.run("reconcile").code == 2  # still backing off: nothing sent to the pair
    assert "PATCH /v1/update-job" not in synced.counts()["hirempire"]

    lifted = json.loads(synced.run("retry", "backend-engineer", "--json").out)
    assert [(b["posting"], b["provider"], b["attempts"]) for b in lifted] == [("backend-engineer", "hirempire", 1)]
    row = next(r for r in json.loads(synced.run("status", "--json").out)
               if (r["posting"], r["provider"]) == ("backend-engineer", "hirempire"))
    assert row["quarantine_until"] is None and row["attempts"] == 0
    synced.sandbox.hirempire.faults.clear()
    synced.clear_counts()
    assert synced.run("reconcile").code == 0
    assert synced.counts()["hirempire"].get("PATCH /v1/update-job") == 1
    assert synced.run("retry").out == "No pair is backing off.\n"


def test_retry_without_a_key_lifts_every_backoff(synced: Workspace) -> None:
    """`retry` alone lifts every pair's backoff and names each."""
    failing_update(synced)
    synced.run("reconcile")
    ran = synced.run("retry")
    assert ran.code == 0 and "hirempire/backend-engineer: backoff lifted (1 failed" in ran.out


def test_status_json_carries_the_wait_a_board_asked_for(synced: Workspace) -> None:
    """A 429 asking for an hour is kept; status --json shows it on every row of that board."""
    synced.sandbox.hirempire.faults.add(
        Fault("status", method="GET", path=r".*/jobs", status=429, retry_after=3600, times=None))
    assert synced.run("reconcile").code == 2
    rows = json.loads(synced.run("status", "--json").out)
    waits = {r["provider"]: (r["board_wait_until"], r["board_wait_reason"]) for r in rows}
    assert waits["sorce"] == (None, None)
    until, reason = waits["hirempire"]
    assert until is not None and "asked to wait until" in reason
    assert "hirempire: asked to wait until" in synced.run("status").out


# ------------------------------------------------------------------------------ sources


def test_sources_prints_each_channels_tracked_url_from_one_read(synced: Workspace) -> None:
    """`sources` reads Hirempire's job list once and prints every channel's source URL, the
    same URLs the board holds; with KEY only that posting."""
    board = {
        (job["public_slug"].removeprefix("bs-"), s["source_name"]): s["source_url"]
        for job in synced.hirempire_jobs() for s in job["sources"]["items"]
    }
    synced.clear_counts()
    ran = synced.run("sources", "--json")
    assert ran.code == 0, ran.err
    assert synced.counts()["hirempire"] == {"GET /v1/jobs": 1}
    rows = json.loads(ran.out)
    assert {(r["posting"], r["channel"]): r["url"] for r in rows} == board
    assert {r["provider"] for r in rows} == {"hirempire"}
    table = synced.run("sources", "backend-engineer").out
    lines = table.splitlines()[1:]
    assert lines and all(line.startswith("backend-engineer") for line in lines)
    assert board[("backend-engineer", "indeed")] in table


def test_sources_shows_a_channel_not_made_yet_and_a_board_not_read(synced: Workspace) -> None:
    """A channel the posting names that the board does not have yet is shown as not made;
    a board that cannot be read is an error on each row, exit 1."""
    synced.edit_posting("backend-engineer", "channels: [linkedin,", "channels: [mastodon, linkedin,")
    rows = json.loads(synced.run("sources", "backend-engineer", "--json").out)
    mastodon = next(r for r in rows if r["channel"] == "mastodon")
    assert mastodon["url"] is None and mastodon["error"] is None
    assert "not made yet" in synced.run("sources", "backend-engineer").out
    synced.sandbox.hirempire.faults.add(Fault("status", method="GET", path=r".*/jobs", status=401, times=None))
    ran = synced.run("sources", "backend-engineer")
    assert ran.code == 1 and "error: hirempire GET /jobs" in ran.out
