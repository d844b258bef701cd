"""The connector contract (`boardsync.testing`) run against each of our boards' sandbox.

The suite itself lives in the package, so a board from another package runs exactly these
tests; here each of our boards gives it a connector wired to its simulator and the posting's
``boards:`` values it needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from boardsync.connectors.base import Connector
from boardsync.sandbox.server import Sandbox
from boardsync.testing import JobBoardContract, LinkBoardContract
from tests import connector_helpers as helpers


class TestSorceContract(JobBoardContract):
    @pytest.fixture
    def connector(self, sandbox: Sandbox) -> Connector:
        return helpers.sorce(sandbox)

    @pytest.fixture
    def sections(self) -> Mapping[str, Any]:
        return {"sorce": helpers.BOARDS["sorce"]}


class TestHirempireContract(JobBoardContract):
    @pytest.fixture
    def connector(self, sandbox: Sandbox) -> Connector:
        return helpers.hirempire(sandbox)

    @pytest.fixture
    def sections(self) -> Mapping[str, Any]:
        return {"hirempire": helpers.BOARDS["hirempire"]}


class TestRecruitifiContract(LinkBoardContract):
    @pytest.fixture
    def connector(self, sandbox: Sandbox) -> Connector:
        return helpers.recruitifi(sandbox)
