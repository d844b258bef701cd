"""All three simulated boards together, on loopback, sharing one clock.

    with Sandbox() as sandbox:
        sandbox.hirempire_url          # http://127.0.0.1:PORT/v1
        sandbox.credentials()          # {"SORCE_API_KEY": ..., ...}
        sandbox.providers_yaml()       # the `providers:` block of a boardsync.yaml pointing here

Each base URL is what a connector's ``base_url`` takes: it includes the board's path prefix
(``/api/external/v1`` for Sorce, ``/v1`` for Hirempire; RecruitiFi's paths carry ``/v1``
themselves), so a connector appends paths such as ``/jobs`` exactly as it would on the real host.
"""

from __future__ import annotations

from types import TracebackType

from boardsync.sandbox import hirempire, recruitifi, sorce
from boardsync.sandbox.core import ASGIApp, Clock, RunningServer, serve
from boardsync.sandbox.hirempire import HirempireSim
from boardsync.sandbox.recruitifi import RecruitifiSim
from boardsync.sandbox.sorce import SorceSim

SORCE_PREFIX = "/api/external/v1"


class PortUnavailable(OSError):
    """One board's server could not listen where it was asked to; says which board and port."""

    def __init__(self, board: str, host: str, port: int, cause: OSError) -> None:
        super().__init__(cause.errno, f"{board} cannot listen on {host}:{port}: {cause.strerror or cause}")
        self.board = board
        self.host = host
        self.port = port


class Sandbox:
    """The Sorce, Hirempire and RecruitiFi simulators as three servers on one host."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        sorce_port: int = 0,
        hirempire_port: int = 0,
        recruitifi_port: int = 0,
        clock: Clock | None = None,
    ) -> None:
        self.host = host
        self.clock = clock or Clock()
        self.sorce = SorceSim(clock=self.clock)
        self.hirempire = HirempireSim(self.clock)
        self.recruitifi = RecruitifiSim(self.clock)
        self._ports = {"sorce": sorce_port, "hirempire": hirempire_port, "recruitifi": recruitifi_port}
        self._servers: dict[str, RunningServer] = {}

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Sandbox:
        """Start the three servers (a no-op when running); a port in use raises `PortUnavailable`."""
        if self._servers:
            return self
        apps: dict[str, ASGIApp] = {
            "sorce": sorce.make_app(self.sorce),
            "hirempire": hirempire.make_app(self.hirempire),
            "recruitifi": recruitifi.make_app(self.recruitifi),
        }
        try:
            for name, app in apps.items():
                self._servers[name] = self._serve(name, app)
        except BaseException:
            self.stop()
            raise
        # Links and source URLs point back at these servers, so a test or a person can open them.
        self.hirempire.public_base_url = f"{self._servers['hirempire'].url}{hirempire.PUBLIC_PREFIX}"
        self.recruitifi.embed_base_url = self._servers["recruitifi"].url
        return self

    def _serve(self, board: str, app: ASGIApp) -> RunningServer:
        port = self._ports[board]
        try:
            return serve(app, host=self.host, port=port)
        except OSError as exc:
            raise PortUnavailable(board, self.host, port, exc) from exc

    def stop(self) -> None:
        for server in self._servers.values():
            server.stop()
        self._servers.clear()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """The clock back to real time, then every board back to its first state."""
        # The clock first: Hirempire's expired sandbox token is dated from the clock's now.
        self.clock.reset()
        for sim in (self.sorce, self.hirempire, self.recruitifi):
            sim.reset()

    # ---------------------------------------------------------------- addresses

    def server_url(self, board: str) -> str:
        """http://host:port of one board's server (no path prefix)."""
        server = self._servers.get(board)
        if server is None:
            raise RuntimeError("the sandbox is not running: call start() first")
        return server.url

    @property
    def sorce_url(self) -> str:
        return self.server_url("sorce") + SORCE_PREFIX

    @property
    def hirempire_url(self) -> str:
        return self.server_url("hirempire") + hirempire.API_PREFIX

    @property
    def recruitifi_url(self) -> str:
        return self.server_url("recruitifi")

    # ---------------------------------------------------------------- configuration

    def credentials(self) -> dict[str, str]:
        """Environment variable → secret, for the `${ENV}` references of `providers_yaml`."""
        return {
            "SORCE_API_KEY": sorce_key(),
            "HIREMPIRE_TOKEN": hirempire.SANDBOX_TOKEN,
            "RECRUITIFI_CLIENT_SECRET": recruitifi.SANDBOX_CLIENT_SECRET,
        }

    def providers_yaml(self) -> str:
        """The `providers:` block of a boardsync.yaml that points at this sandbox."""
        return (
            "providers:\n"
            "  sorce:\n"
            f"    base_url: {self.sorce_url}\n"
            '    api_key: "${SORCE_API_KEY}"\n'
            "  hirempire:\n"
            f"    base_url: {self.hirempire_url}\n"
            '    token: "${HIREMPIRE_TOKEN}"\n'
            f"    company_id: {hirempire.SANDBOX_COMPANY_ID}\n"
            f"    requests_per_hour: {self.hirempire.window.limit}\n"
            "  recruitifi:\n"
            f"    base_url: {self.recruitifi_url}\n"
            f"    client_id: {recruitifi.SANDBOX_CLIENT_ID}\n"
            '    client_secret: "${RECRUITIFI_CLIENT_SECRET}"\n'
            f"    connector_id: {recruitifi.SANDBOX_CONNECTOR}\n"
            f"    client: {recruitifi.SANDBOX_CLIENT}\n"
            f"    user: {recruitifi.SANDBOX_USER}\n"
        )


def sorce_key() -> str:
    """The Sorce simulator's first sandbox key: the one a demo or a new user starts with."""
    return next(iter(sorce.SANDBOX_KEYS))
