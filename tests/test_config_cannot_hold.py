"""What a board cannot hold, said by `boardsync validate` at the line of the field (a warning,
an error with `policy.strict_fields`), and the posting mistakes a board would refuse on every
run (a blank title, a Hirempire posting without a channel)."""

from __future__ import annotations

from pathlib import Path

import pytest

from boardsync.sandbox.server import Sandbox
from tests.reconcile_helpers import Workspace
from tests.test_config_cli import at, copy_of_examples, problems, run, secrets, write_posting

__all__ = ["secrets"]  # the fixture, used by name

OSLO = """\
key: oslo-engineer
title: Backend Engineer (Oslo)
description: Builds the Nordic side of the product.
workplace: remote
remote_country: Norway
employment_type: full_time
level: senior
salary:
  min: 90000
  max: 120000
  currency: NOK
  hidden: true
qualifications:
  - text: Five years of Python
channels: [finn]
boards:
  sorce: {bid_cents: 1200}
  hirempire: {department: Engineering}
"""


def _strict(repo: Path) -> None:
    root = repo / "boardsync.yaml"
    text = root.read_text()
    assert "policy:\n" in text
    root.write_text(text.replace("policy:\n", "policy:\n  strict_fields: true\n", 1))


def test_a_hidden_nok_salary_is_a_warning_for_each_board_at_its_line(capsys, secrets, tmp_path, monkeypatch) -> None:
    """Sorce has no currency and no hidden-salary field, Hirempire keeps one amount: each is
    a warning at the line of the field, naming the board; validate still exits 0."""
    repo = copy_of_examples(tmp_path, monkeypatch)
    write_posting(repo, "oslo", OSLO)
    code, lines = run(capsys, "validate", "-c", "boardsync.yaml")
    assert code == 0, lines
    posting, shown = repo / "postings" / "oslo.yaml", "postings/oslo.yaml"
    assert [line for line in lines if shown in line] == [
        f"{at(posting, 'min: 90000', shown=shown)}: warning: hirempire keeps one salary amount; "
        "the range 90000–120000 is sent as 120000",
        f"{at(posting, 'currency: NOK', shown=shown)}: warning: sorce has no currency field; "
        "the salary is sent as 90000–120000 without NOK",
        f"{at(posting, 'hidden: true', shown=shown)}: warning: sorce has no hidden-salary field; "
        "the salary 90000–120000 is sent as it is",
    ]


def test_strict_fields_makes_what_a_board_cannot_hold_an_error(capsys, secrets, tmp_path, monkeypatch) -> None:
    """With policy.strict_fields the same findings are problems: exit 1, each with its field."""
    repo = copy_of_examples(tmp_path, monkeypatch)
    write_posting(repo, "oslo", OSLO)
    _strict(repo)
    code, lines = run(capsys, "validate", "-c", "boardsync.yaml")
    assert code == 1
    posting, shown = repo / "postings" / "oslo.yaml", "postings/oslo.yaml"
    assert f"{at(posting, 'currency: NOK', shown=shown)}: salary.currency: sorce has no currency field; the " \
        "salary is sent as 90000–120000 without NOK (policy.strict_fields)" in lines
    assert f"{at(posting, 'hidden: true', shown=shown)}: salary.hidden: sorce has no hidden-salary field; the " \
        "salary 90000–120000 is sent as it is (policy.strict_fields)" in lines
    assert not any(": warning: " in line and "sorce has" in line for line in lines)


def test_a_usd_salary_sent_to_sorce_alone_gives_no_warning(capsys, secrets, tmp_path, monkeypatch) -> None:
    """A USD salary, not hidden, sent to Sorce alone is kept whole: no warning at all."""
    repo = copy_of_examples(tmp_path, monkeypatch)
    text = OSLO.replace("  currency: NOK\n  hidden: true\n", "").replace("  hirempire: {department: Engineering}\n", "")
    write_posting(repo, "oslo", text)
    code, lines = run(capsys, "validate", "-c", "boardsync.yaml")
    assert code == 0
    assert not [line for line in lines if "oslo.yaml" in line]


def test_a_second_place_is_a_hirempire_warning(capsys, secrets, tmp_path, monkeypatch) -> None:
    """Hirempire keeps one city: the second location is named as left out."""
    repo = copy_of_examples(tmp_path, monkeypatch)
    text = OSLO.replace("workplace: remote\nremote_country: Norway\n", (
        "workplace: hybrid\nlocations:\n  - {city: Oslo, country: Norway}\n  - {city: Bergen, country: Norway}\n"
    ))
    write_posting(repo, "oslo", text)
    code, lines = run(capsys, "validate", "-c", "boardsync.yaml")
    posting, shown = repo / "postings" / "oslo.yaml", "postings/oslo.yaml"
    assert f"{at(posting, '{city: Bergen', shown=shown)}: warning: hirempire keeps one place; only Oslo, " \
        "Norway is sent, 1 more left out" in lines, lines


