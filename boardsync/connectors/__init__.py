"""Connectors: one module per board, all filling the contract in `base.py`.

`REGISTRY` (in `registry.py`) maps a provider name, as written under `providers:` in `boardsync.yaml`, to its
connector class: the boards `boardsync.config.boards` loads (ours, and those other packages
declare in the ``boardsync.boards`` entry-point group). `with_capability` finds the boards of
one kind, so code asks for what a board does, never for its name. `http.py` and
`transport.py` build each board's client: timeouts, rate limit, retries. Every [decided] provider behaviour the
connectors rely on is listed in `decided.py`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from boardsync.config.model import Providers
from boardsync.connectors.base import Connector
from boardsync.connectors.http import RequestTally, RetryPolicy
from boardsync.connectors.registry import REGISTRY, none_configured, with_capability

if TYPE_CHECKING:
    import httpx


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
    from boardsync.connectors.transport import make_client  # httpx: only once a board is to be called

    connectors: dict[str, Connector] = {}
    for name in providers.names():
        connector = REGISTRY[name]
        settings = providers.section(name, connector.Settings)
        client = make_client(getattr(settings, "base_url"), transport=transport)
        connectors[name] = connector(settings, client, retry=RetryPolicy(stop=stop), tally=tally)  # type: ignore[call-arg]
    return connectors


__all__ = ["REGISTRY", "Connector", "build_connectors", "none_configured", "with_capability"]
