"""The GitHub Action (action.yml) and the example workflow that uses it: well formed, passing
actionlint (and shellcheck where it is installed), and its scripts doing what they say when run
by bash as the runner runs them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from boardsync.cli import main
from tests.ci_helpers import SNAPSHOT, SNAPSHOT_TOKEN, config_repository, snapshot_server
from tests.reconcile_helpers import Workspace

ROOT = Path(__file__).parent.parent
ACTION = ROOT / "action.yml"
WORKFLOW = ROOT / "examples" / "github" / "boardsync-plan.yml"
MATCHER = ROOT / ".github" / "boardsync-matcher.json"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


def actionlint() -> str:
    found = shutil.which("actionlint")
    assert found, "actionlint is not installed: pip install -e '.[test]'"
    return found


def lint(workflows: Path) -> subprocess.CompletedProcess[str]:
    """actionlint on every workflow of the repository holding `workflows` (.github/workflows)."""
    repo = workflows.parent.parent
    if not (repo / ".git").exists():  # actionlint finds the project (and local actions) by its git folder
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    return subprocess.run([actionlint(), "-no-color"], cwd=repo, capture_output=True, text=True)


def step(name: str) -> dict[str, Any]:
    steps = {s["name"]: s for s in load(ACTION)["runs"]["steps"]}
    return steps[name]  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------ its shape


def test_action_is_composite_and_every_input_it_reads_is_declared_and_described() -> None:
    """action.yml is a composite action; each `inputs.X` it reads is declared, each declared
    input and output is described, and every `steps.ID` it reads is an earlier step."""
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    declared = set(action["inputs"])
    assert all(spec.get("description") for spec in (*action["inputs"].values(), *action["outputs"].values()))
    text = ACTION.read_text()
    read = {m for expr in EXPRESSION.findall(text) for m in re.findall(r"\binputs\.([\w-]+)", expr)}
    assert read and read <= declared, read - declared
    ids: list[str] = []
    for each in action["runs"]["steps"]:
        assert set(re.findall(r"\bsteps\.([\w-]+)", str(each))) <= set(ids), each["name"]
        if "run" in each:
            assert each.get("shell") == "bash", each["name"]  # a composite step must name its shell
        ids += [each["id"]] if "id" in each else []
    assert {re.findall(r"steps\.([\w-]+)", o["value"])[0] for o in action["outputs"].values()} <= set(ids)


def test_no_expression_is_spliced_into_a_script() -> None:
    """Every `${{ … }}` reaches a script through `env:`: a branch or file name in a pull
    request can never become shell code."""
    for each in load(ACTION)["runs"]["steps"]:
        assert "${{" not in each.get("run", ""), each["name"]


def _as_reusable_workflow(action: dict[str, Any]) -> dict[str, Any]:
    """The action's steps as the job of a workflow_call workflow with the same inputs, so
    actionlint checks their expressions, contexts and scripts (it reads workflows only)."""
    inputs = {name: {"type": "string", "required": False} for name in action["inputs"]}
    return {
        "name": "action steps", "on": {"workflow_call": {"inputs": inputs}},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}},
    }


def test_the_action_steps_pass_actionlint(tmp_path: Path) -> None:
    """actionlint finds nothing in the action's steps (with shellcheck on their scripts, where
    shellcheck is installed)."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    with (workflows / "action-steps.yml").open("w") as out:
        YAML().dump(_as_reusable_workflow(load(ACTION)), out)
    done = lint(workflows)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_the_action_scripts_pass_shellcheck(tmp_path: Path) -> None:
    """Each `run:` script, as the runner's bash runs it, has no shellcheck finding."""
    for n, each in enumerate(s for s in load(ACTION)["runs"]["steps"] if "run" in s):
        script = tmp_path / f"step{n}.sh"
        script.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + each["run"])
        done = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, f"{each['name']}:\n{done.stdout}"


@pytest.fixture
def repo_using_the_action(tmp_path: Path) -> Path:
    """A repository holding this action at its root and the example workflow, pointed at it."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    shutil.copy(ACTION, tmp_path / "action.yml")
    text = WORKFLOW.read_text()
    assert "uses: your-org/boardsync@" in text
    (workflows / "boardsync-plan.yml").write_text(re.sub(r"uses: your-org/boardsync@\S+", "uses: ./", text))
    return workflows


def test_the_example_workflow_passes_actionlint_against_this_action(repo_using_the_action: Path) -> None:
    """The workflow users copy passes actionlint, which checks its `with:` against action.yml."""
    done = lint(repo_using_the_action)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_an_input_the_action_does_not_have(repo_using_the_action: Path) -> None:
    """The check above has teeth: a misspelt input of this action is reported."""
    workflow = repo_using_the_action / "boardsync-plan.yml"
    workflow.write_text(workflow.read_text().replace("snapshot-url:", "snapshot-address:"))
    done = lint(repo_using_the_action)
    assert done.returncode == 1 and "snapshot-address" in done.stdout


# ------------------------------------------------------------------------------ its scripts, run


def _evaluate(value: str, context: dict[str, str]) -> str:
    """`${{ a.b }}` replaced from `context`; the steps use nothing but plain references."""
    return EXPRESSION.sub(lambda m: context[m[1]], value)


def run_step(
    name: str, context: dict[str, str], tmp_path: Path, *, drop: Collection[str] = (),
) -> tuple[subprocess.CompletedProcess[str], str]:
    """One step's script run as the runner runs it (`bash --noprofile --norc -eo pipefail`),
    its env evaluated and the variables in `drop` left out; returns the process and what it
    wrote to $GITHUB_OUTPUT."""
    each = step(name)
    output = tmp_path / "github_output"
    output.write_text("")
    env = {
        **{key: value for key, value in os.environ.items() if key not in drop},
        "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        **{key: _evaluate(str(value), context) for key, value in each.get("env", {}).items()},
    }
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", each["run"]],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    return done, output.read_text()


@pytest.fixture
def snapshot() -> Iterator[tuple[str, list[str]]]:
    with snapshot_server() as served:
        yield served


def _fetch_context(tmp_path: Path, url: str, token: str) -> dict[str, str]:
    return {"inputs.snapshot-url": url, "inputs.snapshot-token": token, "runner.temp": str(tmp_path)}


def test_fetch_step_gets_the_snapshot_with_the_bearer_token(
    snapshot: tuple[str, list[str]], tmp_path: Path,
) -> None:
    """With a URL and a token the snapshot lands in the runner's temp folder and the plan runs."""
    url, seen = snapshot
    done, output = run_step("Fetch the snapshot", _fetch_context(tmp_path, url, SNAPSHOT_TOKEN), tmp_path)
    assert done.returncode == 0, done.stderr
    assert seen == [f"Bearer {SNAPSHOT_TOKEN}"]
    assert "fetched=true" in output and f"file={tmp_path / 'boardsync-snapshot.json'}" in output
    assert (tmp_path / "boardsync-snapshot.json").read_bytes() == SNAPSHOT


