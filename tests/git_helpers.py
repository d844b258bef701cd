"""A config repository behind a bare git remote, for the tests of a daemon that follows a
branch: real `git`, in temp folders. `Remote.commit` edits the author's clone, commits and
pushes, and returns the new commit."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "boardsync tests", "GIT_AUTHOR_EMAIL": "tests@boardsync.invalid",
    "GIT_COMMITTER_NAME": "boardsync tests", "GIT_COMMITTER_EMAIL": "tests@boardsync.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent",
}


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
                          env={"PATH": "/usr/bin:/bin:/usr/local/bin", **GIT_ENV})
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


class Remote:
    """`bare`: the remote the daemon fetches from; `clone`: where commits are made and pushed.
    The clone holds the example postings under postings/ on branch main."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.bare = root / "remote.git"
        self.clone = root / "author"
        git("init", "--quiet", "--bare", "--initial-branch=main", str(self.bare), cwd=root)
        git("init", "--quiet", "--initial-branch=main", str(self.clone), cwd=root)
        shutil.copytree(EXAMPLES / "postings", self.clone / "postings")
        self.first = self.push("postings: the examples")

    def push(self, message: str) -> str:
        git("add", "--all", cwd=self.clone)
        git("commit", "--quiet", "--allow-empty", "-m", message, cwd=self.clone)
        git("push", "--quiet", str(self.bare), "HEAD:refs/heads/main", cwd=self.clone)
        return git("rev-parse", "HEAD", cwd=self.clone)

    def commit(self, message: str, change: Callable[[Path], None]) -> str:
        change(self.clone)
        return self.push(message)

    def edit(self, relative: str, old: str, new: str, message: str) -> str:
        def change(clone: Path) -> None:
            path = clone / relative
            text = path.read_text()
            assert old in text, f"{old!r} not in {relative}"
            path.write_text(text.replace(old, new, 1))
        return self.commit(message, change)


def host_config(path: Path, providers_yaml: str, source: dict[str, Any], **extra: Any) -> Path:
    """A root file on the daemon's host: the sandbox boards, and `source` for the postings."""
    yaml = YAML(typ="safe", pure=True)
    config: dict[str, Any] = {"version": 1, "state": "sqlite:///state.db", "source": source,
                              **yaml.load(providers_yaml), **extra}
    yaml.default_flow_style = False
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as stream:
        yaml.dump(config, stream)
    return path


def github_signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
