"""A first sync under the boards' real rate limits, against the fastest it could be.

    python benchmarks/first_sync_limits.py [--postings 90]

Starts the sandbox with the documented limits (Sorce 60 requests a minute; Hirempire on its
Premium plan, 5,000 an hour; RecruitiFi 10 a second) and no added latency, writes N postings
on all three boards, and runs one first `boardsync reconcile` with boardsync's client-side
limits set to the same numbers. The lower bound is what the slowest board's limit alone
allows: R requests in a window of L per W seconds cannot all have started before
floor((R - 1) / L) x W seconds. With the boards worked at once, the wall time should come near
the largest of those, not their sum. Prints requests per board, each board's bound, the wall
time and the ratio.

Then a second `boardsync reconcile` starts the moment the first one ends, with every other
posting changed, so that it has Sorce writes to make while Sorce's window still holds the
first run's requests: a new process, which knows of them only through the state database.
Prints how long it took and the 429s the boards answered during both runs (from the
boards' own counts): there should be none.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ruamel.yaml import YAML

sys.path.insert(0, str(Path(__file__).parent))
from reconcile_bench import BOARDS, bound_seconds, run_cycle, sandbox_process, write_repository  # noqa: E402

LIMITS = {"sorce": (60, 60.0), "hirempire": (5_000, 3_600.0), "recruitifi": (10, 1.0)}
"""board → (requests, per seconds): the documented limits (Hirempire's Premium plan)."""
CHANGED_EVERY = 2
"""One posting in this many is edited before the back-to-back run: enough Sorce writes that the
first run's requests still in the window would leave too little room for them."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=90)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="boardsync-limits-") as scratch, \
            open(Path(scratch) / "bench.log", "w") as log, sandbox_process(log) as sandbox:
        sandbox.control("sorce", "POST", "rate-limit", {"per_minute": LIMITS["sorce"][0]})
        sandbox.control("hirempire", "POST", "limits",
                        {"requests_per_hour": LIMITS["hirempire"][0], "active_jobs": args.postings + 1})
        sandbox.control("recruitifi", "POST", "limits", {"requests_per_second": LIMITS["recruitifi"][0]})
        config = write_repository(Path(scratch), args.postings, sandbox)
        yaml = YAML()
        root = yaml.load(config.read_text())
        root["providers"]["sorce"]["requests_per_minute"] = LIMITS["sorce"][0]
        root["providers"]["hirempire"]["requests_per_hour"] = LIMITS["hirempire"][0]
        root["providers"]["recruitifi"]["requests_per_second"] = LIMITS["recruitifi"][0]
        with config.open("w") as out:
            yaml.dump(root, out)
        cycle = run_cycle("first sync", args.postings, config, sandbox, 0, log)
        for path in sorted((Path(scratch) / "postings").glob("*.yaml"))[::CHANGED_EVERY]:
            path.write_text(path.read_text().replace("Builds and runs services.", "Builds and runs services well."))
        again = run_cycle("back to back", args.postings, config, sandbox, 0, log)
    print(f"first sync of {args.postings} postings under the boards' real limits (exit {cycle.exit_code}):")
    bounds = {}
    for board in BOARDS:
        made = cycle.requests[board].total
        bounds[board] = bound_seconds(made, *LIMITS[board])
        limit, per = LIMITS[board]
        print(f"  {board:<10} {made:>5} requests, {limit} per {per:g} s: at least {bounds[board]:.0f} s")
    lower = max(bounds.values())
    print(f"  wall time {cycle.wall_s:.1f} s; the slowest board's bound {lower:.0f} s; "
          f"ratio {cycle.wall_s / lower:.2f}" if lower else f"  wall time {cycle.wall_s:.1f} s")
    print(f"  sum of the bounds (boards one after another): {sum(bounds.values()):.0f} s")
    print(f"  boardsync's own CPU time: {cycle.cpu_s:.1f} s, start-up included")
    print(f"  429s the boards answered: {cycle.refused}")
    print(f"a second reconcile right after it, {len(range(0, args.postings, CHANGED_EVERY))} postings changed "
          f"(exit {again.exit_code}):")
    print("  " + ", ".join(f"{board} {again.requests[board]}" for board in BOARDS) + " (reads/writes)")
    print(f"  wall time {again.wall_s:.1f} s; 429s the boards answered: {again.refused}")
    return 0 if cycle.exit_code == 0 and again.exit_code == 0 and not cycle.refused + again.refused else 1


if __name__ == "__main__":
    raise SystemExit(main())
