"""The connector contract: one pytest suite that every board's connector passes.

boardsync's own boards run it against their sandbox boards; a board from another package
runs the same tests against its own fake or sandbox board. Subclass the suite for what the
board does and give it a `connector` fixture, a connector wired to that board::

    import pytest
    from boardsync.testing import FakeClock, JobBoardContract

    class TestAcmeContract(JobBoardContract):
        @pytest.fixture
        def connector(self, acme_board):          # your fake board, served on loopback
            return AcmeConnector(AcmeSettings(base_url=acme_board.url, ...), httpx.Client(...))

        @pytest.fixture
        def sections(self):                       # the posting's boards: values, if any
            return {"acme": {"team": "platform"}}

`ConnectorContract` holds what every board must do; `JobBoardContract` adds what a board
with jobs (``SUPPORTS_JOBS``) must do, `LinkBoardContract` a board of signed links
(``SUPPORTS_LINKS``). The test posting (`posting`) is one every board should accept: an
on-site, salaried, full-time job in New York with qualifications, a question and channels.
Its board must be registered (an installed ``boardsync.boards`` entry point), since a
posting can name only a known board.

This module needs pytest; call ``pytest.register_assert_rewrite("boardsync.testing")`` in
your conftest.py before importing it for pytest's detailed assertion messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import pytest

from boardsync.config.model import Posting
from boardsync.connectors.base import Connector, IssuedLink, Remote, Spec


class Advancing(Protocol):
    """A clock that another clock's sleeps move forward (a sandbox's simulated clock)."""

    def advance(self, seconds: float) -> Any: ...


class FakeClock:
    """Seconds that pass only when something sleeps; optionally moving a board's clock too.
    Give it to a connector's rate limiter and retry policy (`clock`, `sleep`), so a wait
    moves time instead of taking it."""

    def __init__(self, linked: Advancing | None = None) -> None:
        self.linked = linked
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        if self.linked is not None:
            self.linked.advance(seconds)


def posting(key: str = "backend-engineer", *, boards: Mapping[str, Any], **overrides: Any) -> Posting:
    """The contract's posting, naming `boards` (name → that board's ``boards:`` values), with
    any field replaced by `overrides`."""
    data: dict[str, Any] = {
        "key": key,
        "title": "Backend Engineer",
        "description": "Build the APIs our customers rely on.\n",
        "status": "active",
        "workplace": "on_site",
        "locations": [{"city": "New York", "state": "New York", "country": "United States"}],
        "employment_type": "full_time",
        "level": "mid",
        "department": "Engineering",
        "salary": {"min": 120_000, "max": 150_000, "period": "year", "currency": "USD"},
        "qualifications": [
            {"text": "Three years of Python", "kind": "required"},
            {"text": "Has run PostgreSQL in production", "kind": "preferred"},
        ],
        "questions": [{"prompt": "Can you work in New York?", "options": ["Yes", "No"]}],
        "channels": ["linkedin", "newsletter"],
        "boards": dict(boards),
    }
    data.update(overrides)
    return Posting.model_validate(data)


MakePosting = Callable[..., Posting]
"""``make_posting(key="backend-engineer", **overrides)``: the contract's posting for this board."""


def _live(connector: Connector, wanted: Posting) -> Remote:
    return connector.create(wanted, connector.render(wanted), publish=True)


def _observed(connector: Connector, remote_id: str) -> Remote:
    return next(r for r in connector.observe() if r.remote_id == remote_id)


def _shown(connector: Connector, spec: Spec) -> dict[str, Any]:
    """The part of a spec a read of the board shows back."""
    return {name: connector.shown_back(name, value) for name, value in spec.items()}


