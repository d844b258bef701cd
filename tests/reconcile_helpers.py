"""What the reconcile and command-line tests share: a config repository in a temp folder
pointing at the sandbox, the `boardsync` command run in this process, and quick looks at the
boards and the state database.

Retries never sleep here: the connectors' retry policy is given a sleep that returns at once,
and the boards' rate limits are raised so a test's few dozen requests never wait.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from sqlmodel import select

from boardsync import cli
from boardsync.config import Desired, load
from boardsync.connectors import build_connectors
from boardsync.connectors.base import Connector
from boardsync.connectors.http import RetryPolicy
from boardsync.sandbox import hirempire as hirempire_sim
from boardsync.sandbox.server import Sandbox
from boardsync.state import SignedLink, Store, open_store

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SORCE_COMPANY = "cmp_acme"
"""The company of the sandbox's first Sorce key (the one `credentials()` hands out)."""
FAST_LIMIT = 10_000


@dataclass
class Ran:
    code: int
    out: str
    err: str


class Workspace:
    """A config-as-code repository in a temp folder, its state database, and the sandbox."""

    def __init__(
        self, root: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, *, state: str = "sqlite:///state.db",
    ) -> None:
        self.root = root
        self.state = state
        self.sandbox = sandbox
        self.postings = root / "postings"
        for name, value in sandbox.credentials().items():
            monkeypatch.setenv(name, value)
        # Retries wait on nothing; rate limits high enough that nothing waits either.
        monkeypatch.setattr("boardsync.connectors.RetryPolicy", functools.partial(RetryPolicy, sleep=_no_wait))
        sandbox.sorce.set_rate_limit(FAST_LIMIT)
        sandbox.hirempire.set_limits(requests_per_hour=FAST_LIMIT)

    # -- the repository ---------------------------------------------------------------------

    def copy_examples(self) -> Workspace:
        shutil.copytree(EXAMPLES / "postings", self.postings)
        return self

    def write_config(self, **policy: Any) -> Path:
        providers = _yaml().load(self.sandbox.providers_yaml())["providers"]
        providers["sorce"]["requests_per_minute"] = FAST_LIMIT
        providers["hirempire"]["requests_per_hour"] = FAST_LIMIT
        config = {
            "version": 1,
            "state": self.state,
            "postings": "postings/",
            "providers": providers,
            "policy": {"prune": False, "max_close_percent": 30, "self_heal": True, "repost_expired": False, **policy},
        }
        path = self.root / "boardsync.yaml"
        _dump(config, path)
        return path

    def posting_file(self, key: str) -> Path:
        for path in self.postings.glob("*.yaml"):
            if f"key: {key}\n" in path.read_text():
                return path
        raise KeyError(key)

    def edit_posting(self, key: str, old: str, new: str) -> None:
        path = self.posting_file(key)
        text = path.read_text()
        assert old in text, f"{old!r} not in {path.name}"
        path.write_text(text.replace(old, new, 1))

    def remove_posting(self, key: str) -> None:
        self.posting_file(key).unlink()

    def add_posting(self, data: dict[str, Any]) -> None:
        _dump(data, self.postings / f"{data['key']}.yaml")

    # -- running ----------------------------------------------------------------------------

    def run(self, *argv: str) -> Ran:
        """`boardsync ARGV -c <this repo>` in this process."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main([*argv, "-c", str(self.root / "boardsync.yaml")])
        return Ran(code, out.getvalue(), err.getvalue())

    def desired(self) -> Desired:
        return load(self.root / "boardsync.yaml")

    def age_links(self, left: timedelta, key: str | None = None) -> None:
        """Leave the stored signed links (or `key`'s) `left` of life, as if fetched long ago:
        the next ask fetches a new one once that is inside the margin."""
        with open_store(self.desired().state_url) as store, store.write() as session:
            for link in session.exec(select(SignedLink)).all():
                if key is None or link.posting_key == key:
                    link.expires_at = datetime.now(UTC) + left

    @contextlib.contextmanager
    def opened(self) -> Iterator[tuple[Desired, Store, dict[str, Connector]]]:
        """The desired state, the store and connectors, for tests calling the API directly."""
        desired = self.desired()
        connectors = build_connectors(desired.root.providers)
        store = open_store(desired.state_url)
        try:
            yield desired, store, connectors
        finally:
            for connector in connectors.values():
                connector.close()
            store.close()

    def store(self) -> Store:
        return open_store(self.desired().state_url)

    # -- the boards -------------------------------------------------------------------------

    def sorce_jobs(self) -> list[dict[str, Any]]:
        return self.sandbox.sorce.jobs(SORCE_COMPANY)

    def sorce_job(self, key: str) -> dict[str, Any]:
        remote_id = self.remote_id(key, "sorce")
        return next(j for j in self.sorce_jobs() if j["id"] == remote_id)

    def hirempire_jobs(self) -> list[dict[str, Any]]:
        return self.sandbox.hirempire.jobs()

    def remote_id(self, key: str, provider: str) -> str:
        with self.store() as store:
            rows = {(r.posting, r.provider): r for r in store.status_rows()}
        remote_id = rows[(key, provider)].remote_id
        assert remote_id is not None
        return remote_id

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            "sorce": self.sandbox.sorce.request_counts(),
            "hirempire": self.sandbox.hirempire.request_counts(),
            "recruitifi": self.sandbox.recruitifi.request_counts(),
        }

    def clear_counts(self) -> None:
        for sim in (self.sandbox.sorce, self.sandbox.hirempire, self.sandbox.recruitifi):
            with sim.lock:
                sim.requests.clear()


TOKEN_CALL = "POST /v1/auth/token"
"""RecruitiFi's access-token request: a POST that changes nothing on the board."""


def writes(counts: dict[str, int]) -> dict[str, int]:
    """The requests of a board that change something on it: neither reads nor a token request."""
    return {k: v for k, v in counts.items() if not k.startswith("GET ") and k != TOKEN_CALL}


UPCOMING = re.compile(r"^Upcoming \(next [^)]*\)\n(?:  .*\n)*", re.MULTILINE)


def without_upcoming(text: str) -> str:
    """A text plan less its Upcoming section (the signed links' renewals are always in it)."""
    return UPCOMING.sub("", text)


def _yaml() -> YAML:
    return YAML(typ="safe", pure=True)


def _dump(data: Any, path: Path) -> None:
    yaml = _yaml()
    yaml.default_flow_style = False
    with path.open("w") as stream:
        yaml.dump(data, stream)


def _no_wait(seconds: float) -> None:
    """A retry wait that does not wait."""


HIREMPIRE_COMPANY = hirempire_sim.SANDBOX_COMPANY_ID
