"""The GitLab CI template: well formed, every variable its script reads documented, and its
script (after the install) doing what it says when bash runs it as a job would."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.ci_helpers import ROOT, SNAPSHOT_TOKEN, config_repository, snapshot_server

TEMPLATE = ROOT / "examples" / "gitlab" / "boardsync.gitlab-ci.yml"
VARIABLE = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)")


def job() -> dict[str, Any]:
    return YAML(typ="safe").load(TEMPLATE.read_text())["boardsync-plan"]  # type: ignore[no-any-return]


def header() -> str:
    return "".join(line for line in TEMPLATE.read_text().splitlines(keepends=True) if line.startswith("#"))


def test_the_template_is_one_job_for_merge_requests_keeping_the_plan() -> None:
    """The template parses; its job runs on merge-request pipelines and keeps the plan as an artifact."""
    plan = job()
    assert plan["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert plan["artifacts"]["paths"] == ["boardsync-plan.md"] and plan["artifacts"]["when"] == "always"
    assert any("boardsync validate --no-secrets" in line for line in plan["script"])


def test_every_variable_the_script_reads_is_documented_in_the_header() -> None:
    """Each `$NAME` the script reads (but sets none of) appears in the header's list, so a
    user knows what to set and what GitLab provides."""
    script = "\n".join(job()["script"])
    set_here = set(re.findall(r"(?:^|\s|export )([A-Za-z_]\w*)=", script))
    read = set(VARIABLE.findall(script)) - set_here
    assert {"BOARDSYNC_SNAPSHOT_URL", "BOARDSYNC_GITLAB_TOKEN", "CI_MERGE_REQUEST_IID"} <= read
    undocumented = {name for name in read if not re.search(rf"^#\s+{name}\b|\b{name}\b", header(), re.M)}
    assert undocumented == set()
    for name in (n for n in read if n.startswith("BOARDSYNC_")):
        assert re.search(rf"^#\s+{name}\s+\S", header(), re.M), f"{name} has no line of its own"


def _after_install() -> str:
    lines = job()["script"]
    assert "pip install" in lines[0]  # the tests run the boardsync under test, not an installed one
    return "\n".join(lines[1:])


def run_job(repo: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """The job's script after its install line, in `repo` as CI_PROJECT_DIR, as the runner's
    bash runs it (errexit, pipefail)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BOARDSYNC_", "CI_"))}
    env |= {"CI_PROJECT_DIR": str(repo), **variables}
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", _after_install()],
        cwd=repo, env=env, capture_output=True, text=True, timeout=120,
    )


def test_without_a_snapshot_the_job_validates_and_skips_the_plan_saying_so(tmp_path: Path) -> None:
    """A valid config with no snapshot variables passes, validated, with the skip explained."""
    done = run_job(config_repository(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid: " in done.stdout
    assert "boardsync plan skipped: set BOARDSYNC_SNAPSHOT_URL and BOARDSYNC_SNAPSHOT_TOKEN" in done.stdout


def test_an_invalid_posting_fails_the_job_naming_file_and_line(tmp_path: Path) -> None:
    """validate fails the job before anything is fetched, with the problem's file and line."""
    done = run_job(config_repository(tmp_path, broken=True), BOARDSYNC_SNAPSHOT_URL="http://127.0.0.1:9/snapshot",
                   BOARDSYNC_SNAPSHOT_TOKEN=SNAPSHOT_TOKEN)
    assert done.returncode == 1
    assert "postings/backend-engineer.yaml:22:3: salary.max: must be" in done.stdout
    assert "GET http" not in done.stdout


def test_a_refused_snapshot_token_fails_the_job_naming_the_url(tmp_path: Path) -> None:
    """A wrong token is a 401 from the daemon: the job fails naming the URL, with the answer."""
    with snapshot_server() as (url, seen):
        done = run_job(config_repository(tmp_path), BOARDSYNC_SNAPSHOT_URL=url, BOARDSYNC_SNAPSHOT_TOKEN="wrong")
    assert done.returncode == 1 and seen == ["Bearer wrong"]
    assert f"boardsync: GET {url} failed (curl exit 22)" in done.stdout and '"unauthorized"' in done.stdout


def test_the_snapshot_is_fetched_with_the_bearer_token(tmp_path: Path) -> None:
    """With the right token the snapshot lands in the project folder, where plan reads it."""
    repo = config_repository(tmp_path)
    with snapshot_server() as (url, seen):
        run_job(repo, BOARDSYNC_SNAPSHOT_URL=url, BOARDSYNC_SNAPSHOT_TOKEN=SNAPSHOT_TOKEN)
    assert seen == [f"Bearer {SNAPSHOT_TOKEN}"]
    assert (repo / ".boardsync-snapshot.json").is_file()


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_the_script_passes_shellcheck(tmp_path: Path) -> None:
    """The job's script, as one bash script, has no shellcheck finding."""
    script = tmp_path / "job.sh"
    script.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + "\n".join(job()["script"]) + "\n")
    done = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