class ConnectorContract:
    """Tests every connector must pass. A subclass provides the `connector` fixture, and
    `sections` when its board's ``boards:`` entry needs values."""

    @pytest.fixture
    def connector(self) -> Connector:
        raise NotImplementedError("give the contract a `connector` fixture wired to your board")

    @pytest.fixture
    def sections(self, connector: Connector) -> Mapping[str, Any]:
        """The test posting's ``boards:``: this board, with no values of its own."""
        return {connector.name: {}}

    @pytest.fixture
    def make_posting(self, sections: Mapping[str, Any]) -> MakePosting:
        def make(key: str = "backend-engineer", **overrides: Any) -> Posting:
            return posting(key, boards=sections, **overrides)

        return make

    @pytest.fixture
    def wanted(self, connector: Connector, make_posting: MakePosting) -> Posting:
        p = make_posting()
        connector.prepare([p])
        return p

    # -- every connector

    def test_the_board_is_registered_under_its_name(self, connector: Connector) -> None:
        """The connector's board is the one its name finds among the installed boards."""
        from boardsync.connectors import REGISTRY

        assert REGISTRY.get(connector.name) is type(connector)

    def test_a_valid_posting_passes_the_check(self, connector: Connector, make_posting: MakePosting) -> None:
        """The contract's posting is one the board accepts."""
        assert type(connector).check(make_posting()) == []

    def test_render_is_the_same_for_an_unchanged_posting(
        self, connector: Connector, wanted: Posting, make_posting: MakePosting
    ) -> None:
        """Rendering twice gives equal specs, so an untouched posting never plans a change."""
        assert connector.render(wanted) == connector.render(make_posting())

    def test_capabilities_match_what_the_verbs_do(self, connector: Connector, wanted: Posting) -> None:
        """A verb without its capability raises NotImplementedError instead of pretending."""
        if not connector.SUPPORTS_JOBS:
            with pytest.raises(NotImplementedError):
                connector.observe()
            with pytest.raises(NotImplementedError):
                connector.create(wanted, connector.render(wanted), publish=True)
        if not connector.SUPPORTS_LINKS:
            with pytest.raises(NotImplementedError):
                connector.link(wanted)
        if not connector.SUPPORTS_CHANNELS:
            dummy = Remote("x", "active", {})
            with pytest.raises(NotImplementedError):
                connector.ensure_source(dummy, "linkedin")


class JobBoardContract(ConnectorContract):
    """What a board with jobs (SUPPORTS_JOBS) must also do."""

    def test_the_board_declares_jobs(self, connector: Connector) -> None:
        """This suite runs only for a connector that says it holds jobs."""
        assert connector.SUPPORTS_JOBS

    def test_a_created_job_observes_as_its_render(self, connector: Connector, wanted: Posting) -> None:
        """Create, then observe: the same spec in all the board shows back, live, and nothing
        to plan."""
        created = _live(connector, wanted)
        observed = _observed(connector, created.remote_id)
        assert _shown(connector, observed.spec) == _shown(connector, connector.render(wanted))
        assert _shown(connector, created.spec) == _shown(connector, observed.spec)
        assert observed.status == "active" and connector.lifecycle("active", observed.status) == []

    def test_find_recovers_a_created_job(
        self, connector: Connector, wanted: Posting, make_posting: MakePosting
    ) -> None:
        """After a create, `find` returns that job, and nothing for a posting never created."""
        created = _live(connector, wanted)
        found = connector.find(wanted, connector.render(wanted))
        assert found is not None and found.remote_id == created.remote_id
        other = make_posting(key="someone-else", title="Someone Else")
        connector.prepare([other])
        assert connector.find(other, connector.render(other)) is None

    def test_an_update_sends_the_difference_and_lands(
        self, connector: Connector, wanted: Posting, make_posting: MakePosting
    ) -> None:
        """A changed title renders a one-field difference, which update applies on the board."""
        created = _live(connector, wanted)
        changed = make_posting(title="Senior Backend Engineer")
        connector.prepare([changed])
        desired = connector.render(changed)
        diff = {
            k: v for k, v in desired.items()
            if connector.shown_back(k, created.spec.get(k)) != connector.shown_back(k, v)
        }
        assert len(diff) == 1
        connector.update(created, diff)
        assert _shown(connector, _observed(connector, created.remote_id).spec) == _shown(connector, desired)

    def test_lifecycle_transitions_reach_the_desired_status(self, connector: Connector, wanted: Posting) -> None:
        """Draft → paused → active → closed, each by the transitions `lifecycle` plans."""
        remote = connector.create(wanted, connector.render(wanted), publish=False)
        assert remote.status == "draft"
        for desired in ("paused", "active", "closed"):
            for action in connector.lifecycle(desired, remote.status):
                remote = connector.transition(remote, action)
            assert _observed(connector, remote.remote_id).status == desired


class LinkBoardContract(ConnectorContract):
    """What a board reached through signed links (SUPPORTS_LINKS) must also do."""

    def test_the_board_declares_links(self, connector: Connector) -> None:
        """This suite runs only for a connector that says it gives links."""
        assert connector.SUPPORTS_LINKS

    def test_a_link_is_fresh_and_opens(self, connector: Connector, wanted: Posting) -> None:
        """A signed link expires in the future, and the board's page opens with it."""
        link = connector.link(wanted)
        assert isinstance(link, IssuedLink) and link.expires_at > datetime.now(UTC)
        assert connector.client.get(link.url).status_code == 200


__all__ = ["ConnectorContract", "FakeClock", "JobBoardContract", "LinkBoardContract", "MakePosting", "posting"]
