"""Connectors: one module per board, all filling the contract in `base.py`.

`REGISTRY` maps a provider name, as written under `providers:` in `boardsync.yaml`, to its
connector class: the boards `boardsync.config.boards` loads (ours, and those other packages
declare in the ``boardsync.boards`` entry-point group). `with_capability` finds the boards of
one kind, so code asks for what a board does, never for its name. `http.py` builds each
board's client: timeouts, rate limit, retries. Every [decided] provider behaviour the
connectors rely on is listed in `decided.py`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

import httpx

from boardsync.config.boards import BoardLoadError, boards
from boardsync.config.model import Providers
from boardsync.connectors.base import Connector
from boardsync.connectors.http import RequestTally, RetryPolicy, make_client
from boardsync.errors import ConfigError


class _Registry(Mapping[str, type[Connector]]):
    """Every board's connector class by name, in the order boards are listed; read when
    first asked for, so that importing this package loads no board."""

    def __getitem__(self, name: str) -> type[Connector]:
        return _connector_class(name)

    def __iter__(self) -> Iterator[str]:
        return iter(boards())

    def __len__(self) -> int:
        return len(boards())


REGISTRY: Mapping[str, type[Connector]] = _Registry()


def with_capability(capability: str) -> list[str]:
    """The names of the boards whose connector sets `capability` (``"SUPPORTS_LINKS"``)."""
    return [name for name, connector in REGISTRY.items() if getattr(connector, capability)]


def none_configured(capability: str, does: str) -> ConfigError:
    """The error of a command that needs a board that `does` something (one whose connector
    sets `capability`) when none is configured: it names the sections that would do."""
    known = " or ".join(f"providers.{name}" for name in with_capability(capability))
    return ConfigError(f"no board configured that {does} ({known or 'no board known does'})")


def build_connectors(
    providers: Providers,
    *,
    stop: threading.Event | None = None,
    transport: httpx.BaseTransport | None = None,
    tally: RequestTally | None = None,
) -> dict[str, Connector]:
    """One connector per configured provider, each with its own client and rate limiter.

    `stop` cuts retry waits short at shutdown; `transport` replaces the network (tests);
    `tally` counts their requests and errors (default: the process-wide tally)."""
    connectors: dict[str, Connector] = {}
    for name in providers.names():
        connector = REGISTRY[name]
        settings = providers.section(name, connector.Settings)
        client = make_client(getattr(settings, "base_url"), transport=transport)
        connectors[name] = connector(settings, client, retry=RetryPolicy(stop=stop), tally=tally)  # type: ignore[call-arg]
    return connectors


def _connector_class(name: str) -> type[Connector]:
    declared = boards()[name]
    if not (isinstance(declared.board, type) and issubclass(declared.board, Connector)):
        raise BoardLoadError(f"board {name!r} ({declared.source}) is not a boardsync.connectors.base.Connector")
    return declared.board


__all__ = ["REGISTRY", "Connector", "build_connectors", "none_configured", "with_capability"]
