"""The daemon's log lines: JSON for machines, a priority prefix only for journald."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = (
    "import logging, structlog; from boardsync import log; log.configure(); "
    "structlog.get_logger('t').warning('board_slow', url='https://x.example/embed?token=abc123'); "
    "structlog.get_logger('t').info('run_finished', summary='ok'); "
    "logging.getLogger('httpx').info('HTTP Request: GET https://x.example')"
)


LAZY = (
    "import logging, sys; from boardsync import log; log.configure(); "
    "log.get_logger('t').debug('below_the_level'); "
    "assert 'structlog' not in sys.modules, 'a dropped line loaded structlog'; "
    "log.get_logger('t').warning('board_slow', url='https://x.example/embed?token=abc123'); "
    "log.get_logger('t').info('run_finished', summary='ok'); "
    "logging.getLogger('httpx').info('HTTP Request: GET https://x.example')"
)
"""The same lines through boardsync's own loggers, with structlog not loaded when `configure`
runs: it is set up at the first line written."""

FOREIGN_FIRST = (
    "import logging; from boardsync import log; log.configure(); "
    "logging.getLogger('uvicorn.error').warning('bad request to /embed?token=abc123'); "
    "log.get_logger('t').warning('board_slow')"
)


def _run(tmp_path: Path, journal: bool, script: str = SCRIPT) -> list[str]:
    out = tmp_path / "out.log"
    with out.open("w") as stdout:
        st = os.fstat(stdout.fileno())
        env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        if journal:
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        subprocess.run([sys.executable, "-c", script], stdout=stdout, env=env, check=True, timeout=30)
    return out.read_text().splitlines()


def test_journal_gets_priority_prefixed_json_lines(tmp_path: Path) -> None:
    """With stdout connected to the journal, each JSON line starts with its syslog priority."""
    lines = _run(tmp_path, journal=True)
    assert [line[:3] for line in lines] == ["<4>", "<6>"]
    assert json.loads(lines[0][3:])["event"] == "board_slow"


def test_a_pipe_gets_plain_json_with_secrets_redacted_and_httpx_quiet(tmp_path: Path) -> None:
    """Not a terminal and not the journal: plain JSON lines, a signed URL's token masked,
    httpx's request lines left out."""
    lines = _run(tmp_path, journal=False)
    events = [json.loads(line) for line in lines]
    assert [e["event"] for e in events] == ["board_slow", "run_finished"]
    assert "abc123" not in lines[0] and "[redacted]" in events[0]["url"]


def test_structlog_is_set_up_at_the_first_line_when_configure_came_before_it(tmp_path: Path) -> None:
    """A process that has not loaded structlog when it configures logging (a command) loads it
    only for a line that is written, and that line and the next are what they would have been:
    JSON, redacted, below the level dropped."""
    lines = _run(tmp_path, journal=False, script=LAZY)
    events = [json.loads(line) for line in lines]
    assert [e["event"] for e in events] == ["board_slow", "run_finished"]
    assert "abc123" not in lines[0] and "[redacted]" in events[0]["url"]
    assert [line[:3] for line in _run(tmp_path, journal=True, script=LAZY)] == ["<4>", "<6>"]


def test_a_standard_library_line_first_goes_through_the_same_formatter(tmp_path: Path) -> None:
    """When the first line comes from another library's logger (uvicorn's), it is still JSON
    and redacted, and boardsync's own lines after it are too."""
    lines = _run(tmp_path, journal=False, script=FOREIGN_FIRST)
    events = [json.loads(line) for line in lines]
    assert [e["event"] for e in events] == ["bad request to /embed?token=[redacted]", "board_slow"]
    assert events[0]["logger"] == "uvicorn.error" and events[1]["level"] == "warning"
