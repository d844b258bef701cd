"""The connector contract, one suite that every connector passes against its sandbox board.

Each subclass supplies a connector wired to the sandbox; the tests run what the planner relies
on: a checked posting renders the same every time, a created object observes as exactly what
was rendered, `find` recovers it, updates and transitions land, and a verb the board does not
support says so instead of pretending."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from boardsync.config.model import Posting
from boardsync.connectors.base import Connector, IssuedLink, Remote, Spec
from boardsync.sandbox.server import Sandbox
from tests import connector_helpers as helpers


def _live(connector: Connector, wanted: Posting) -> Remote:
    return connector.create(wanted, connector.render(wanted), publish=True)


def _observed(connector: Connector, remote_id: str) -> Remote:
    return next(r for r in connector.observe() if r.remote_id == remote_id)


def _shown(connector: Connector, spec: Spec) -> dict[str, Any]:
    """The part of a spec a read of the board shows back."""
    return {name: connector.shown_back(name, value) for name, value in spec.items()}


class ConnectorContract:
    """Tests every connector must pass. Subclasses provide the `connector` fixture."""

    @pytest.fixture
    def connector(self, sandbox: Sandbox) -> Connector:
        raise NotImplementedError

    @pytest.fixture
    def wanted(self, connector: Connector) -> Posting:
        p = helpers.posting()
        connector.prepare([p])
        return p

    # -- every connector

    def test_a_valid_posting_passes_the_check(self, connector: Connector) -> None:
        """The shared test posting is one every board accepts."""
        assert type(connector).check(helpers.posting()) == []

    def test_render_is_the_same_for_an_unchanged_posting(self, connector: Connector, wanted: Posting) -> None:
        """Rendering twice gives equal specs, so an untouched posting never plans a change."""
        assert connector.render(wanted) == connector.render(helpers.posting())

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

    def test_find_recovers_a_created_job(self, connector: Connector, wanted: Posting) -> None:
        """After a create, `find` returns that job, and nothing for a posting never created."""
        created = _live(connector, wanted)
        found = connector.find(wanted, connector.render(wanted))
        assert found is not None and found.remote_id == created.remote_id
        other = helpers.posting(key="someone-else", title="Someone Else")
        connector.prepare([other])
        assert connector.find(other, connector.render(other)) is None

    def test_an_update_sends_the_difference_and_lands(self, connector: Connector, wanted: Posting) -> None:
        """A changed title renders a one-field difference, which update applies on the board."""
        created = _live(connector, wanted)
        changed = helpers.posting(title="Senior Backend Engineer")
        connector.prepare([changed])
        desired = connector.render(changed)
        diff = {k: v for k, v in desired.items()
                if connector.shown_back(k, created.spec.get(k)) != connector.shown_back(k, v)}
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

    def test_a_link_is_fresh_and_opens(self, connector: Connector, wanted: Posting, sandbox: Sandbox) -> None:
        """A signed link expires in the future, and the board's page opens with it."""
        link = connector.link(wanted)
        assert isinstance(link, IssuedLink) and link.expires_at > datetime.now(UTC)
        assert connector.client.get(link.url).status_code == 200


class TestSorceContract(JobBoardContract):
    @pytest.fixture
    def connector(self, sandbox: Sandbox) -> Connector:
        return helpers.sorce(sandbox)


class TestHirempireContract(JobBoardContract):
    @pytest.fixture
    def connector(self, sandbox: Sandbox) -> Connector:
        return helpers.hirempire(sandbox)


class TestRecruitifiContract(LinkBoardContract):
    @pytest.fixture
    def connector(self, sandbox: Sandbox) -> Connector:
        return helpers.recruitifi(sandbox)
