"""`boardsync hooks install | remove | list`: the webhooks that send a board's events to this
daemon, at ``<public URL>/hooks/<board>/<daemon.events_token>``.

A webhook is the daemon's when its URL is that address, or any address under the same
public URL's ``/hooks/<board>/`` (one made with an earlier token), or one ending in this
token's path (the public URL moved). `install` keeps an identical webhook and adds one only
when there is none, then removes the daemon's others, so running it twice leaves one, and
running it after a new token or address replaces the old webhook instead of doubling it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from boardsync.config.model import Daemon
from boardsync.connectors.base import Connector, Webhook
from boardsync.errors import BoardsyncError, ConfigError, Rejected
from boardsync.log import get_logger

log = get_logger(__name__)

Done = Literal["kept", "added", "removed", "listed"]


@dataclass(frozen=True)
class HookRow:
    """One webhook on a board, and what the command did with it."""

    board: str
    remote_id: str
    url: str
    events: tuple[str, ...]
    ours: bool
    done: Done


def event_boards(connectors: Mapping[str, Connector]) -> dict[str, Connector]:
    """The configured boards that send events; a ConfigError when there is none."""
    boards = {name: c for name, c in connectors.items() if c.SUPPORTS_EVENTS}
    if not boards:
        raise ConfigError("no configured board sends events (Hirempire does): nothing to register")
    return boards


def events_token(settings: Daemon) -> str:
    if settings.events_token is None:
        raise ConfigError('daemon.events_token is not set: set it as a reference (e.g. "${cred:events}") '
                          "and restart the daemon, so the boards have an address only they know")
    return settings.events_token.get_secret_value()


def public_url(settings: Daemon, given: str | None) -> str:
    """`--url`, else ``daemon.public_url``: where the boards reach the daemon."""
    url = given or settings.public_url
    if not url:
        raise ConfigError("the boards need the daemon's public address: set daemon.public_url "
                          "(e.g. https://boardsync.example.com) or pass --url")
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"--url {url!r}: expected an http(s) address")
    return url.rstrip("/")


def hook_url(base: str, board: str, token: str) -> str:
    return f"{base}/hooks/{board}/{token}"


def is_ours(hook: Webhook, board: str, token: str, base: str | None) -> bool:
    if hook.url.endswith(f"/hooks/{board}/{token}"):
        return True
    return base is not None and hook.url.startswith(f"{base}/hooks/{board}/")


def install(connectors: Mapping[str, Connector], settings: Daemon, url: str | None) -> list[HookRow]:
    """On each board that sends events, exactly one webhook of the daemon's, for the events
    boardsync reads. The board calls the address to verify it while adding it, so the
    daemon must be running and reachable there."""
    token, base = events_token(settings), public_url(settings, url)
    return [row for board, connector in event_boards(connectors).items()
            for row in _install_one(board, connector, token, base)]


def _install_one(board: str, connector: Connector, token: str, base: str) -> list[HookRow]:
    wanted = hook_url(base, board, token)
    events = tuple(connector.EVENTS)
    ours = [h for h in connector.webhooks() if is_ours(h, board, token, base)]
    same = next((h for h in ours if h.url == wanted and set(h.events) == set(events)), None)
    if same is not None:
        rows = [_row(board, same, "kept")]
    else:
        same = _add(board, connector, wanted, events, base)
        log.info("webhook_added", board=board, webhook=same.remote_id, events=list(events))
        rows = [_row(board, same, "added")]
    for stale in (h for h in ours if h.remote_id != same.remote_id):
        connector.remove_webhook(stale.remote_id)
        log.info("webhook_removed", board=board, webhook=stale.remote_id, reason="replaced")
        rows.append(_row(board, stale, "removed"))
    return rows


def _add(board: str, connector: Connector, url: str, events: tuple[str, ...], base: str) -> Webhook:
    try:
        return connector.add_webhook(url, events)
    except Rejected as exc:
        raise BoardsyncError(
            f"{exc}; the board calls {base}/hooks/{board}/… to verify it: the daemon must be running with "
            "this daemon.events_token and reachable at that address"
        ) from exc


def remove(connectors: Mapping[str, Connector], settings: Daemon, url: str | None) -> list[HookRow]:
    """Remove every webhook of the daemon's from each board that sends events."""
    token = events_token(settings)
    base = (url or settings.public_url or "").rstrip("/") or None
    rows = []
    for board, connector in event_boards(connectors).items():
        for hook in connector.webhooks():
            if is_ours(hook, board, token, base):
                connector.remove_webhook(hook.remote_id)
                log.info("webhook_removed", board=board, webhook=hook.remote_id, reason="asked")
                rows.append(_row(board, hook, "removed"))
    return rows


def listed(connectors: Mapping[str, Connector], settings: Daemon, url: str | None) -> list[HookRow]:
    """Every webhook on each board that sends events, the daemon's marked."""
    token = settings.events_token.get_secret_value() if settings.events_token is not None else None
    base = (url or settings.public_url or "").rstrip("/") or None
    return [
        HookRow(board, h.remote_id, h.url, h.events, token is not None and is_ours(h, board, token, base), "listed")
        for board, connector in event_boards(connectors).items() for h in connector.webhooks()
    ]


def _row(board: str, hook: Webhook, done: Done) -> HookRow:
    return HookRow(board, hook.remote_id, hook.url, hook.events, True, done)
