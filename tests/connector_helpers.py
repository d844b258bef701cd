"""What the connector tests share: postings, a fake clock, and connectors wired to the sandbox.

The posting and the clock are `boardsync.testing`'s, which boards of other packages use too.

Every connector built here waits on a `FakeClock` tied to the sandbox's clock: a rate-limit
wait or a retry backoff moves the simulated time forward instead of sleeping, so the boards'
own sliding windows see exactly the time the connector believes has passed.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from boardsync import testing
from boardsync.config.model import Posting
from boardsync.connectors.hirempire import HirempireConnector, HirempireSettings
from boardsync.connectors.http import RateLimiter, RetryPolicy
from boardsync.connectors.transport import make_client
from boardsync.connectors.recruitifi import RecruitifiConnector, RecruitifiSettings
from boardsync.connectors.sorce import SorceConnector, SorceSettings
from boardsync.sandbox import hirempire as hirempire_sim
from boardsync.sandbox import recruitifi as recruitifi_sim
from boardsync.testing import FakeClock
from boardsync.sandbox.server import Sandbox, sorce_key


BOARDS = {
    "sorce": {"bid_cents": 2_500, "budgets": [{"window": "monthly", "cents": 500_000}]},
    "hirempire": {"industry": "Software"},
    "recruitifi": {},
}
"""The shared posting's ``boards:``: all three, with what Sorce needs to publish."""


def posting(key: str = "backend-engineer", **overrides: Any) -> Posting:
    """The contract's posting (an on-site job in New York that every board accepts and Sorce
    can publish), naming all three boards unless `boards` is given."""
    return testing.posting(key, **{"boards": BOARDS, **overrides})


def retry_policy(clock: FakeClock, **kw: Any) -> RetryPolicy:
    return RetryPolicy(sleep=clock.sleep, clock=clock, **kw)


def sorce(sandbox: Sandbox, clock: FakeClock | None = None, *, key: str | None = None, **kw: Any) -> SorceConnector:
    clock = clock or FakeClock(sandbox.clock)
    settings = SorceSettings(api_key=SecretStr(key or sorce_key()), base_url=sandbox.sorce_url)
    return SorceConnector(
        settings,
        make_client(settings.base_url),
        limiter=kw.pop("limiter", None) or RateLimiter(60, 60.0, clock=clock, sleep=clock.sleep),
        retry=kw.pop("retry", None) or retry_policy(clock),
    )


def hirempire(sandbox: Sandbox, clock: FakeClock | None = None, *, token: str | None = None) -> HirempireConnector:
    clock = clock or FakeClock(sandbox.clock)
    settings = HirempireSettings(
        token=SecretStr(token or hirempire_sim.SANDBOX_TOKEN),
        company_id=hirempire_sim.SANDBOX_COMPANY_ID,
        base_url=sandbox.hirempire_url,
        requests_per_hour=1000,
    )
    return HirempireConnector(
        settings,
        make_client(settings.base_url),
        limiter=RateLimiter(1000, 3600.0, clock=clock, sleep=clock.sleep),
        retry=retry_policy(clock),
    )


def recruitifi(
    sandbox: Sandbox, clock: FakeClock | None = None, *, secret: str | None = None, client: str | None = None
) -> RecruitifiConnector:
    clock = clock or FakeClock(sandbox.clock)
    settings = RecruitifiSettings(
        client_id=recruitifi_sim.SANDBOX_CLIENT_ID,
        client_secret=SecretStr(secret or recruitifi_sim.SANDBOX_CLIENT_SECRET),
        connector_id=recruitifi_sim.SANDBOX_CONNECTOR,
        client=client or recruitifi_sim.SANDBOX_CLIENT,
        user=recruitifi_sim.SANDBOX_USER,
        base_url=sandbox.recruitifi_url,
    )
    return RecruitifiConnector(
        settings,
        make_client(settings.base_url),
        limiter=RateLimiter(10, 1.0, clock=clock, sleep=clock.sleep),
        retry=retry_policy(clock),
        clock=clock,
    )
