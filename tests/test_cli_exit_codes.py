"""Exit codes, the same for every command, against the sandbox over loopback: 0 the boards
match the postings, 2 they do not (and the summary says why), 1 an error, a usage error or a
refused plan."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from boardsync import cli
from tests.reconcile_helpers import Workspace, writes

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------------------ not live


def test_a_recruitifi_secret_that_stops_working_is_exit_2_with_the_reason(
    synced: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the stored links are still valid, a RecruitiFi client secret that no longer works
    makes plan and reconcile exit 2, the summary naming RecruitiFi's refusal, instead of a
    converged 0; the other boards are still compared and nothing is written; once the secret
    is right again, the run converges."""
    monkeypatch.setenv("RECRUITIFI_CLIENT_SECRET", "rf-secret-that-was-rotated")
    planned = synced.run("plan")
    assert planned.code == 2, planned.out + planned.err
    ran = synced.run("reconcile")
    assert ran.code == 2, ran.out + ran.err
    summary = ran.out.splitlines()[-1]
    assert " partial in " in summary and "converged" not in summary
    assert "not in sync: recruitifi unavailable: POST /v1/auth/token: 401" in summary, summary
    assert "Check the RecruitiFi client id and secret" in summary
    assert "rf-secret-that-was-rotated" not in ran.out + ran.err
    assert writes(synced.counts()["sorce"]) == {} and writes(synced.counts()["hirempire"]) == {}

    monkeypatch.setenv("RECRUITIFI_CLIENT_SECRET", synced.sandbox.credentials()["RECRUITIFI_CLIENT_SECRET"])
    assert synced.run("reconcile").code == 0


def test_plan_says_what_keeps_the_boards_apart_when_nothing_is_left_to_change(synced: Workspace) -> None:
    """With Sorce's jobs expired and repost_expired off there is nothing to change, yet the
    boards do not match: plan and the dry run exit 2, the plan's summary says why, and the
    JSON plan is not in sync and lists the reason."""
    synced.sandbox.clock.advance(31 * 86400)
    planned = synced.run("plan")
    assert planned.code == 2, planned.out
    assert planned.out.splitlines()[-1] == (
        "Plan: nothing to change; 5 drift. Not in sync: 5 jobs expired and `repost_expired` is off."
    )
    document = json.loads(synced.run("plan", "--json").out)
    assert document["in_sync"] is False and document["refused"] is None
    assert document["not_in_sync"] == ["5 jobs expired and `repost_expired` is off"]
    dry = synced.run("reconcile", "--dry-run")
    assert dry.code == 2 and " drifted in " in dry.out.splitlines()[-1], dry.out


def test_a_plan_in_sync_is_in_sync_in_its_json_too(synced: Workspace) -> None:
    """Right after a sync the JSON plan says in_sync with no reason, and plan exits 0."""
    ran = synced.run("plan", "--json")
    document = json.loads(ran.out)
    assert ran.code == 0
    assert (document["in_sync"], document["not_in_sync"], document["refused"]) == (True, [], None)


# ------------------------------------------------------------------------------ refused


def test_a_refused_plan_makes_plan_and_the_dry_run_exit_1_with_the_reason(synced: Workspace) -> None:
    """A plan closing most live postings (prune on) is refused already by `plan` and
    `reconcile --dry-run`: both exit 1 as the real run would and say why, the JSON plan
    carries the refusal; `--dry-run --force` plans it as pending (2); nothing is written."""
    synced.write_config(prune=True, prune_after="0s")
    for key in ("warehouse-associate", "product-designer", "intern-software-2025"):
        synced.remove_posting(key)
    # A plan counts no run that missed them: only a real run does (the first, within their grace).
    assert synced.run("plan").code == 2
    assert synced.run("reconcile").code == 2
    reason = "sorce: the plan closes 3 of 5 live postings (60%), more than max_close_percent 30 allows"

    planned = synced.run("plan")
    assert planned.code == 1, planned.out + planned.err
    assert f"boardsync plan: refused: {reason}" in planned.err and "--force" in planned.err
    assert f"Refused: {reason}" in planned.out
    document = json.loads(synced.run("plan", "--json").out)
    assert document["refused"].startswith(reason) and document["in_sync"] is False

    dry = synced.run("reconcile", "--dry-run")
    assert dry.code == 1, dry.out + dry.err
    assert f"boardsync reconcile: refused: {reason}" in dry.err
    assert " refused in " in dry.out.splitlines()[-1]

    assert synced.run("reconcile", "--dry-run", "--force").code == 2
    assert writes(synced.counts()["sorce"]) == {} and writes(synced.counts()["hirempire"]) == {}


# ------------------------------------------------------------------------------ usage errors


@pytest.mark.parametrize("argv", [
    [],
    ["no-such-command"],
    ["plan", "--no-such-flag"],
    ["reconcile", "--wait", "soon"],
    ["status", "-c"],
    ["visits", "--csv", "extra"],
    ["visits", "--csv", "--json"],
])
def test_a_usage_error_exits_1_with_its_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """A usage error is an error (1), never 2, which means the boards do not match."""
    with pytest.raises(SystemExit) as ended:
        cli.main(argv)
    assert ended.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("usage: boardsync") and "error: " in err


def test_a_usage_error_exits_1_from_a_real_process() -> None:
    """The same through `python -m boardsync`, as CI runs it."""
    done = subprocess.run([sys.executable, "-m", "boardsync", "plan", "--bogus"], capture_output=True, text=True)
    assert done.returncode == 1
    assert "boardsync: error: unrecognized arguments: --bogus" in done.stderr


# ------------------------------------------------------------------------------ a wrong config


@pytest.mark.parametrize("command", ["status", "drift", "visits"])
def test_a_wrong_config_path_fails_naming_it_and_creates_nothing(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-c wrong/path` exits 1 with a message naming the missing config, and writes no file."""
    monkeypatch.chdir(tmp_path)
    code = cli.main([command, "-c", "wrong/path"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"boardsync {command}: wrong/path: file does not exist; no boardsync config here")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["status", "drift", "visits"])
def test_a_read_command_never_creates_the_state_database(command: str, ws: Workspace) -> None:
    """A config whose state database does not exist yet (never synced, or a wrong `state:`):
    the read commands exit 1 naming the database, and create neither it nor its folder's files."""
    before = sorted(p.name for p in ws.root.iterdir())
    ran = ws.run(command)
    assert ran.code == 1
    assert f"no state database at {ws.root / 'state.db'}: nothing was synced with this config yet" in ran.err
    assert sorted(p.name for p in ws.root.iterdir()) == before
