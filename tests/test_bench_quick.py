"""The reconcile benchmark keeps working: its quick mode (N=100, 20 ms a request) runs as a
user runs it and holds the steady state to DESIGN section 9."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "reconcile_bench.py"


@pytest.mark.slow
@pytest.mark.timeout(150)  # a guard against a hang, not a speed check: speed is the table's job
def test_quick_benchmark_meets_the_steady_state_budget_and_prints_its_table() -> None:
    """`reconcile_bench.py --quick` exits 0 with one row per cycle: the first sync writes each
    posting once per board and asks RecruitiFi for a token and one link (which stands for every
    posting's), each cycle after it reads 1 Sorce page and 1 Hirempire list, and asks
    RecruitiFi for one token (which proves its secret still works) and no link; then the
    steady state against a naive poller, and the first sync's requests with no 429. With
    `--repeat 2` the steady state runs twice, each checked, and the notes give both CPU times."""
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--repeat", "2"], capture_output=True, text=True, timeout=140,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    cycles, scale, first = done.stdout.split("\n\n")[:3]  # the tables, one paragraph each
    rows = {line.split()[1] + " " + line.split()[2]: line.split() for line in cycles.splitlines()
            if line.startswith("100 ")}
    assert rows["first sync"][3:6] == ["1/100", "1/100", "2/0"]
    assert rows["next cycle"][3:6] == ["1/0", "1/0", "1/0"]  # RecruitiFi: the token request only
    assert rows["steady state"][3:6] == ["1/0", "1/0", "1/0"]
    (steady,) = [line.split() for line in scale.splitlines() if line.startswith("100 ")]
    assert steady[1:6] == ["1", "1", "1", "300", "100x"]  # 3 requests against a naive poller's 300
    (sync,) = [line.split() for line in first.splitlines() if line.startswith("100 ")]
    assert sync[3] == "204" and sync[-1] == "0"  # requests, and no 429
    (repeated,) = [line for line in done.stdout.splitlines() if line.startswith("N=100: 2 steady cycles, CPU s ")]
    assert len(repeated.split("CPU s ")[1].split(";")[0].split(", ")) == 2


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_counter_history_benchmark_runs_and_prints_a_row_a_depth() -> None:
    """`counter_history.py` exits 0 with a row for each history depth asked for, its samples
    counted as it made them (three counters a posting)."""
    done = subprocess.run(
        [sys.executable, str(BENCH.parent / "counter_history.py"), "--postings", "200", "--depths", "1,4",
         "--runs", "1"],
        capture_output=True, text=True, timeout=110, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout[done.stdout.index("samples a counter"):].splitlines()
    assert [row.split()[:2] for row in table[2:]] == [["1", "600"], ["4", "2,400"]]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_expiry_notices_benchmark_runs_and_prints_its_figure() -> None:
    """`expiry_notices.py` exits 0 and says what it measured."""
    done = subprocess.run(
        [sys.executable, str(BENCH.parent / "expiry_notices.py"), "--postings", "300", "--months", "2",
         "--within", "100"],
        capture_output=True, text=True, timeout=110, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^600 expiry notices kept, 100 jobs within the window: \d+ ms a run$", done.stdout, re.M)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_kept_view_benchmark_runs_and_prints_a_line_a_board() -> None:
    """`kept_view.py` exits 0 with its figure for each board."""
    done = subprocess.run(
        [sys.executable, str(BENCH.parent / "kept_view.py"), "--jobs", "200"],
        capture_output=True, text=True, timeout=110, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    boards = re.findall(r"^(\w+) +200 jobs: \d+ ms to keep the view", done.stdout, re.M)
    assert boards == ["sorce", "hirempire"]