def test_a_title_of_spaces_is_refused_at_its_line(capsys, secrets, tmp_path, monkeypatch) -> None:
    """A whitespace-only title (or description) passes no more: an error naming file and line."""
    repo = copy_of_examples(tmp_path, monkeypatch)
    write_posting(repo, "oslo", OSLO.replace("title: Backend Engineer (Oslo)", 'title: "   "').replace(
        "description: Builds the Nordic side of the product.", "description: \"\\t \""))
    code, lines = run(capsys, "validate", "-c", "boardsync.yaml")
    assert code == 1
    posting, shown = repo / "postings" / "oslo.yaml", "postings/oslo.yaml"
    line_of = {field: at(posting, f"{field}:", shown=shown).rsplit(":", 1)[0] for field in ("title", "description")}
    found = problems(lines)[:-1]
    assert [line.split(": ", 2)[1:] for line in found] == [
        ["title", "must not be blank (only spaces)"], ["description", "must not be blank (only spaces)"]]
    assert found[0].startswith(line_of["title"] + ":") and found[1].startswith(line_of["description"] + ":")


def test_a_hirempire_posting_without_a_channel_fails_validate(capsys, secrets, tmp_path, monkeypatch) -> None:
    """add-job requires job_sources: a posting for Hirempire with no channel is an error
    naming the board at the line of the posting; a closed one (never added) passes."""
    repo = copy_of_examples(tmp_path, monkeypatch)
    write_posting(repo, "oslo", OSLO.replace("channels: [finn]\n", ""))
    code, lines = run(capsys, "validate", "-c", "boardsync.yaml")
    assert code == 1
    (problem,) = problems(lines)[:-1]
    assert problem.startswith("postings/oslo.yaml:1:1: channels: hirempire: Hirempire needs at least one channel")

    write_posting(repo, "oslo", OSLO.replace("channels: [finn]\n", "").replace("level: senior", "level: senior\nstatus: closed"))
    code, lines = run(capsys, "validate", "-c", "boardsync.yaml")
    assert code == 0, lines


@pytest.mark.slow
def test_a_hirempire_posting_without_a_channel_is_blocked_before_any_call(ws: Workspace) -> None:
    """reconcile holds the pair as invalid with Hirempire's reason (exit 2) and sends it no
    add-job, instead of a refused call on every run; the other postings still go on."""
    ws.edit_posting("support-specialist", "channels: [linkedin]\n", "")
    ran = ws.run("reconcile")
    assert ran.code == 2, ran.out
    assert "hirempire/support-specialist: hirempire would refuse this posting" in ran.out
    assert "1 posting blocked on hirempire (invalid)" in ran.out.splitlines()[-1]
    assert ws.counts()["hirempire"]["POST /v1/add-job"] == 5
    assert "Customer Support Specialist" not in {j["job_title"] for j in ws.hirempire_jobs()}


@pytest.mark.slow
def test_examples_keep_the_state_database_and_its_lock_out_of_git(tmp_path: Path) -> None:
    """A `git add -A` in a copy of examples/ with a state database beside the config stages no
    database, no lock and no secret file."""
    import shutil
    import subprocess

    repo = tmp_path / "repo"
    shutil.copytree(Path(__file__).parent.parent / "examples", repo)
    for name in ("boardsync.db", "boardsync.db-wal", "boardsync.db-shm", "boardsync.db.lock", "secrets/sorce"):
        (repo / name).parent.mkdir(exist_ok=True)
        (repo / name).write_text("x")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    staged = subprocess.run([*git, "diff", "--cached", "--name-only"], check=True, capture_output=True, text=True)
    names = staged.stdout.split()
    assert "boardsync.yaml" in names and ".gitignore" in names
    assert not [n for n in names if n.startswith(("boardsync.db", "secrets/"))], names


@pytest.mark.slow
def test_the_demo_repository_keeps_its_state_database_out_of_git(tmp_path: Path, sandbox: Sandbox) -> None:
    """The config repository `boardsync demo` writes has the same .gitignore: its state
    database (signed links), the lock and secrets/ are ignored by git."""
    import subprocess

    from boardsync import demo

    workdir = tmp_path / "demo"
    workdir.mkdir()
    demo.write_repository(workdir, demo.find_examples(), sandbox)
    (workdir / "boardsync.db").write_text("x")
    (workdir / "boardsync.db.lock").write_text("x")
    subprocess.run(["git", "-C", str(workdir), "init", "-q"], check=True)
    for name in ("boardsync.db", "boardsync.db.lock", "secrets/sorce_api_key"):
        ignored = subprocess.run(["git", "-C", str(workdir), "check-ignore", "-q", name])
        assert ignored.returncode == 0, name
