"""The pre-commit hooks in .pre-commit-hooks.yaml, run by the real `pre-commit try-repo` on a
throwaway config repository: boardsync is pip-installed into pre-commit's own virtualenv, once
for this module, from a snapshot of this working tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"

# pre-commit builds a virtualenv and installs boardsync with its dependencies: minutes, not seconds.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# A commit made at a fixed moment has a fixed id, so every try-repo in this module asks
# pre-commit for the same revision and it installs boardsync only once.
FIXED_DATE = "2030-01-01T00:00:00+00:00"


@dataclass(frozen=True)
class HookRepo:
    """boardsync as pre-commit fetches it: a git repository, and the environment to run it in."""

    path: Path
    env: dict[str, str]


def _git(cwd: Path, *args: str, env: dict[str, str]) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def _environment(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHONPATH", "GIT_", "BOARDSYNC_"))}
    return {
        **env,
        "PRE_COMMIT_HOME": str(home),  # the hook's virtualenv, kept for this module only
        "GIT_AUTHOR_NAME": "boardsync tests", "GIT_AUTHOR_EMAIL": "tests@boardsync.invalid",
        "GIT_COMMITTER_NAME": "boardsync tests", "GIT_COMMITTER_EMAIL": "tests@boardsync.invalid",
        "GIT_AUTHOR_DATE": FIXED_DATE, "GIT_COMMITTER_DATE": FIXED_DATE,
    }


def _commit_all(repo: Path, env: dict[str, str]) -> None:
    _git(repo, "init", "-q", "-b", "main", env=env)
    _git(repo, "add", "-A", env=env)
    _git(repo, "commit", "-q", "-m", "snapshot", env=env)


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> HookRepo:
    """The files of this working tree as they are now (edits and new files included, ignored
    ones left out), committed in a repository of their own."""
    env = _environment(tmp_path_factory.mktemp("pre-commit-home"))
    snapshot = tmp_path_factory.mktemp("boardsync-repo")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a file deleted in the working tree is still listed as cached
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / name)
    _commit_all(snapshot, env)
    return HookRepo(snapshot, env)


@pytest.fixture
def config_repo(tmp_path: Path) -> Path:
    """A config repository made of the examples: a root file, its postings and the two schemas."""
    repo = tmp_path / "jobs"
    repo.mkdir()
    shutil.copy(EXAMPLES / "boardsync.yaml", repo)
    shutil.copy(EXAMPLES / "boardsync.schema.json", repo)
    shutil.copy(EXAMPLES / "posting.schema.json", repo)
    shutil.copytree(EXAMPLES / "postings", repo / "postings")
    return repo


def try_repo(hook_repo: HookRepo, config_repo: Path, hook: str) -> subprocess.CompletedProcess[str]:
    """`pre-commit try-repo BOARDSYNC HOOK --all-files` in the config repository, committed."""
    _commit_all(config_repo, hook_repo.env)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo.path), hook, "--all-files", "--color", "never"],
        cwd=config_repo, env=hook_repo.env, capture_output=True, text=True, timeout=840,
    )


def test_the_hooks_file_declares_both_hooks_without_secrets() -> None:
    """Both hooks are python hooks; validate resolves no secret and looks at the whole config."""
    hooks = {hook["id"]: hook for hook in YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"boardsync-validate", "boardsync-schema"}
    assert all(hook["language"] == "python" for hook in hooks.values())
    assert hooks["boardsync-validate"]["entry"] == "boardsync validate --no-secrets"
    assert hooks["boardsync-validate"]["pass_filenames"] is False


def test_validate_hook_passes_a_valid_config_repository(hook_repo: HookRepo, config_repo: Path) -> None:
    """The examples, with no secret in the environment, pass `boardsync-validate`."""
    done = try_repo(hook_repo, config_repo, "boardsync-validate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "boardsync validate" in done.stdout and "Passed" in done.stdout


def test_validate_hook_fails_an_invalid_posting_naming_file_and_line(hook_repo: HookRepo, config_repo: Path) -> None:
    """A salary whose maximum is below its minimum fails the hook, pointing at the line."""
    posting = config_repo / "postings" / "backend-engineer.yaml"
    text = posting.read_text()
    assert "  max: 195000\n" in text
    posting.write_text(text.replace("  max: 195000\n", "  max: 1\n"))
    line = text[: text.index("  max: 195000\n")].count("\n") + 1
    done = try_repo(hook_repo, config_repo, "boardsync-validate")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Failed" in done.stdout
    assert f"postings/backend-engineer.yaml:{line}:3: salary.max: must be ≥ salary.min" in done.stdout


def test_schema_hook_passes_current_schema_files(hook_repo: HookRepo, config_repo: Path) -> None:
    """The schema files as boardsync prints them pass `boardsync-schema`."""
    done = try_repo(hook_repo, config_repo, "boardsync-schema")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Passed" in done.stdout


def test_schema_hook_fails_a_stale_schema_file_with_the_command_to_regenerate(
    hook_repo: HookRepo, config_repo: Path,
) -> None:
    """A posting schema from an older boardsync (a description changed) fails, naming the file
    and the command that writes it again; the current root schema is not named."""
    schema = config_repo / "posting.schema.json"
    text = schema.read_text()
    schema.write_text(text.replace('"description": "', '"description": "(old) ', 1))
    done = try_repo(hook_repo, config_repo, "boardsync-schema")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "posting.schema.json: stale" in done.stdout
    assert "boardsync schema posting > posting.schema.json" in done.stdout
    assert "boardsync.schema.json: stale" not in done.stdout
