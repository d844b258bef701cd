"""What the connector tests share: postings, a fake clock, and connectors wired to the sandbox.

Every connector built here waits on a `FakeClock` tied to the sandbox's clock: a rate-limit
wait or a retry backoff moves the simulated time forward instead of sleeping, so the boards'
own sliding windows see exactly the time the connector believes has passed.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from boardsync.config.model import Posting
from boardsync.connectors.hirempire import HirempireConnector, HirempireSettings
from boardsync.connectors.http import RateLimiter, RetryPolicy, make_client
from boardsync.connectors.recruitifi import RecruitifiConnector, RecruitifiSettings
from boardsync.connectors.sorce import SorceConnector, SorceSettings
from boardsync.sandbox import hirempire as hirempire_sim
from boardsync.sandbox import recruitifi as recruitifi_sim
from boardsync.sandbox.core import Clock
from boardsync.sandbox.server import Sandbox, sorce_key


class FakeClock:
    """Seconds that pass only when something sleeps; optionally moving a sandbox clock too."""

    def __init__(self, linked: Clock | None = None) -> None:
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


def posting(key: str = "backend-engineer", **overrides: Any) -> Posting:
    """A posting every board accepts and Sorce can publish: an on-site job in New York."""
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
        "boards": {
            "sorce": {"bid_cents": 2_500, "budgets": [{"window": "monthly", "cents": 500_000}]},
            "hirempire": {"industry": "Software"},
            "recruitifi": {},
        },
    }
    data.update(overrides)
    return Posting.model_validate(data)


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
