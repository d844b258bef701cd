"""A board view's digest: stable, sensitive to any change, and made job by job."""

from __future__ import annotations

import json
from typing import Any

import pytest

from boardsync.reconcile import views


def _view(jobs: int) -> dict[str, Any]:
    return {
        "format": views.FORMAT, "gone": [], "unread": {}, "suspect": None, "learned": {},
        "jobs": [{"id": f"job_{i}", "status": "active", "spec": {"title": f"Engineer {i}", "salary": i}}
                 for i in range(jobs)],
    }


def test_the_digest_follows_the_content_not_the_key_order() -> None:
    view = _view(3)
    shuffled = dict(reversed(list(view.items())))
    assert views.digest(view) == views.digest(shuffled)
    changed = _view(3)
    changed["jobs"][1]["spec"]["salary"] = 99
    assert views.digest(changed) != views.digest(view)
    assert views.digest(_view(2)) != views.digest(view)


def test_no_string_of_the_whole_board_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each job is encoded on its own: the longest text encoded is one job's, however many."""
    lengths: list[int] = []
    dumps = json.dumps

    def measured(value: Any, **kw: Any) -> str:
        text = dumps(value, **kw)
        lengths.append(len(text))
        return text

    monkeypatch.setattr(views.json, "dumps", measured)
    views.digest(_view(500))
    one_job = len(dumps(_view(1)["jobs"][0], sort_keys=True, separators=(",", ":")))
    assert lengths and max(lengths) <= one_job + 10
