"""`boardsync validate` end to end: the example repository passes, and what a board would
refuse is reported with the board's name at the line of the field."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from boardsync.cli import main

REPO = Path(__file__).parent.parent
EXAMPLES = REPO / "examples"
SECRETS = {
    "SORCE_API_KEY": "sk_ext_sandbox_acme",
    "HIREMPIRE_TOKEN": "sk-sandbox-hirempire",
    "RECRUITIFI_CLIENT_SECRET": "rf-partner-secret-sandbox",
}


@pytest.fixture
def no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*SECRETS, "CREDENTIALS_DIRECTORY"]:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, (captured.out + captured.err).splitlines()


def problems(lines: list[str]) -> list[str]:
    """The lines that are not warnings (what a board cannot hold is a warning on most postings)."""
    return [line for line in lines if ": warning: " not in line]


def copy_of_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "repo"
    shutil.copytree(EXAMPLES, target)
    monkeypatch.chdir(target)
    return target


def at(path: Path, needle: str, *, shown: str | None = None) -> str:
    """``file:line:col`` of the first occurrence of `needle` in `path`."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return f"{shown or path.name}:{number}:{line.index(needle) + 1}"
    raise AssertionError(f"{needle!r} is not in {path}")


def write_posting(repo: Path, name: str, text: str) -> None:
    (repo / "postings" / f"{name}.yaml").write_text(textwrap.dedent(text))


EXPECTED_SUMMARY = (
    "valid: 8 postings (5 active, 1 closed, 1 draft, 1 paused), 3 boards (sorce, hirempire, recruitifi), 7 channels"
)


def test_the_examples_pass_without_any_secret_using_no_secrets(capsys, no_secrets, monkeypatch) -> None:
    """On a fresh clone, `--no-secrets` checks everything but the secrets' values."""
    monkeypatch.chdir(REPO)
    code, lines = run(capsys, "validate", "-c", "examples/boardsync.yaml", "--no-secrets")
    assert (code, problems(lines)) == (0, [EXPECTED_SUMMARY])


def test_the_examples_pass_with_the_sandbox_secrets_set(capsys, secrets, monkeypatch) -> None:
    """With the three secrets in the environment, the plain command passes too."""
    monkeypatch.chdir(REPO)
    code, lines = run(capsys, "validate", "-c", "examples/boardsync.yaml")
    assert (code, problems(lines)) == (0, [EXPECTED_SUMMARY])


def test_without_secrets_set_validate_says_which_are_missing(capsys, no_secrets, monkeypatch) -> None:
    """Each missing secret is one line, naming the reference and the way out."""
    monkeypatch.chdir(REPO)
    code, lines = run(capsys, "validate", "-c", "examples/boardsync.yaml")
    assert code == 1
    assert [line.split(": ")[1] for line in problems(lines)[:-1]] == [
        "providers.sorce.api_key",
        "providers.hirempire.token",
        "providers.recruitifi.client_secret",
    ]
    assert lines[-1] == "3 problems; nothing is valid until all are fixed"


def test_the_examples_match_the_sandbox_that_boardsync_sandbox_serves() -> None:
    """Ids, secret references and base paths are those of `Sandbox.providers_yaml()`, on the
    ports `boardsync sandbox` uses by default."""
    from ruamel.yaml import YAML

    from boardsync.sandbox.server import Sandbox

    with Sandbox() as sandbox:
        expected = YAML(typ="safe").load(sandbox.providers_yaml())["providers"]
        ports = {board: sandbox.server_url(board) for board in expected}
    written = YAML(typ="safe").load((EXAMPLES / "boardsync.yaml").read_text())["providers"]
    defaults = {"sorce": 8701, "hirempire": 8702, "recruitifi": 8703}
    for board, settings in expected.items():
        for name, value in settings.items():
            if name == "base_url":
                value = value.replace(ports[board], f"http://127.0.0.1:{defaults[board]}")
            assert written[board][name] == value, (board, name)


def test_sorce_gate_one_problems_are_reported_for_an_active_posting(capsys, secrets, tmp_path, monkeypatch) -> None:
    """An active posting without salary, bid or required qualification fails, naming Sorce, at
    the line of each field (or its nearest written parent)."""
    repo = copy_of_examples(tmp_path, monkeypatch)
    write_posting(
        repo,
        "incomplete",
        """\
        key: incomplete
        title: Office Manager
        description: Keeps the office running.
        status: active
        workplace: remote
        remote_country: United States
        employment_type: full_time
        level: mid
        boards:
          sorce: {}
        """,
    )
    code, lines = run(capsys, "validate", "-c", "boardsync.yaml")
    assert code == 1
    assert [line for line in lines if "incomplete.yaml" in line] == [
        "postings/incomplete.yaml:1:1: salary: sorce: Sorce needs a salary (min, max and period) to publish",
        "postings/incomplete.yaml:1:1: qualifications: sorce: Sorce needs at least one required qualification to publish",
        "postings/incomplete.yaml:10:3: boards.sorce.bid_cents: sorce: Sorce needs a bid per qualified applicant "
        "above 0 cents to publish",
    ]


def test_a_draft_may_be_incomplete_for_sorce(capsys, secrets, tmp_path, monkeypatch) -> None:
    """Gate 1 applies to postings meant to be live; the same posting as a draft passes."""
    repo = copy_of_examples(tmp_path, monkeypatch)
    write_posting(
        repo,
        "incomplete",
        """\
        key: incomplete
        title: Office Manager
        description: Keeps the office running.
        status: draft
        workplace: remote
        remote_country: United States
        employment_type: full_time
        level: mid
        boards:
          sorce: {}
        """,
    )
    code, lines = run(capsys, "validate", "-c", "boardsync.yaml")
    assert code == 0, lines


