"""Postings kept in a git branch: boardsync's own checkout of it, and the git calls that
keep it.

The checkout lives in a folder of its own beside the state database (``state.db`` →
``state.source/``)::

    repo.git/            a bare repository: every fetch lands here, nothing is checked out
    commits/<sha>/       one work tree per commit looked at (the live one, and a candidate
                         while it is validated)
    live -> commits/<sha>
                         the commit that runs; replaced in one rename, so a reader sees the
                         old commit or the new one, never half of either
    askpass              a helper that hands git the token from its environment

Every call runs the host's real ``git`` with a timeout and without a terminal prompt. The
repository's URL is given on the command line and never stored in ``repo.git``; a token
travels only in the environment of the one git process that asks for it (``GIT_ASKPASS``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from boardsync.config.model import GitSource, RootConfig
from boardsync.errors import BoardsyncError
from boardsync.log import get_logger, redact

log = get_logger(__name__)

GIT_TIMEOUT = 120.0
"""Seconds one git call may take: a fetch over a slow link, never a hung daemon."""
LIVE = "live"
SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
ASKPASS = """#!/bin/sh
# boardsync's askpass helper: the answer comes from the environment of the git process.
case "$1" in
  Username*) printf '%s\\n' "$BOARDSYNC_GIT_USERNAME" ;;
  *) printf '%s\\n' "$BOARDSYNC_GIT_TOKEN" ;;
esac
"""


class GitError(BoardsyncError):
    """A git call failed or timed out; the message is git's own last line, secrets masked."""


@dataclass(frozen=True)
class Checkout:
    """One commit of the branch, checked out: where its files are, and which commit."""

    folder: Path
    commit: str

    @property
    def short(self) -> str:
        return self.commit[:12]


def checkout_folder(root: RootConfig, root_path: Path, state_url: str) -> Path:
    """Where the checkout of `root.source` lives: beside a SQLite state database
    (``state.db`` → ``state.source``), else beside the root file (``.boardsync-source``)."""
    database = sqlite_file(state_url)
    if database is not None:
        return database.with_name(f"{database.stem}.source")
    return root_path.parent / ".boardsync-source"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL as `loader.database_url` writes it, else None."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return None
    database = url[len(prefix):].split("?", 1)[0]
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def live_checkout(folder: Path) -> Checkout | None:
    """The commit that runs, or None before the first good one."""
    link = folder / LIVE
    try:
        target = (folder / os.readlink(link)).resolve()
    except OSError:
        return None
    if not SHA.match(target.name) or not target.is_dir():
        return None
    return Checkout(target, target.name)


def repository_url(source: GitSource, root_path: Path) -> str:
    """`source.git` as git takes it: a relative local path starts at the root file's folder."""
    url = source.git
    if "://" in url or re.match(r"^[^/]+@[^/]+:", url) or Path(url).is_absolute():
        return url
    return str((root_path.parent / url).resolve())


class GitCheckout:
    """The checkout folder of one source, and the git calls on it."""

    def __init__(self, folder: Path, source: GitSource, root_path: Path, *, timeout: float = GIT_TIMEOUT) -> None:
        self.folder = folder
        self.source = source
        self.root_path = root_path
        self.timeout = timeout

    @property
    def repository(self) -> Path:
        return self.folder / "repo.git"

    def live(self) -> Checkout | None:
        return live_checkout(self.folder)

    def fetch(self) -> str:
        """Fetch the branch; the commit at its tip."""
        self._prepare()
        ref = f"refs/remotes/source/{self.source.branch}"
        url = repository_url(self.source, self.root_path)
        self._git("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--", url,
                  f"+refs/heads/{self.source.branch}:{ref}", remote=True)
        return self._git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()

    def check_out(self, commit: str) -> Checkout:
        """A work tree of `commit` (made once, reused after)."""
        folder = self.folder / "commits" / commit
        if not (folder / ".git").exists():
            shutil.rmtree(folder, ignore_errors=True)
            self._git("worktree", "prune")
            # A symlink in the repository must not read the host's files (a credential beside
            # the state database): checked out as a plain file holding the link's text.
            self._git("-c", "core.symlinks=false", "worktree", "add", "--quiet", "--detach", "--force",
                      str(folder), commit)
        return Checkout(folder, commit)

    def make_live(self, checkout: Checkout) -> None:
        """Point `live` at `checkout` in one rename, then drop every other work tree."""
        staged = self.folder / f".{LIVE}.new"
        staged.unlink(missing_ok=True)
        staged.symlink_to(Path("commits") / checkout.commit)
        os.replace(staged, self.folder / LIVE)
        self.drop_all_but(checkout.commit)

    def drop(self, checkout: Checkout) -> None:
        """Remove a work tree that will not run (a refused commit)."""
        live = self.live()
        if live is None or live.commit != checkout.commit:
            self._remove(checkout.folder)

    def drop_all_but(self, commit: str) -> None:
        commits = self.folder / "commits"
        for folder in commits.iterdir() if commits.is_dir() else ():
            if folder.name != commit:
                self._remove(folder)

    def _remove(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        self._git("worktree", "prune")

    def _prepare(self) -> None:
        """The bare repository and the askpass helper, made on first use; the folder is the
        daemon's alone (0700): a work tree may hold what the repository does."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not (self.repository / "HEAD").exists():
            self._git("init", "--quiet", "--bare", str(self.repository), bare=False)
        askpass = self.folder / "askpass"
        if not askpass.exists() or askpass.read_text() != ASKPASS:
            askpass.write_text(ASKPASS)
            askpass.chmod(0o700)

    def _git(self, *args: str, remote: bool = False, bare: bool = True) -> str:
        command = ["git", *(["--git-dir", str(self.repository)] if bare else []), *args]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=self.timeout, check=False,
                env=self._environment(remote), stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} took longer than {self.timeout:.0f}s") from None
        except OSError as exc:
            raise GitError(f"cannot run git: {exc.strerror or exc}") from None
        if done.returncode != 0:
            raise GitError(f"git {args[0]} failed: {_last_line(done.stderr) or f'exit {done.returncode}'}")
        return done.stdout

    def _environment(self, remote: bool) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOARDSYNC_GIT_")}
        env |= {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        if remote and self.source.token is not None:
            env |= {
                "GIT_ASKPASS": str(self.folder / "askpass"),
                "BOARDSYNC_GIT_USERNAME": self.source.username,
                "BOARDSYNC_GIT_TOKEN": self.source.token.get_secret_value(),
            }
        return env


def _last_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return str(redact(lines[-1])) if lines else ""