def test_fetch_step_fails_on_a_refused_token(snapshot: tuple[str, list[str]], tmp_path: Path) -> None:
    """A 401 from the daemon fails the step, naming the URL and showing the daemon's answer."""
    url, _ = snapshot
    done, output = run_step("Fetch the snapshot", _fetch_context(tmp_path, url, "wrong"), tmp_path)
    assert done.returncode == 1 and "fetched=true" not in output
    assert f"::error title=boardsync snapshot::GET {url} failed" in done.stdout
    assert '"unauthorized"' in done.stdout


@pytest.mark.parametrize(("url", "token", "says"), [
    ("", SNAPSHOT_TOKEN, "no snapshot-url given"),
    ("http://127.0.0.1:9/snapshot", "", "a pull request from a fork gets no secrets"),
])
def test_fetch_step_skips_the_plan_saying_why(url: str, token: str, says: str, tmp_path: Path) -> None:
    """Without a URL or a token nothing is fetched, the step passes, and a notice says why."""
    done, output = run_step("Fetch the snapshot", _fetch_context(tmp_path, url, token), tmp_path)
    assert done.returncode == 0 and output == "fetched=false\n"
    assert "::notice title=boardsync plan skipped::" in done.stdout and says in done.stdout


@pytest.mark.parametrize("broken", [False, True])
def test_validate_step_fails_the_check_only_on_an_invalid_config(broken: bool, tmp_path: Path) -> None:
    """The validate step passes the examples and fails a broken posting with an error that
    names the config, the problem line printed for the matcher."""
    repo = config_repository(tmp_path, broken=broken)
    context = {"inputs.config": str(repo / "boardsync.yaml"), "github.action_path": str(ROOT)}
    done, _ = run_step("Validate (no secrets)", context, tmp_path)
    assert done.stdout.startswith(f"::add-matcher::{MATCHER}\n")
    assert "::remove-matcher owner=boardsync::" in done.stdout
    assert done.returncode == (1 if broken else 0), done.stdout + done.stderr
    assert ("backend-engineer.yaml:22:3: salary.max: must be" in done.stdout) is broken
    assert (f"::error title=boardsync validate::{repo / 'boardsync.yaml'} is not valid" in done.stdout) is broken


def test_the_problem_matcher_reads_validate_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The matcher's pattern turns each problem and warning line of `validate` into an
    annotation (file, line, column, severity), and nothing else."""
    repo = config_repository(tmp_path, broken=True)
    monkeypatch.chdir(repo)
    assert main(["validate", "--no-secrets"]) == 1
    lines = capsys.readouterr().out.splitlines()
    pattern = load(MATCHER)["problemMatcher"][0]["pattern"][0]
    matched = [m for m in map(re.compile(pattern["regexp"]).match, lines) if m]
    problem = next(m for m in matched if m[4] is None)
    assert problem.groups() == ("postings/backend-engineer.yaml", "22", "3", None,
                                "salary.max: must be ≥ salary.min (1 < 165000)")
    assert any(m[4] == "warning" and (repo / m[1]).is_file() for m in matched)
    assert len(matched) == len(lines) - 1  # all but the closing count


@pytest.mark.slow
def test_plan_step_plans_a_pull_request_against_a_real_snapshot_without_secrets(
    synced: Workspace, tmp_path: Path,
) -> None:
    """The action's plan step, run by bash against a snapshot the synced boards gave and with
    no board secret in its environment: exit 2 with the edited posting in the Markdown plan,
    `changes=true`, the plan file handed to the comment step, and no request to any board."""
    snap = tmp_path / "boardsync-snapshot.json"
    assert synced.run("snapshot", "--out", str(snap)).code == 0
    synced.edit_posting("backend-engineer", "title: Senior Backend Engineer", "title: Staff Backend Engineer")
    secrets = set(synced.sandbox.credentials())
    synced.clear_counts()

    context = {"inputs.config": str(synced.root / "boardsync.yaml"), "runner.temp": str(tmp_path),
               "steps.snapshot.outputs.file": str(snap)}
    done, output = run_step("Plan against the snapshot", context, tmp_path, drop=secrets)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "exit-code=2" in output and "changes=true" in output
    plan = (tmp_path / "boardsync-plan.md").read_text()
    assert "backend-engineer" in plan and "Staff Backend Engineer" in plan, plan
    assert f"file={tmp_path / 'boardsync-plan.md'}" in output
    assert synced.counts() == {"sorce": {}, "hirempire": {}, "recruitifi": {}}
