"""Corkboard passes boardsync's connector contract, against a fake board on loopback."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from boardsync.connectors.base import Connector
from boardsync.connectors.transport import make_client
from boardsync.errors import Blocked
from boardsync.testing import JobBoardContract, posting
from boardsync_corkboard import CorkboardConnector, CorkboardSettings
from boardsync_corkboard.fake import FakeCorkboard
from conftest import TOKEN


def connect(url: str, token: str = TOKEN) -> CorkboardConnector:
    return CorkboardConnector(CorkboardSettings(token=SecretStr(token), base_url=url), make_client(url))


class TestCorkboardContract(JobBoardContract):
    @pytest.fixture
    def connector(self, board: tuple[FakeCorkboard, str]) -> Connector:
        return connect(board[1])


def test_a_long_title_is_refused_before_any_call() -> None:
    """The board's limit on titles is a check, so `boardsync validate` reports it."""
    long = posting(boards={"corkboard": {}}, title="x" * 81)
    assert [p.field for p in CorkboardConnector.check(long)] == ["title"]


def test_a_wrong_token_is_blocked_naming_the_setting(board: tuple[FakeCorkboard, str]) -> None:
    """A 401 blocks the board with the setting to fix."""
    with pytest.raises(Blocked, match="providers.corkboard.token"):
        connect(board[1], token="wrong").observe()
