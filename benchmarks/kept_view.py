"""What keeping a board's view costs a run: each job masked and encoded.

    python benchmarks/kept_view.py [--jobs 10000]

A run that changed anything on a board keeps the board's view again (what a snapshot plans
against): every job's id, status, spec and channels, with every secret masked as the state
database masks what it stores. This builds `--jobs` jobs shaped as each board's connector reads
them back (a Sorce job with a location and a qualification; a Hirempire job with a UUID and
two tracked channels), registers four secrets as a run does (a Sorce key, a Hirempire token,
a RecruitiFi client secret with symbols, a signed link's token), and times `views.view_text`
of each board: best of five, CPU time.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from boardsync.connectors.base import Channel, Remote
from boardsync.log import register_secret
from boardsync.reconcile import views
from boardsync.reconcile.model import Board

DESCRIPTION = ("Builds and runs the services our customers rely on, with a small team that owns "
               "what it ships. You will work across the stack, review code and mentor others. ") * 2


def sorce_job(i: int) -> Remote:
    spec: dict[str, Any] = {
        "title": f"Backend Engineer {i}", "description": DESCRIPTION, "remoteOption": "ONSITE",
        "remoteCountry": None, "jobType": "FULL_TIME", "jobLevel": "MID", "salaryMin": 90000 + i,
        "salaryMax": 120000 + i, "salaryPeriod": "YEAR", "bidPerQualifiedApplicantCents": 500,
        "locations": [{"city": "Denver", "stateProvince": "CO", "country": "US"}],
        "qualifications": [{"text": "Three years of building services", "order": 0}],
        "questions": [], "budgets": [],
    }
    return Remote(f"job_{i:016x}", "active", spec, posting_key=None)


def hirempire_job(i: int) -> Remote:
    spec: dict[str, Any] = {
        "job_title": f"Backend Engineer {i}", "job_description": DESCRIPTION, "department": "Engineering",
        "job_country": "United States", "city": "Denver", "salary": 100000 + i, "currency": "USD",
        "salary_period": "Yearly", "hide_salary": False, "job_type": "Full-time", "workplace": "On-site",
        "career_level": "Mid-level", "industry": None, "public_slug": f"bs-bench-{i:05d}",
    }
    channels = {name: Channel(name, str(uuid.UUID(int=i * 2 + n)), "")
                for n, name in enumerate(("careers", "linkedin"))}
    return Remote(str(uuid.UUID(int=i)), "active", spec, channels=channels, posting_key=f"bench-{i:05d}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args(argv)
    register_secret("sk_ext_9f8e7d6c5b4a39281706", "hm_tok_5d41402abc4b2a76b971", 'rf-cl!ent$ecret"42',
                    "lnk_tok_0123456789abcdefABCDEF")
    for name, make in (("sorce", sorce_job), ("hirempire", hirempire_job)):
        remotes = [make(i) for i in range(args.jobs)]
        board = Board(name, SimpleNamespace(learned=dict),  # type: ignore[arg-type]
                      remotes={r.remote_id: r for r in remotes})
        best = float("inf")
        for _ in range(5):
            started = time.process_time()
            text = views.view_text(board)
            best = min(best, time.process_time() - started)
        print(f"{name:10s} {args.jobs:,} jobs: {best * 1000:.0f} ms to keep the view "
              f"({best * 1e6 / args.jobs:.1f} µs a job, {len(text) / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
