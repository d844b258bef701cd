"""A fake Corkboard served on loopback for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.register_assert_rewrite("boardsync.testing")

from boardsync.sandbox.core import serve  # noqa: E402
from boardsync_corkboard.fake import FakeCorkboard  # noqa: E402

TOKEN = "corkboard-test-token"


@pytest.fixture
def board() -> Iterator[tuple[FakeCorkboard, str]]:
    """The fake board and its base URL."""
    fake = FakeCorkboard(TOKEN)
    server = serve(fake.app())
    try:
        yield fake, server.url
    finally:
        server.stop()
