"""Fixtures the whole suite shares: the three sandbox boards as real servers on loopback, and
a config repository of the examples pointed at them (a test file may define its own `ws`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# The connector contract lives in the package; its asserts get pytest's messages too.
pytest.register_assert_rewrite("boardsync.testing")

from boardsync.sandbox.server import Sandbox  # noqa: E402
from tests import pg_helpers  # noqa: E402
from tests.reconcile_helpers import Workspace  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The caches of PostgreSQL states go to a folder of the session's own, never the home of
    whoever runs the tests (the processes the tests start inherit it)."""
    from boardsync.config.parsed import CACHE_DIR_ENV

    before = os.environ.get(CACHE_DIR_ENV)
    os.environ[CACHE_DIR_ENV] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        os.environ.pop(CACHE_DIR_ENV, None)
    else:
        os.environ[CACHE_DIR_ENV] = before


@pytest.fixture(scope="session")
def sandbox_servers() -> Iterator[Sandbox]:
    """The Sorce, Hirempire and RecruitiFi simulators, started once for the whole session."""
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(sandbox_servers: Sandbox) -> Sandbox:
    """The running sandbox, reset for this test: real time on the clock, every board empty,
    no faults armed, no requests counted, default plans and limits."""
    sandbox_servers.reset()
    return sandbox_servers


ENGINES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked `both_engines` runs once with its `ws` state on each engine."""
    if metafunc.definition.get_closest_marker("both_engines"):
        metafunc.parametrize("state_engine", ENGINES, indirect=True)


@pytest.fixture
def state_engine(request: pytest.FixtureRequest) -> str:
    """The engine of the `ws` state: SQLite unless the test is marked `both_engines`."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def ws(tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
       state_engine: str) -> Workspace:
    """The examples as a config repository on the sandbox boards, nothing synced yet."""
    state = "sqlite:///state.db" if state_engine == "sqlite" else str(request.getfixturevalue("pg_url"))
    workspace = Workspace(tmp_path, sandbox, monkeypatch, state=state).copy_examples()
    workspace.write_config()
    return workspace


@pytest.fixture
def synced(ws: Workspace) -> Workspace:
    """The examples reconciled once, request counts cleared."""
    assert ws.run("reconcile").code == 0
    ws.clear_counts()
    return ws


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pg_helpers.PgServer]:
    """A throwaway PostgreSQL server for the session. Where none can be started the tests
    that need it skip, saying why; in CI (CI=true) they fail instead."""
    try:
        server = pg_helpers.start_server()
    except pg_helpers.Unavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL tests need a server: {exc}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_url(pg_server: pg_helpers.PgServer) -> str:
    """The URL of a new, empty PostgreSQL database of this test's own."""
    return pg_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A state database URL on each engine in turn: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("pg_url"))

