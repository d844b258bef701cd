"""The dashboard: one read-only page of the postings on the boards, drift and what it cost,
visits and applicants per channel, what is coming up and the last runs. The daemon serves it
at ``/``; `boardsync report --html FILE` writes it as one file that works offline.

It reads the state database (and the desired state, for which pairs should exist) through the
same reads as `status`, `drift` and `visits`; it never calls a board and never writes.
"""


from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from boardsync.dashboard.page import ASSETS, Dashboard, asset, gather, render

__all__ = ["ASSETS", "Dashboard", "asset", "gather", "render"]


def __getattr__(name: str) -> Any:
    """The page and its templates load when first used: `status` reads through `reads`
    and needs neither."""
    if name in __all__:
        from boardsync.dashboard import page

        return getattr(page, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