def test_hirempire_enums_are_checked_with_the_board_named(capsys, secrets, tmp_path, monkeypatch) -> None:
    """A career level and a department Hirempire does not know are each one problem."""
    repo = copy_of_examples(tmp_path, monkeypatch)
    text = (repo / "postings" / "engineering-manager.yaml").read_text()
    text = text.replace("department: Management", "department: Platform").replace("Manager\n", "Boss\n")
    (repo / "postings" / "engineering-manager.yaml").write_text(text)
    code, lines = run(capsys, "validate", "-c", "boardsync.yaml")
    assert code == 1
    lines = problems(lines)
    posting = repo / "postings" / "engineering-manager.yaml"
    assert lines[:-1] == [
        at(posting, "department: Platform", shown="postings/engineering-manager.yaml")
        + ": boards.hirempire.department: hirempire: Hirempire has no department 'Platform'; use one of: "
        + lines[0].split("use one of: ")[1],
        at(posting, "career_level: Boss", shown="postings/engineering-manager.yaml")
        + ": boards.hirempire.career_level: hirempire: Hirempire has no career level 'Boss'; use one of: "
        "Junior, Mid-level, Senior, Team Leader, Manager, Director, VP, C-level",
    ]
    assert "Accounting/Auditing" in lines[0]


def test_a_recruitifi_job_id_that_recruitifi_would_refuse_is_reported(capsys, secrets, tmp_path, monkeypatch) -> None:
    """A job id with a space cannot go into RecruitiFi's link request."""
    repo = copy_of_examples(tmp_path, monkeypatch)
    text = (repo / "postings" / "engineering-manager.yaml").read_text()
    (repo / "postings" / "engineering-manager.yaml").write_text(text.replace("job_eng_manager_platform", "eng manager"))
    code, lines = run(capsys, "validate", "-c", "boardsync.yaml")
    assert code == 1
    where = at(repo / "postings" / "engineering-manager.yaml", "job_id:", shown="postings/engineering-manager.yaml")
    assert problems(lines)[0].startswith(f"{where}: boards.recruitifi.job_id: must be letters")


def test_a_posting_for_an_unconfigured_board_is_reported(capsys, secrets, tmp_path, monkeypatch) -> None:
    """Removing a provider from the root leaves the postings that name it in error."""
    repo = copy_of_examples(tmp_path, monkeypatch)
    root = (repo / "boardsync.yaml").read_text()
    start, end = root.index("  recruitifi:\n"), root.index("policy:")
    (repo / "boardsync.yaml").write_text(root[:start] + "\n" + root[end:])
    code, lines = run(capsys, "validate", "-c", "boardsync.yaml")
    assert code == 1
    named = ["backend-engineer", "engineering-manager", "product-designer"]
    assert problems(lines)[:-1] == [
        at(repo / "postings" / f"{name}.yaml", "recruitifi:", shown=f"postings/{name}.yaml")
        + ": boards.recruitifi: recruitifi is not configured under `providers:` in the root file"
        for name in named
    ]


def test_schema_problems_and_board_problems_come_out_together(capsys, secrets, tmp_path, monkeypatch) -> None:
    """One file's typo does not hide another posting's board problem."""
    repo = copy_of_examples(tmp_path, monkeypatch)
    (repo / "postings" / "data-analyst.yaml").write_text(
        (repo / "postings" / "data-analyst.yaml").read_text().replace("level: mid", "levle: mid")
    )
    text = (repo / "postings" / "support-specialist.yaml").read_text()
    (repo / "postings" / "support-specialist.yaml").write_text(text.replace("bid_cents: 900", "bid_cents: 0"))
    code, lines = run(capsys, "validate", "-c", "boardsync.yaml")
    assert code == 1
    assert [line.split(": ")[1] for line in problems(lines)[:-1]] == ["levle", "boards.sorce.bid_cents"]


@pytest.mark.slow
def test_validate_runs_as_a_command_and_never_prints_a_secret(tmp_path: Path) -> None:
    """Through a real process: exit 0 on the examples, exit 1 on a broken posting, no secret shown."""
    env = {**os.environ, **SECRETS, "DAEMON_FLAG": "sk-not-a-bool-secret-value"}
    command = [sys.executable, "-m", "boardsync", "validate", "-c"]
    ok = subprocess.run([*command, str(EXAMPLES / "boardsync.yaml")], env=env, capture_output=True, text=True, cwd=REPO)
    assert (ok.returncode, problems(ok.stdout.strip().splitlines())) == (0, [EXPECTED_SUMMARY])

    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES, repo)
    (repo / "boardsync.yaml").write_text(
        (repo / "boardsync.yaml").read_text().replace("  listen: 127.0.0.1:9187", '  posting_labels: "${DAEMON_FLAG}"')
    )
    bad = subprocess.run([*command, "boardsync.yaml"], env=env, capture_output=True, text=True, cwd=repo)
    assert bad.returncode == 1
    where = at(repo / "boardsync.yaml", "posting_labels")
    assert problems(bad.stdout.splitlines())[0] == f"{where}: daemon.posting_labels: expected true or false, got text"
    output = bad.stdout + bad.stderr
    assert not any(secret in output for secret in [*SECRETS.values(), "sk-not-a-bool-secret-value"])
